using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DataMesh.Sources;

/// <summary>One table of a running snapshot: where it is (the last key read, in the dialect's form), what it reads
/// (a condition, for some rows), and how far it got.</summary>
/// <param name="Schema">The table's schema (MySQL: database).</param>
/// <param name="Name">The table's name.</param>
/// <param name="After">The last key whose chunk was emitted, or null before the first chunk.</param>
/// <param name="Rows">Rows emitted so far.</param>
/// <param name="Condition">A SQL condition on the rows, or null for all of them.</param>
/// <param name="Initial">Whether it belongs to the initial snapshot (<c>source.snapshot = true</c>) rather than an on-demand one
/// (<c>incremental</c>).</param>
/// <param name="RangeDone">Whether the key range has been read to its end (what is left is <paramref name="Recheck"/>).</param>
/// <param name="Recheck">Keys (the dialect's form) to read again: a chunk dropped their rows for a log event in its window
/// that did not carry every column (PostgreSQL's unchanged TOASTed values), so the real values still have to arrive.</param>
internal sealed record SnapshotTableProgress(string Schema, string Name, string? After, long Rows, string? Condition, bool Initial, bool RangeDone = false, string[]? Recheck = null)
{
    public string QualifiedName => $"{Schema}.{Name}";
}

/// <summary>A source's snapshot state: the tables still to read (in order), whether it is paused, and whether the initial
/// snapshot is yet to list its tables. Immutable: the log thread captures it with each checkpoint, so a stored position
/// carries the snapshot progress Kafka acknowledged.</summary>
internal sealed record SnapshotState(ImmutableList<SnapshotTableProgress> Tables, bool Paused, bool InitialPending = false, int Cancels = 0)
{
    public static readonly SnapshotState Empty = new([], false);

    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public bool IsIdle => Tables.IsEmpty && !Paused && !InitialPending;

    public string ToJson() => JsonSerializer.Serialize(new Stored(Tables.ToArray(), Paused ? true : null, InitialPending ? true : null), Json);

    public static SnapshotState FromJson(JsonElement element)
    {
        var stored = element.Deserialize<Stored>(Json) ?? throw new JsonException("null snapshot state");
        return new SnapshotState([.. stored.Tables ?? []], stored.Paused ?? false, stored.InitialPending ?? false);
    }

    /// <summary>The state with one table's progress replaced (or removed when <paramref name="progress"/> is null).</summary>
    public SnapshotState With(SnapshotTableProgress old, SnapshotTableProgress? progress)
    {
        var index = Tables.FindIndex(t => t.Schema == old.Schema && t.Name == old.Name);
        if (index < 0)
        {
            return this;
        }

        return this with { Tables = progress is null ? Tables.RemoveAt(index) : Tables.SetItem(index, progress) };
    }

    private sealed record Stored(SnapshotTableProgress[]? Tables, bool? Paused, bool? InitialPending);
}
