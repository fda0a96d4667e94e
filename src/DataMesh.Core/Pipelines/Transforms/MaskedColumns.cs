using System.Buffers;
using DataMesh.Avro;

namespace DataMesh.Pipelines.Transforms;

/// <summary>A column a chain masks, by its name in the records the chain reads, with the options and the name of its mask.</summary>
internal sealed record MaskedColumn(string Column, MaskOptions Options, string Transform);

/// <summary>
/// Follows a chain's masks back to the columns of the records it reads, so that the pipeline masks those columns where
/// else they travel: in the Kafka key, and in dead letters (which hold the record as it was read). Renames are followed;
/// a field a transform adds comes from no column. Refuses a route that names topics after a column the chain masks only
/// after the route, since the topic names would carry the values in clear.
/// </summary>
internal static class MaskLineage
{
    /// <summary>The columns <paramref name="transforms"/> mask, in chain order; empty when the chain has no mask.</summary>
    /// <exception cref="ArgumentException">A route reads a column that a later mask masks.</exception>
    public static IReadOnlyList<MaskedColumn> Trace(IReadOnlyList<Transform> transforms)
    {
        // A field's name at this point of the chain -> the column it holds, or null for a field no column fills.
        var names = new Dictionary<string, string?>(StringComparer.Ordinal);
        string? ColumnOf(string name) => names.TryGetValue(name, out var column) ? column : name;
        var masked = new List<MaskedColumn>();
        var routes = new List<(string Column, Transform Route)>();
        foreach (var transform in transforms)
        {
            switch (transform)
            {
                case RenameTransform rename:
                    // The renames of one transform apply together to the fields as they were.
                    var columns = rename.Renames.Select(r => ColumnOf(r.Key)).ToList();
                    foreach (var (from, _) in rename.Renames)
                    {
                        names[from] = null;
                    }

                    for (var i = 0; i < columns.Count; i++)
                    {
                        names[rename.Renames[i].Value] = columns[i];
                    }

                    break;
                case AddFieldTransform add:
                    names[add.Field] = null;
                    break;
                case RouteTransform route when RouteColumn(route.Path) is { } name && ColumnOf(name) is { } routed:
                    routes.Add((routed, route));
                    break;
                case MaskTransform mask:
                    foreach (var field in mask.Fields)
                    {
                        if (ColumnOf(field) is not { } column)
                        {
                            continue;
                        }

                        // A field is named by its Avro name or its column's original one (e_mail, e-mail): compare both
                        // as Avro names, whichever each transform used.
                        if (routes.FirstOrDefault(r => r.Column == column || Events.AvroNames.Sanitize(r.Column) == Events.AvroNames.Sanitize(column)).Route is { } leaking)
                        {
                            throw new ArgumentException(
                                $"{leaking.Name} names topics after the values of '{column}', which {mask.Name} masks after it: the topic names would carry " +
                                $"those values in clear. Put the mask before the route, so that topics are named after the masked values.", nameof(transforms));
                        }

                        masked.Add(new MaskedColumn(column, mask.Options, mask.Name));
                    }

                    break;
            }
        }

        return masked;
    }

    /// <summary>The row column a route path reads (<c>email</c>, <c>after.email</c>, <c>before.email</c>), or null for an envelope value such as <c>source.table</c>.</summary>
    private static string? RouteColumn(string path)
    {
        var steps = path.Split('.');
        return steps.Length switch
        {
            1 => steps[0],
            2 when steps[0] is "after" or "before" => steps[1],
            _ => null,
        };
    }
}

/// <summary>
/// The masking of one record schema read outside a chain — a Kafka key, or a source value to dead-letter — by the chain's
/// <see cref="MaskedColumn"/>s: the masked datum is framed with the id of the masked schema, registered once per topic.
/// </summary>
internal sealed class RecordMasking
{
    /// <summary>The record has no masked column: it travels as it was read.</summary>
    public static readonly RecordMasking AsRead = new(null, null);

    private RecordMasking(PlannedChain? chain, string? error, bool withholdsKey = false)
    {
        Chain = chain;
        Error = error;
        WithholdsKey = withholdsKey;
    }

    /// <summary>A value whose record lacks a masked column: its key, masked by the columns it has, may still hold the
    /// value in clear under another name, so a dead letter leaves it out too.</summary>
    public bool WithholdsKey { get; }

    /// <summary>The masks, planned for the record's schema; null for <see cref="AsRead"/> and when <see cref="Error"/> says why it cannot be masked.</summary>
    public PlannedChain? Chain { get; }

    /// <summary>Why records of this schema cannot be masked (a key column that redaction would make equal in every record, an unknown schema id); null otherwise.</summary>
    public string? Error { get; }

    /// <summary>The id of the masked schema per topic it was registered for, or the reason it could not be.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, (int Id, string? Error)> Ids { get; } = new(StringComparer.Ordinal);

    /// <summary>Records of this schema cannot be masked, for <paramref name="reason"/>.</summary>
    public static RecordMasking Failed(string reason) => new(null, reason);

    /// <summary>
    /// Plans the masks of <paramref name="masked"/> that apply to <paramref name="record"/>: its fields, or on a change-event
    /// envelope its row in <c>before</c> and <c>after</c>. A value (not <paramref name="isKey"/>) without every masked column
    /// cannot be masked (<see cref="Error"/>): the chain's masks would refuse it. On a key (<paramref name="isKey"/>) a redacted column is replaced by
    /// its keyed hash under <see cref="MaskOptions.HashKey"/> instead, so that equal keys stay equal and distinct keys distinct.
    /// </summary>
    public static RecordMasking Plan(IReadOnlyList<MaskedColumn> masked, global::Avro.RecordSchema record, bool isKey)
    {
        var row = EnvelopeShape.Detect(record)?.Row ?? record;
        if (!isKey && masked.FirstOrDefault(m => Layouts.Find(row, m.Column) is null) is { } absent)
        {
            // The chain's mask refuses such a record too, which is why it is dead-lettered: a misspelt name, or a column
            // renamed in the source, whose value the record may hold under another name. Not sent in clear.
            return new RecordMasking(null,
                $"{absent.Transform}: the record {record.Fullname} has no column '{absent.Column}', which the chain masks; it may hold that value under " +
                "another name (a misspelt mask, a renamed column), so neither it nor its key can be sent masked.", withholdsKey: true);
        }

        var transforms = new List<Transform>();
        foreach (var group in masked.Where(m => Layouts.Find(row, m.Column) is not null).GroupBy(m => (m.Options, m.Transform)))
        {
            var (options, name) = group.Key;
            var columns = group.Select(m => m.Column).Distinct(StringComparer.Ordinal).ToArray();
            if (isKey && options.Mode == MaskMode.Redact)
            {
                if (options.HashKey is not { } hashKey)
                {
                    return Failed(
                        $"{name}: '{columns[0]}' is a column of the Kafka key ({record.Fullname}); redacting it would give every record the same key, so that " +
                        "they would all go to one partition and compaction would keep only one. Set MaskOptions.HashKey (a secret of 16 bytes or more): key columns " +
                        "are then replaced by their keyed hash, and the value's by the redaction. Or use MaskMode.Hash.");
                }

                options = new MaskOptions { Mode = MaskMode.Hash, HashKey = hashKey, HashFormat = options.HashFormat };
            }

            transforms.Add(new MaskTransform(columns, options));
        }

        if (transforms.Count == 0)
        {
            return AsRead;
        }

        try
        {
            return new RecordMasking(new TransformChain(transforms).Plan(record), null);
        }
        catch (TransformPlanException e)
        {
            return Failed(e.Message);
        }
    }

    /// <summary>The subject the masked schema is registered under for <paramref name="topic"/>: <c>&lt;topic&gt;-&lt;record full name&gt;</c> (Confluent's TopicRecordNameStrategy).</summary>
    public string Subject(string topic) => topic + "-" + Chain!.OutputSchema.Fullname;

    /// <summary>Writes <paramref name="datum"/> masked, in the Confluent wire format with schema id <paramref name="id"/>; false with the reason when the datum is malformed.</summary>
    public bool TryWrite(ReadOnlySpan<byte> datum, int id, IBufferWriter<byte> output, out string? reason)
    {
        ConfluentWireFormat.WriteHeader(output, id);
        var context = default(RecordContext);
        try
        {
            Chain!.Execute(datum, output, ref context);
            reason = null;
            return true;
        }
        catch (TransformException e)
        {
            reason = e.Message;
            return false;
        }
    }
}
