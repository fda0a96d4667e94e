using System.Buffers.Binary;
using System.Diagnostics;

namespace DataMesh.Sources.Leases;

/// <summary>
/// The holder's side of a lease's fence, for one term of holding it:
/// <list type="bullet">
/// <item>the term's <see cref="Epoch"/>, higher than every earlier term's (taken from the position store, see
/// <see cref="PositionStore.NextEpochAsync"/>), stamped on every record as header <see cref="Header"/> so that a consumer
/// can drop a record of an older term that arrives after one of a newer term in the same partition;</item>
/// <item>a produce gate: a record is handed to Kafka only while the last confirmation of the lease is younger than
/// <see cref="Validity"/>; past it, the producer asks the lease again (and stops on a loss) before it hands over anything.
/// A holder paused (SIGSTOP, a long GC, a frozen VM) for longer than that therefore hands Kafka nothing it reads after the
/// pause without first learning whether it still holds the lease.</item>
/// </list>
/// </summary>
/// <remarks>The validity (three lease-check intervals) stays below the time a database takes to end a session that went
/// quiet (ten intervals, at least 30 s: the session timeouts the leases set), so a new holder can only have the lease after
/// the former holder's validity ran out. Records handed to the client before a pause may still be sent after it: those
/// are what the epoch header lets consumers drop.</remarks>
internal sealed class LeaseFence
{
    /// <summary>The record header carrying the writer's epoch: 8 bytes, a big-endian signed integer.</summary>
    public const string Header = "datamesh.epoch";

    private readonly Func<CancellationToken, Task<bool>> _confirm;
    private long _validUntil;

    /// <summary>Creates the fence of a term.</summary>
    /// <param name="epoch">The term's epoch.</param>
    /// <param name="validity">How long a confirmation of the lease lets records through.</param>
    /// <param name="confirm">Asks whether the lease is still held (and, when not, ends the term); called by a producer whose
    /// confirmation expired.</param>
    /// <param name="stamp">Whether records carry the epoch header.</param>
    public LeaseFence(long epoch, TimeSpan validity, Func<CancellationToken, Task<bool>> confirm, bool stamp = true)
    {
        Epoch = epoch;
        Stamp = stamp;
        Validity = validity;
        _confirm = confirm;
        EpochBytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(EpochBytes, epoch);
    }

    /// <summary>The term's epoch.</summary>
    public long Epoch { get; }

    /// <summary>Whether records carry the epoch header (<see cref="SourceOptions.EpochHeader"/>).</summary>
    public bool Stamp { get; }

    /// <summary>The epoch as the header's value.</summary>
    public byte[] EpochBytes { get; }

    /// <summary>How long a confirmation lets records through.</summary>
    public TimeSpan Validity { get; }

    /// <summary>Whether the last confirmation still lets records through.</summary>
    public bool IsOpen => Stopwatch.GetTimestamp() < Volatile.Read(ref _validUntil);

    /// <summary>The validity for a lease checked every <paramref name="checkInterval"/>.</summary>
    public static TimeSpan ValidityFor(TimeSpan checkInterval) => checkInterval * 3;

    /// <summary>Reads an epoch header's value; false when it is not 8 bytes.</summary>
    public static bool TryRead(ReadOnlySpan<byte> value, out long epoch)
    {
        if (value.Length != 8)
        {
            epoch = 0;
            return false;
        }

        epoch = BinaryPrimitives.ReadInt64BigEndian(value);
        return true;
    }

    /// <summary>Records that a check which started at <paramref name="checkStarted"/> (a <see cref="Stopwatch"/>
    /// timestamp) found the lease held: records may go through until that start plus the validity.</summary>
    public void Confirmed(long checkStarted)
    {
        var until = checkStarted + (long)(Validity.TotalSeconds * Stopwatch.Frequency);
        long current;
        do
        {
            current = Volatile.Read(ref _validUntil);
            if (until <= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _validUntil, until, current) != current);
    }

    /// <summary>Waits until records may go through: asks the lease again when the last confirmation expired.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="OperationCanceledException">The lease was lost (the term is ending), or the wait was cancelled.</exception>
    public async ValueTask WaitOpenAsync(CancellationToken cancellationToken)
    {
        while (!IsOpen)
        {
            var started = Stopwatch.GetTimestamp();
            if (!await _confirm(cancellationToken).ConfigureAwait(false))
            {
                throw new OperationCanceledException($"The source's lease was lost (epoch {Epoch}): nothing more is handed to Kafka in this term.");
            }

            Confirmed(started);
        }
    }
}
