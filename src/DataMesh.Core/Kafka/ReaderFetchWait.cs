namespace DataMesh.Kafka;

/// <summary>
/// <c>fetch.wait.max.ms</c> of DataMesh's consumers: how long a fetch at the end of a partition may wait for new records
/// before the broker answers it empty. DataMesh's own readers set it over the user's client settings (they depend on it);
/// other consumers on the embedded cluster get <see cref="EmbeddedConsumer"/> before them.
/// </summary>
/// <remarks>
/// <para>A watermark query (or any other request) on the connection that carries such a fetch waits behind it: brokers
/// answer one connection's requests in order, so a read that asks for the end after reading waits out the whole fetch
/// wait. librdkafka's mock (the embedded cluster) also answers a parked fetch only when its wait is over, not when a
/// record arrives as a broker does, so on it a record written just after the fetch was sent is read up to the whole wait
/// later: each schema registration waited about 17 ms for its own record with 20 ms.</para>
/// <para>Hence <see cref="Short"/> for the reads of a topic to its end (<c>TopicReader</c>: positions, fencing epochs,
/// MySQL's schema history, the controller's store; short-lived clients) everywhere, and for the schema store's reader on
/// the embedded cluster; the store's long-lived reader keeps <see cref="Idle"/> on a real cluster, where the wait bounds
/// its idle fetches (an idle store on the embedded cluster takes about 13 ms of CPU per second with 5 ms, 5 with 20,
/// measured on 2 cores).</para>
/// </remarks>
internal static class ReaderFetchWait
{
    /// <summary>5 ms: reads to a topic's end, and the schema store's reader on the embedded cluster.</summary>
    public const int Short = 5;

    /// <summary>20 ms: the schema store's long-lived reader on a real cluster.</summary>
    public const int Idle = 20;

    /// <summary>10 ms: the consumers of <c>KafkaConnection.CreateConsumerConfig</c> on the embedded cluster (pipelines'),
    /// before the user's settings: with librdkafka's 500 ms a record produced to a caught-up consumer arrived about 460 ms
    /// later on it, with 10 ms about 12 ms later (one consumer, a record every 37 ms, 30 records). An idle consumer then
    /// takes about 7 ms of CPU per second instead of about 1 (measured on 2 cores).</summary>
    public const int EmbeddedConsumer = 10;

    /// <summary>The schema store reader's wait.</summary>
    /// <param name="embedded">Whether the store runs on the embedded cluster.</param>
    public static int SchemaStore(bool embedded) => embedded ? Short : Idle;
}
