using System.Buffers.Binary;
using System.Diagnostics;

namespace DataMesh.Sources.Leases;

/// <summary>
/// The holder's side of a lease's fence, for one term of holding it:
/// <list type="bullet">
/// <item>the term's <see cref="Epoch"/>, higher than every earlier term's (taken from the position store, see
/// <see cref="PositionStore.NextEpochAsync"/>), stamped on every record as header <see cref="Header"/> when
/// <see cref="Stamp"/> (<see cref="SourceOptions.EpochHeader"/>) so that a consumer can drop a record of an older term that
/// arrives after one of a newer term in the same partition;</item>
/// <item>a produce gate: a record is handed to Kafka only while the last confirmation of the lease is younger than
/// <see cref="Validity"/>; past it, the producer asks the lease again (and stops on a loss) before it hands over anything.
/// A holder paused (SIGSTOP, a long GC, a frozen VM) for longer than that therefore hands Kafka nothing it reads after the
/// pause without first learning whether it still holds the lease.</item>
/// </list>
/// </summary>
/// <remarks>The validity (<see cref="ValidityFor"/>, at most 20 s) stays below the time a server takes to end the session of
/// a frozen holder on its own (ten check intervals and at least 30 s of idleness, or 25 s of TCP keepalives), so a successor
/// that got the lease that way can only have it after the former holder's validity ran out. A session ended under a
/// holder that runs (an operator's kill, a reset connection, a server restart) frees the lease at once: that holder goes on
/// until its next check finds the loss. Records handed to the client before a pause may still be sent after it: those
/// are what the epoch header, when on, lets consumers drop.</remarks>
internal sealed class LeaseFence
{
    /// <summary>The record header carrying the writer's epoch: 8 bytes, a big-endian signed integer.</summary>
    public const string Header = "datamesh.epoch";

    private readonly Func<CancellationToken, Task<bool>> _confirm;
    private readonly long _validityMs;
    private long _validUntil;

    /// <summary>Creates the fence of a term.</summary>
    /// <param name="epoch">The term's epoch.</param>
    /// <param name="validity">How long a confirmation of the lease may let records through (<see cref="Validity"/> is this less
    /// <see cref="ClockMarginMs"/>).</param>
    /// <param name="confirm">Asks whether the lease is still held (and, when not, ends the term); called by a producer whose
    /// confirmation expired.</param>
    /// <param name="stamp">Whether records carry the epoch header.</param>
    public LeaseFence(long epoch, TimeSpan validity, Func<CancellationToken, Task<bool>> confirm, bool stamp = true)
    {
        Epoch = epoch;
        Stamp = stamp;
        // Shortened for the coarse clock's lag, so that the gate closes in time when measured with an exact clock.
        _validityMs = Math.Max(1, (long)validity.TotalMilliseconds - ClockMarginMs);
        Validity = TimeSpan.FromMilliseconds(_validityMs);
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

    /// <summary>How long a confirmation lets records through, from the start of the check that confirmed it: the validity
    /// given less <see cref="ClockMarginMs"/>.</summary>
    public TimeSpan Validity { get; }

    /// <summary>How long ago the last confirming check started (<see cref="TimeSpan.MaxValue"/> before the first).</summary>
    public TimeSpan SinceConfirmed
    {
        get
        {
            var until = Volatile.Read(ref _validUntil);
            return until == 0 ? TimeSpan.MaxValue : TimeSpan.FromMilliseconds(Timestamp() - (until - _validityMs));
        }
    }

    /// <summary>Whether the last confirmation still lets records through (asked for every record: one read of the coarse
    /// clock, a few nanoseconds, where <see cref="Stopwatch"/> takes about 20).</summary>
    public bool IsOpen => Timestamp() < Volatile.Read(ref _validUntil);

    /// <summary>The fence's clock, for <see cref="Confirmed"/>: milliseconds of the monotonic clock as
    /// <see cref="Environment.TickCount64"/> reads it. That read is coarse (it lags the exact clock by up to one timer tick:
    /// 4 ms at Linux's usual 250 Hz, 10 ms at 100 Hz, about 16 ms on Windows), which the validity allows for
    /// (<see cref="ClockMarginMs"/>).</summary>
    /// <returns>The time, in milliseconds.</returns>
    public static long Timestamp() => Environment.TickCount64;

    /// <summary>What a confirmation's validity is shortened by, so that the coarse clock's lag never lets a record through
    /// after the validity asked for, measured exactly from the check's start (a lag of several ticks, as a VM whose
    /// time-keeping vCPU is descheduled may show, is covered too; against validities of seconds it costs nothing).</summary>
    internal const long ClockMarginMs = 50;

    /// <summary>The longest validity: below the quickest way a quiet session of a frozen holder ends on its own (PostgreSQL's
    /// TCP keepalives, 10 s + 3 × 5 s; the idle timeouts are at least 30 s), so a successor cannot hold the lease while the
    /// former holder's last confirmation still lets records through.</summary>
    public static readonly TimeSpan MaxValidity = TimeSpan.FromSeconds(20);

    /// <summary>The validity for a lease checked every <paramref name="checkInterval"/> with checks that may take up to
    /// <paramref name="checkTimeout"/>: three intervals, and at least a check's timeout plus an interval (so that a slow
    /// check still confirms for a while), at most <see cref="MaxValidity"/>.</summary>
    public static TimeSpan ValidityFor(TimeSpan checkInterval, TimeSpan checkTimeout) =>
        TimeSpan.FromTicks(Math.Min(MaxValidity.Ticks, Math.Max(checkInterval.Ticks * 3, checkTimeout.Ticks + checkInterval.Ticks)));

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

    /// <summary>Records that a check which started at <paramref name="checkStarted"/> (a <see cref="Timestamp"/>) found the
    /// lease held: records may go through until that start plus the validity.</summary>
    /// <param name="checkStarted">When the check started, read from <see cref="Timestamp"/> before it was sent.</param>
    public void Confirmed(long checkStarted)
    {
        var until = checkStarted + _validityMs;
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
            var started = Timestamp();
            if (!await _confirm(cancellationToken).ConfigureAwait(false))
            {
                throw new OperationCanceledException($"The source's lease was lost (epoch {Epoch}): nothing more is handed to Kafka in this term.");
            }

            Confirmed(started);
            if (!IsOpen)
            {
                // Confirmed, but the check took longer than the validity (a stalled database or thread pool): ask again
                // after a moment rather than in a tight loop.
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
