using DataMesh.Events;

namespace DataMesh.Sources;

/// <summary>
/// A source connector: the part of a source that knows its database. It reads the log from a position, describes its
/// tables and hands each change to the <see cref="SourceContext{TPosition}"/>; the source runtime does everything else
/// (see <c>docs/sources.md</c>): the envelope, keys and partitions, schemas and topics, acknowledgement-gated positions,
/// retries with jittered backoff, the graceful stop, bounded memory while Kafka is away, the stall watchdog, health and
/// metrics.
/// </summary>
/// <remarks>
/// <para>The runtime calls <see cref="RunAsync"/> once per attempt. A run reads until its token is cancelled (a stop: it
/// then returns or throws <see cref="OperationCanceledException"/>) or until an error: it throws, and the runtime retries
/// a transient error (see <see cref="IsTransient"/>) from the last position Kafka acknowledged, with a new context, or
/// stops the source on any other error.</para>
/// <para>Positions: a connector marks a position with <see cref="SourceContext{TPosition}.Checkpoint"/> after the changes
/// before it (a transaction's end). The runtime stores it (serialised by <see cref="FormatPosition"/>) only once Kafka
/// acknowledged everything before it, then calls <see cref="OnPositionStoredAsync"/> (e.g. to confirm it to a replication
/// slot). A restart passes the stored position to <see cref="RunAsync"/>; repeats after it are allowed, gaps never.</para>
/// </remarks>
/// <typeparam name="TPosition">The connector's position: an immutable object.</typeparam>
public abstract class SourceConnector<TPosition> : IAsyncDisposable
    where TPosition : class
{
    /// <summary>The connector kind for <c>source.connector</c> and the metrics, e.g. <c>postgresql</c>; a valid Avro name.</summary>
    public abstract string Kind { get; }

    /// <summary>The connector's own fields of the envelope's <c>source</c> block, after the common ones.</summary>
    public abstract IReadOnlyList<SourceField> PositionFields { get; }

    /// <summary>Reads the log from <paramref name="start"/> (null: no stored position, the connector decides where to
    /// begin) and hands changes to <paramref name="context"/> until cancelled or failed.</summary>
    /// <param name="context">This run's context.</param>
    /// <param name="start">Where to resume: the last position whose changes Kafka acknowledged, or null.</param>
    /// <param name="cancellationToken">Cancelled on stop.</param>
    public abstract Task RunAsync(SourceContext<TPosition> context, TPosition? start, CancellationToken cancellationToken);

    /// <summary>Serialises a position for the position store (JSON text by convention).</summary>
    /// <param name="position">The position.</param>
    public abstract string FormatPosition(TPosition position);

    /// <summary>Reads a stored position.</summary>
    /// <param name="text">What <see cref="FormatPosition"/> wrote.</param>
    /// <exception cref="SourceException">The text is not a position of this connector (the message says what to do).</exception>
    public abstract TPosition ParsePosition(string text);

    /// <summary>A position as people read it in logs (default: <see cref="FormatPosition"/>).</summary>
    /// <param name="position">The position.</param>
    public virtual string Describe(TPosition position) => FormatPosition(position);

    /// <summary>Classifies an error of the connector's own (its database driver's); null leaves it to the runtime
    /// (<see cref="SourceErrors.IsTransient"/>).</summary>
    /// <param name="exception">The error.</param>
    public virtual bool? IsTransient(Exception exception) => null;

    /// <summary>Called (on the runtime's position keeper, not the connector's loop) after a position was stored; e.g. to
    /// confirm it to a replication slot. Must be thread-safe.</summary>
    /// <param name="position">The stored position.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    public virtual ValueTask OnPositionStoredAsync(TPosition position, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>The connector's snapshot dialect (DBLog, see <c>docs/snapshots.md</c>), or null when it cannot snapshot.
    /// Called once per run of the source; the runtime disposes it.</summary>
    public virtual ISnapshotDialect? CreateSnapshotDialect() => null;

    /// <summary>The lease that makes one process at a time the reader of this source (see <see cref="Leases.ISourceLease"/>),
    /// or null when the connector has none (then two processes with the same source both read it). Called once per run of
    /// the source when <see cref="SourceOptions.UseLease"/> is on.</summary>
    /// <param name="sourceName">The source's name, which names the lease.</param>
    public virtual Leases.ISourceLease? CreateLease(string sourceName) => null;

    /// <inheritdoc />
    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
