using System.Globalization;

namespace DataMesh.Connectors.Cassandra.CommitLog;

/// <summary>
/// A place in a node's commit log, as Cassandra counts it: the segment id and an offset in the segment's uncompressed
/// layout (the file offset for plain segments; see <see cref="CommitLogSegmentReader"/> for compressed and encrypted
/// ones). Positions of one node order by segment id, then offset.
/// </summary>
/// <param name="SegmentId">The segment's id (the number in <c>CommitLog-&lt;version&gt;-&lt;id&gt;.log</c>).</param>
/// <param name="Offset">The offset in the segment.</param>
internal readonly record struct CommitLogPosition(long SegmentId, long Offset) : IComparable<CommitLogPosition>
{
    public int CompareTo(CommitLogPosition other) =>
        SegmentId != other.SegmentId ? SegmentId.CompareTo(other.SegmentId) : Offset.CompareTo(other.Offset);

    public static bool operator <(CommitLogPosition left, CommitLogPosition right) => left.CompareTo(right) < 0;

    public static bool operator >(CommitLogPosition left, CommitLogPosition right) => left.CompareTo(right) > 0;

    public static bool operator <=(CommitLogPosition left, CommitLogPosition right) => left.CompareTo(right) <= 0;

    public static bool operator >=(CommitLogPosition left, CommitLogPosition right) => left.CompareTo(right) >= 0;

    /// <summary><c>&lt;segment id&gt;:&lt;offset&gt;</c>, as stored.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{SegmentId}:{Offset}");

    /// <summary>Reads what <see cref="ToString"/> wrote.</summary>
    /// <exception cref="FormatException">Not two non-negative integers separated by a colon.</exception>
    public static CommitLogPosition Parse(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0
            && long.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var segment)
            && long.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
        {
            return new CommitLogPosition(segment, offset);
        }

        throw new FormatException($"'{text}' is not a commit-log position: expected '<segment id>:<offset>', e.g. '1699285478684:28'");
    }
}
