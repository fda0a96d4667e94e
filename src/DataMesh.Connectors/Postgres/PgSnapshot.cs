using System.Globalization;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// An MVCC snapshot as <c>pg_current_snapshot()</c> (PostgreSQL 13 or later) shows it, <c>xmin:xmax:xip,...</c> in 64-bit
/// transaction ids with their epoch: every transaction below <see cref="Xmin"/> had ended when it was taken; those from
/// <see cref="Xmax"/> on had not (or had not started); between the two, those in <see cref="InProgress"/> were running.
/// A committed transaction is visible to the snapshot exactly when it had ended.
/// </summary>
internal sealed class PgSnapshot
{
    private readonly HashSet<ulong> _inProgress;

    private PgSnapshot(ulong xmin, ulong xmax, HashSet<ulong> inProgress)
    {
        Xmin = xmin;
        Xmax = xmax;
        _inProgress = inProgress;
    }

    /// <summary>The oldest transaction still running when the snapshot was taken.</summary>
    public ulong Xmin { get; }

    /// <summary>One past the newest transaction that had ended.</summary>
    public ulong Xmax { get; }

    /// <summary>The transactions between <see cref="Xmin"/> and <see cref="Xmax"/> that were running.</summary>
    public IReadOnlyCollection<ulong> InProgress => _inProgress;

    /// <summary>Reads <c>pg_current_snapshot()::text</c>.</summary>
    /// <exception cref="FormatException">Not a snapshot.</exception>
    public static PgSnapshot Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts.Length != 3 || !ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var xmin)
            || !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var xmax) || xmin > xmax)
        {
            throw new FormatException($"'{text}' is not a snapshot (xmin:xmax:xip,...).");
        }

        var inProgress = new HashSet<ulong>();
        foreach (var xid in parts[2].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!ulong.TryParse(xid, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < xmin || value >= xmax)
            {
                throw new FormatException($"'{text}' is not a snapshot: running transaction '{xid}' is not between xmin and xmax.");
            }

            inProgress.Add(value);
        }

        return new PgSnapshot(xmin, xmax, inProgress);
    }

    /// <summary>Whether the transaction <paramref name="xid"/> (32 bits, as pgoutput's BEGIN carries it) had ended when the
    /// snapshot was taken: committed, it is visible to the snapshot and to every later one.</summary>
    public bool HasEnded(uint xid) => HasEnded(Widen(xid));

    /// <summary>Whether the transaction <paramref name="xid"/> (64 bits, as <c>pg_current_snapshot()</c> shows it) had ended
    /// when the snapshot was taken.</summary>
    public bool HasEnded(ulong xid) => xid < Xmin || (xid < Xmax && !_inProgress.Contains(xid));

    /// <summary>The 64-bit id of a 32-bit one: the id with those low bits nearest to <see cref="Xmax"/> (PostgreSQL keeps
    /// every live transaction within 2^31 of every other).</summary>
    public ulong Widen(uint xid) => unchecked((ulong)((long)Xmax + (int)(xid - (uint)Xmax)));
}
