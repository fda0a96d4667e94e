using System.Text.Json;

namespace DataMesh.Sources;

/// <summary>Reads the <c>data</c> of an <c>execute-snapshot</c> signal, in Debezium's shape:
/// <c>{"data-collections": ["schema.table", ...], "type": "incremental", "additional-conditions": [{"data-collection": "schema.table", "filter": "id &gt; 10"}]}</c>.</summary>
internal static class SnapshotSignal
{
    /// <summary>The tables to read, grouped by their condition (null: every row).</summary>
    public static IReadOnlyList<(IReadOnlyList<string> Tables, string? Condition)> Parse(string? data)
    {
        if (string.IsNullOrWhiteSpace(data))
        {
            throw new FormatException("an execute-snapshot signal needs data: {\"data-collections\": [\"schema.table\", ...]}");
        }

        using var document = JsonDocument.Parse(data);
        var root = document.RootElement;
        if (!root.TryGetProperty("data-collections", out var collections) || collections.ValueKind != JsonValueKind.Array || collections.GetArrayLength() == 0)
        {
            throw new FormatException("data-collections must be a non-empty array of \"schema.table\" names");
        }

        if (root.TryGetProperty("type", out var type) && type.GetString() is { } kind && !kind.Equals("incremental", StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"snapshot type '{kind}' is not supported: every snapshot is incremental (interleaved with the log, without locks)");
        }

        var conditions = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("additional-conditions", out var additional))
        {
            foreach (var entry in additional.EnumerateArray())
            {
                var table = entry.GetProperty("data-collection").GetString() ?? throw new FormatException("additional-conditions entry without data-collection");
                conditions[table] = entry.GetProperty("filter").GetString() ?? throw new FormatException($"additional-conditions entry for {table} without filter");
            }
        }

        var tables = collections.EnumerateArray().Select(c => c.GetString() ?? throw new FormatException("a data-collection is null")).ToList();
        return tables.GroupBy(t => conditions.GetValueOrDefault(t)).Select(g => ((IReadOnlyList<string>)g.ToList(), g.Key)).ToList();
    }
}
