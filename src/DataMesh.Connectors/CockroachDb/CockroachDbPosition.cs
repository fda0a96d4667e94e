using System.Text.Json;
using DataMesh.Sources;

namespace DataMesh.Connectors.CockroachDb;

/// <summary>A CockroachDB source's position: the changefeed's <c>cursor</c> for the next start, as CockroachDB prints an HLC
/// (<c>wall_nanos.logical</c>, e.g. <c>1532377312562986715.0000000000</c>), and the tables it covers. Either the last
/// resolved timestamp whose earlier changes of <paramref name="Tables"/> Kafka acknowledged (stored as
/// <c>{"resolved":"…","tables":[…]}</c>; a restart streams those tables' changes after it), or, with
/// <paramref name="ScanPending"/>, the time of an initial scan of <paramref name="Tables"/> that has not finished (stored
/// as <c>{"scanAt":"…","tables":[…]}</c>; a restart scans again as of that same time and then streams every change after
/// it, so a row the first scan emitted and that was deleted since gets its delete). A captured table not in
/// <paramref name="Tables"/> (created, or first matched, after the position) is scanned before it joins the changefeed;
/// <paramref name="Adding"/> lists those whose scan as of <paramref name="Resolved"/> has started and not finished
/// (<c>"adding":[…]</c>): a restart scans them again as of that same time.</summary>
/// <param name="Resolved">The HLC.</param>
/// <param name="ScanPending">Whether an initial scan as of <paramref name="Resolved"/> is not finished.</param>
/// <param name="Tables">The tables covered (<c>schema.table</c>, ordinal order), or null in a position stored before
/// tables were recorded: then every captured table found at the start is covered.</param>
/// <param name="Adding">Tables being added: their scan as of <paramref name="Resolved"/> is not finished; or null.</param>
internal sealed record CockroachDbPosition(string Resolved, bool ScanPending = false, IReadOnlyList<string>? Tables = null, IReadOnlyList<string>? Adding = null)
{
    public string ToJson()
    {
        var json = new System.Text.Json.Nodes.JsonObject { [ScanPending ? "scanAt" : "resolved"] = Resolved };
        if (Tables is not null)
        {
            json["tables"] = new System.Text.Json.Nodes.JsonArray([.. Tables.Select(t => System.Text.Json.Nodes.JsonValue.Create(t))]);
        }

        if (Adding is { Count: > 0 })
        {
            json["adding"] = new System.Text.Json.Nodes.JsonArray([.. Adding.Select(t => System.Text.Json.Nodes.JsonValue.Create(t))]);
        }

        return json.ToJsonString();
    }

    public override string ToString() =>
        (ScanPending ? $"initial scan at {Resolved} (not finished)" : Resolved) + (Tables is null ? string.Empty : $" of {Tables.Count} table{(Tables.Count == 1 ? string.Empty : "s")}") +
        (Adding is { Count: > 0 } ? $", adding {string.Join(", ", Adding)} (scan at {Resolved} not finished)" : string.Empty);

    /// <summary>The HLC's wall time in nanoseconds since the Unix epoch.</summary>
    public long WallNanos => Hlc.WallNanos(Resolved);

    public bool Equals(CockroachDbPosition? other) =>
        other is not null && Resolved == other.Resolved && ScanPending == other.ScanPending &&
        SameTables(Tables, other.Tables) && SameTables(Adding is { Count: > 0 } ? Adding : null, other.Adding is { Count: > 0 } ? other.Adding : null);

    public override int GetHashCode() => HashCode.Combine(Resolved, ScanPending, Tables?.Count, Adding?.Count);

    public static CockroachDbPosition Parse(string json)
    {
        string? resolved = null;
        var scanPending = false;
        List<string>? tables = null;
        List<string>? adding = null;
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.TryGetProperty("scanAt", out var scanAt))
            {
                resolved = scanAt.GetString();
                scanPending = true;
            }
            else
            {
                resolved = root.GetProperty("resolved").GetString();
            }

            if (root.TryGetProperty("tables", out var list))
            {
                tables = Names(list);
            }

            if (root.TryGetProperty("adding", out var being))
            {
                adding = Names(being);
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw Invalid(json, ex.Message, ex);
        }

        return resolved is not null && Hlc.IsValid(resolved) ? new CockroachDbPosition(resolved, scanPending, tables, adding) : throw Invalid(json, "'resolved' is not an HLC", null);
    }

    private static List<string> Names(JsonElement list) => [.. list.EnumerateArray().Select(t => t.GetString() ?? throw new JsonException("a table is null"))];

    private static bool SameTables(IReadOnlyList<string>? a, IReadOnlyList<string>? b) =>
        a is null ? b is null : b is not null && a.SequenceEqual(b, StringComparer.Ordinal);

    private static SourceException Invalid(string json, string reason, Exception? inner) =>
        new($"The stored position '{json}' of this CockroachDB source is not a CockroachDB position ({{\"resolved\":\"<wall nanos>.<logical>\",\"tables\":[…]}} or {{\"scanAt\":\"…\",\"tables\":[…]}}): {reason}. Reset the stored position to start afresh.", isTransient: false, inner);
}

/// <summary>CockroachDB's hybrid-logical-clock timestamps in their decimal text form <c>wall_nanos.logical</c>.</summary>
internal static class Hlc
{
    /// <summary>Whether text is an HLC (<see cref="IsValid(ReadOnlySpan{byte})"/>).</summary>
    public static bool IsValid(string text) => IsValid(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>Whether UTF-8 text is an HLC: 1 to 19 digits of wall time (within a <see cref="long"/>), then optionally a
    /// point and the logical part's digits.</summary>
    public static bool IsValid(ReadOnlySpan<byte> text)
    {
        var point = text.IndexOf((byte)'.');
        var wall = point < 0 ? text : text[..point];
        return long.TryParse(wall, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _) &&
            (point < 0 || (point < text.Length - 1 && !text[(point + 1)..].ContainsAnyExceptInRange((byte)'0', (byte)'9')));
    }

    /// <summary>The wall time of an HLC (<see cref="WallNanos(ReadOnlySpan{byte})"/>).</summary>
    public static long WallNanos(string text) => WallNanos(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>The wall time of an HLC in UTF-8 (<see cref="IsValid(ReadOnlySpan{byte})"/>), in nanoseconds since the Unix
    /// epoch.</summary>
    public static long WallNanos(ReadOnlySpan<byte> text)
    {
        var point = text.IndexOf((byte)'.');
        return long.Parse(point < 0 ? text : text[..point], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Orders two HLCs (wall time, then the logical part).</summary>
    public static int Compare(string a, string b) => Compare(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b));

    /// <summary>Orders two HLCs in UTF-8: wall time, then the logical part as the decimal fraction it is printed as, without
    /// allocating (a scan compares each of its rows with its cursor).</summary>
    public static int Compare(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        var byWall = WallNanos(a).CompareTo(WallNanos(b));
        if (byWall != 0)
        {
            return byWall;
        }

        var logicalA = Logical(a);
        var logicalB = Logical(b);
        for (var i = 0; i < Math.Max(logicalA.Length, logicalB.Length); i++)
        {
            var digitA = i < logicalA.Length ? logicalA[i] : (byte)'0';
            var digitB = i < logicalB.Length ? logicalB[i] : (byte)'0';
            if (digitA != digitB)
            {
                return digitA.CompareTo(digitB);
            }
        }

        return 0;
    }

    private static ReadOnlySpan<byte> Logical(ReadOnlySpan<byte> text)
    {
        var point = text.IndexOf((byte)'.');
        return point < 0 ? default : text[(point + 1)..];
    }
}
