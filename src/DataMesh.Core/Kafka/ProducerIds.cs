using Confluent.Kafka;

namespace DataMesh.Kafka;

/// <summary>Gets a new idempotent producer its producer id as soon as it is connected.</summary>
/// <remarks>
/// librdkafka asks for an idempotent producer's id when a metadata response arrives while a broker connection is up, and
/// otherwise every 500 ms. When the producer's first metadata response comes over its bootstrap connection, before its
/// connection to the broker itself is up, the id waits for that timer, and every record with it: in the <c>firstack</c>
/// benchmark 17 of 30 new producers on the embedded cluster had their first acknowledgement after 0.5 or 1 s. Two metadata
/// requests of the producer's own for a topic it writes, at once and 100 ms later, each answered over a connection that is
/// up, brought all 30 to 53–115 ms (docs/benchmarks.md, "Idempotent producers' first acknowledgement").
/// </remarks>
internal static class ProducerIds
{
    /// <summary>Asks for <paramref name="topic"/>'s metadata through <paramref name="producer"/> now and 100 ms later, on a
    /// thread of its own; never fails (a producer disposed meanwhile or a cluster that does not answer leaves the id to
    /// librdkafka's own retry).</summary>
    /// <param name="producer">The producer, just built (or about to send its first record).</param>
    /// <param name="topic">A topic the producer writes to (where the brokers create topics on demand, asking for its metadata
    /// may create it, as the producer's first record would).</param>
    /// <param name="timeout">How long each request may wait for an answer.</param>
    public static void RequestEarly(IClient producer, string topic, TimeSpan timeout)
    {
        _ = Task.Factory.StartNew(
            () =>
            {
                try
                {
                    // A dependent admin client shares the producer's connections; a metadata response on a connection that
                    // is up is what makes librdkafka ask for the producer id.
                    using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
                    admin.GetMetadata(topic, timeout);
                    Thread.Sleep(100);
                    admin.GetMetadata(topic, timeout);
                }
                catch (Exception ex) when (ex is KafkaException or ObjectDisposedException or InvalidOperationException or ArgumentException)
                {
                    // Disposed meanwhile, or no answer: the id comes with librdkafka's own retry.
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }
}
