using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// A MariaDB GTID position: the last GTID applied in each replication domain, the form of
/// <c>@@gtid_binlog_pos</c> and of <c>@slave_connect_state</c> (<c>0-1-100,1-2-7</c>).
/// </summary>
internal sealed class MariaDbGtidPosition
{
    private readonly SortedDictionary<uint, MariaDbGtid> _domains = [];

    public int Count => _domains.Count;

    public IEnumerable<MariaDbGtid> Gtids => _domains.Values;

    /// <summary>Parses a comma-separated list of GTIDs; empty text is the empty position.</summary>
    public static MariaDbGtidPosition Parse(string? text)
    {
        var position = new MariaDbGtidPosition();
        foreach (var part in (text ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            position.Set(MariaDbGtid.Parse(part));
        }

        return position;
    }

    /// <summary>Records <paramref name="gtid"/> as its domain's last.</summary>
    public void Set(MariaDbGtid gtid) => _domains[gtid.Domain] = gtid;

    public MariaDbGtidPosition Clone()
    {
        var copy = new MariaDbGtidPosition();
        foreach (var gtid in _domains.Values)
        {
            copy.Set(gtid);
        }

        return copy;
    }

    public override string ToString() => string.Join(",", _domains.Values.Select(g => g.ToString()));
}

/// <summary>
/// A MySQL GTID set, <c>uuid:1-5:7-9,uuid2:1-3</c>: for each source UUID, the intervals of transaction numbers
/// (gno) executed. <see cref="Encode"/> gives the binary form that <c>COM_BINLOG_DUMP_GTID</c> carries.
/// </summary>
internal sealed class MySqlGtidSet
{
    private readonly SortedDictionary<Guid, List<(long Start, long End)>> _sources = [];

    public static MySqlGtidSet Parse(string? text)
    {
        var set = new MySqlGtidSet();
        foreach (var part in (text ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split(':');
            if (pieces.Length < 2 || !Guid.TryParse(pieces[0], out var uuid))
            {
                throw new FormatException($"'{part}' is not a MySQL GTID set entry (uuid:interval[:interval...]).");
            }

            foreach (var interval in pieces.Skip(1))
            {
                var bounds = interval.Split('-');
                if (bounds.Length is < 1 or > 2
                    || !long.TryParse(bounds[0], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
                    || !long.TryParse(bounds[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var end)
                    || start < 1 || end < start)
                {
                    throw new FormatException($"'{interval}' is not a GTID interval (n or n-m, 1 <= n <= m).");
                }

                set.AddRange(uuid, start, end);
            }
        }

        return set;
    }

    /// <summary>Adds one transaction.</summary>
    public void Add(Guid source, long gno) => AddRange(source, gno, gno);

    /// <summary>The binary form: the number of sources (8 bytes), then per source its UUID (16), the number of
    /// intervals (8) and each interval's start and exclusive end (8 + 8), all little-endian.</summary>
    public byte[] Encode()
    {
        var length = 8 + _sources.Values.Sum(i => 16 + 8 + (16 * i.Count));
        var bytes = new byte[length];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt64LittleEndian(span, _sources.Count);
        var at = 8;
        foreach (var (uuid, intervals) in _sources)
        {
            uuid.TryWriteBytes(span[at..], bigEndian: true, out _);
            at += 16;
            BinaryPrimitives.WriteInt64LittleEndian(span[at..], intervals.Count);
            at += 8;
            foreach (var (start, end) in intervals)
            {
                BinaryPrimitives.WriteInt64LittleEndian(span[at..], start);
                BinaryPrimitives.WriteInt64LittleEndian(span[(at + 8)..], end + 1);
                at += 16;
            }
        }

        return bytes;
    }

    public MySqlGtidSet Clone()
    {
        var copy = new MySqlGtidSet();
        foreach (var (uuid, intervals) in _sources)
        {
            copy._sources[uuid] = [.. intervals];
        }

        return copy;
    }

    public override string ToString()
    {
        var builder = new StringBuilder();
        foreach (var (uuid, intervals) in _sources)
        {
            if (builder.Length > 0)
            {
                builder.Append(',');
            }

            builder.Append(uuid.ToString("D"));
            foreach (var (start, end) in intervals)
            {
                builder.Append(CultureInfo.InvariantCulture, $":{start}");
                if (end != start)
                {
                    builder.Append(CultureInfo.InvariantCulture, $"-{end}");
                }
            }
        }

        return builder.ToString();
    }

    private void AddRange(Guid source, long start, long end)
    {
        if (!_sources.TryGetValue(source, out var intervals))
        {
            intervals = [];
            _sources[source] = intervals;
        }

        intervals.Add((start, end));
        intervals.Sort();
        var merged = new List<(long Start, long End)>(intervals.Count);
        foreach (var interval in intervals)
        {
            if (merged.Count > 0 && interval.Start <= merged[^1].End + 1)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, interval.End));
            }
            else
            {
                merged.Add(interval);
            }
        }

        intervals.Clear();
        intervals.AddRange(merged);
    }
}
