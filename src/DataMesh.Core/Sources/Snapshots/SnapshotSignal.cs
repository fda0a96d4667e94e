using System.Text.Json;

namespace DataMesh.Sources;

/// <summary>Reads the <c>data</c> of an <c>execute-snapshot</c> signal, in Debezium's shape:
/// <c>{"data-collections": ["schema.table", ...], "type": "incremental", "additional-conditions": [{"data-collection": "schema.table", "filter": "id &gt; 10"}]}</c>,
/// or Debezium 1.x's <c>"additional-condition": "id &gt; 10"</c> for every table of the signal. Any other field is refused.</summary>
internal static class SnapshotSignal
{
    /// <summary>The tables to read, grouped by their condition (null: every row).</summary>
    public static IReadOnlyList<(IReadOnlyList<string> Tables, string? Condition)> Parse(string? data)
    {
        if (string.IsNullOrWhiteSpace(data))
        {
            throw new FormatException("an execute-snapshot signal needs data: {\"data-collections\": [\"schema.table\", ...]}");
        }

        // Every shape checked: an exception other than FormatException or JsonException would leave the log thread and stop
        // the source at this signal row, and at the same row again after each restart.
        using var document = JsonDocument.Parse(data);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the data must be a JSON object: {\"data-collections\": [\"schema.table\", ...]}");
        }

        if (!root.TryGetProperty("data-collections", out var collections) || collections.ValueKind != JsonValueKind.Array || collections.GetArrayLength() == 0)
        {
            throw new FormatException("data-collections must be a non-empty array of \"schema.table\" names");
        }

        if (root.TryGetProperty("type", out var type) && type.ValueKind != JsonValueKind.Null && Text(type, "type") is var kind && !kind.Equals("incremental", StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"snapshot type '{kind}' is not supported: every snapshot is incremental (interleaved with the log, without locks)");
        }

        foreach (var property in root.EnumerateObject())
        {
            if (property.Name is not ("data-collections" or "type" or "additional-conditions" or "additional-condition"))
            {
                // A misspelt key would otherwise be ignored: a snapshot of every row where a condition was meant.
                throw new FormatException($"the data has no field '{property.Name}' (its fields: data-collections, type, additional-conditions, or Debezium 1.x's additional-condition)");
            }
        }

        var tables = collections.EnumerateArray().Select(c => Text(c, "a data-collection")).ToList();
        var conditions = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("additional-condition", out var single))
        {
            // Debezium 1.x's form: one condition for every table of the signal.
            if (root.TryGetProperty("additional-conditions", out _))
            {
                throw new FormatException("give additional-conditions or the older additional-condition, not both");
            }

            var condition = Text(single, "additional-condition");
            foreach (var table in tables)
            {
                conditions[table] = condition;
            }
        }

        if (root.TryGetProperty("additional-conditions", out var additional))
        {
            if (additional.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("additional-conditions must be an array of {\"data-collection\": \"schema.table\", \"filter\": \"SQL condition\"}");
            }

            foreach (var entry in additional.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("data-collection", out var collection))
                {
                    throw new FormatException("an additional-conditions entry has no data-collection");
                }

                var table = Text(collection, "an additional-conditions entry's data-collection");
                foreach (var property in entry.EnumerateObject())
                {
                    if (property.Name is not ("data-collection" or "filter"))
                    {
                        throw new FormatException($"the additional-conditions entry for {table} has no field '{property.Name}' (its fields: data-collection, filter)");
                    }
                }

                if (!tables.Contains(table, StringComparer.Ordinal))
                {
                    throw new FormatException($"additional-conditions names {table}, which is not in data-collections");
                }

                conditions[table] = entry.TryGetProperty("filter", out var filter)
                    ? Text(filter, $"the filter of additional-conditions entry {table}")
                    : throw new FormatException($"additional-conditions entry for {table} without filter");
            }
        }

        return tables.GroupBy(t => conditions.GetValueOrDefault(t)).Select(g => ((IReadOnlyList<string>)g.ToList(), g.Key)).ToList();
    }

    /// <summary>A JSON string's value, or a <see cref="FormatException"/> naming <paramref name="what"/>.</summary>
    private static string Text(JsonElement element, string what) =>
        element.ValueKind == JsonValueKind.String ? element.GetString()! : throw new FormatException($"{what} must be a string, not {element.ValueKind}");
}
