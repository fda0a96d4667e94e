namespace DataMesh.Sources.Leases;

/// <summary>
/// A claim, held in the source's own database, that makes one process at a time the reader of a source. The runtime takes
/// the lease before it loads the stored position (so a process that takes over starts where the former owner's
/// acknowledged position was stored), checks it every <see cref="SourceOptions.LeaseCheckInterval"/> while it reads (which
/// also keeps the lease's session from idling out) and right before each position it stores, stops reading and stores
/// nothing more once it finds it lost, and releases it on a stop. The lease lives in a database session of its own: when
/// the process dies (kill -9 included) the server ends the session and the lease is free at once. Each term of holding it
/// has a fencing epoch (<see cref="LeaseFence"/>): records go to Kafka only while the last confirmation of the lease is
/// recent, and with <see cref="SourceOptions.EpochHeader"/> carry the epoch so that consumers can drop a former holder's
/// late ones (see <c>docs/sources.md</c>).
/// </summary>
/// <remarks>A connector offers one by overriding <see cref="SourceConnector{TPosition}.CreateLease"/>. Implementations must
/// be thread-safe: the runtime's lease watcher, its position store and its producer's gate may ask
/// <see cref="IsHeldAsync"/> at once.</remarks>
public interface ISourceLease : IAsyncDisposable
{
    /// <summary>What the lease is, for logs and status, e.g. <c>MariaDB lock 'datamesh-source:orders'</c>; no secret.</summary>
    string Description { get; }

    /// <summary>Takes the lease if no other session holds it; never waits for it.</summary>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    /// <returns>True when this process holds the lease now.</returns>
    Task<bool> TryAcquireAsync(CancellationToken cancellationToken);

    /// <summary>Whether this process still holds the lease (its session is alive and owns it).</summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>False when the lease was lost: the session ended or another one holds it.</returns>
    Task<bool> IsHeldAsync(CancellationToken cancellationToken);

    /// <summary>Gives the lease up (closing its session).</summary>
    /// <param name="cancellationToken">Cancels the release; the session is closed anyway on dispose.</param>
    Task ReleaseAsync(CancellationToken cancellationToken);
}
