namespace DataMesh.Pipelines.Sinks;

/// <summary>
/// Where a pipeline's records go: a Kafka topic, a database table, a file. The runtime hands a sink batches of
/// transformed records; a sink writes each batch and returns only when every record of it is durable, because the
/// source offsets of the batch are committed after that.
/// </summary>
/// <remarks>
/// <para>
/// <b>Order and concurrency.</b> Records of one source partition arrive in order, in one batch after another, and the
/// runtime, by default, never calls <see cref="WriteAsync"/> for a partition's next batch before the previous one returned. Batches of
/// different partitions may be written concurrently (one per pipeline worker), so a sink must be thread-safe. A sink
/// whose <see cref="MaxBatchesInFlight"/> is above 1 is also given a partition's next batches before the earlier ones
/// returned, and must write them in the order of the calls.
/// </para>
/// <para>
/// <b>Errors.</b> A record that the sink refuses on its own merits (a value that does not fit a column, a missing key)
/// is reported with <see cref="SinkBatch.Reject"/>; the runtime dead-letters it or stops, as the pipeline is set. An
/// exception from <see cref="WriteAsync"/> fails the whole batch: the runtime retries it with backoff (so a sink must be
/// idempotent: writing a batch again converges to the same result) and stops the pipeline when retries run out, without
/// committing the batch's offsets.
/// </para>
/// </remarks>
public abstract class PipelineSink : IAsyncDisposable
{
    /// <summary>The sink's name in logs, metrics and the <c>dm.dlq.stage</c> header of records it rejects.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// How many batches of one worker the sink may be writing at once; 1 by default: the next batch of a partition is
    /// handed over only when the previous one is durable. A sink that keeps the order in which batches are handed to it
    /// even while earlier ones are still in flight (as a Kafka producer does) may allow more, to overlap round trips.
    /// </summary>
    public virtual int MaxBatchesInFlight => 1;

    /// <summary>Called once before the first batch: connect, check or create what the sink needs.</summary>
    /// <param name="context">The pipeline's name, schema store, Kafka connection and logging.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A task that completes when the sink is ready.</returns>
    public virtual ValueTask StartAsync(SinkContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Writes one batch, in order, and returns when every record that was not rejected is durable.</summary>
    /// <param name="batch">The records; their bytes are valid only until the returned task completes.</param>
    /// <param name="cancellationToken">Cancelled when the pipeline stops without draining.</param>
    /// <returns>A task that completes when the batch is durable.</returns>
    public abstract ValueTask WriteAsync(SinkBatch batch, CancellationToken cancellationToken);

    /// <summary>Releases connections and files; the runtime calls it once after the last batch.</summary>
    /// <returns>A task that completes when the sink is closed.</returns>
    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
