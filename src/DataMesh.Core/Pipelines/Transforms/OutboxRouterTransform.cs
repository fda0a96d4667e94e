using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Events;

namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// Turns change events of an outbox table (the Producer SDK's <c>OutboxTable</c>) into the events they carry, like
/// Debezium's outbox event router: inserts and snapshot reads become raw records (value = <c>payload</c>, key =
/// <c>event_key</c>, headers = <c>headers</c>, topic = <c>topic</c>); deletes and truncates are dropped (the table is
/// cleaned by deletes); updates are dropped or rejected, as set.
/// </summary>
internal sealed class OutboxRouterTransform : Transform
{
    /// <summary>
    /// The chain's <see cref="PlannedChain.OutputSchema"/> when it ends with the router. It is not the schema of the output
    /// bytes: each raw value carries its own schema id in its Confluent header.
    /// </summary>
    internal static readonly global::Avro.RecordSchema RawOutputSchema = (global::Avro.RecordSchema)global::Avro.Schema.Parse(
        """{"type":"record","name":"OutboxEvent","namespace":"io.datamesh.pipelines","doc":"Raw outbox events: each value is in the Confluent wire format with its own schema id; this record describes none of them.","fields":[]}""");

    private readonly OutboxRouterOptions _options;

    public OutboxRouterTransform(OutboxRouterOptions options)
    {
        _options = options;
        Name = options.Updates == OutboxUpdateHandling.Drop ? "outbox-router" : "outbox-router(updates: reject)";
    }

    public override string Name { get; }

    internal override bool EmitsRawRecords => true;

    public override PlannedTransform Plan(global::Avro.RecordSchema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var shape = EnvelopeShape.Detect(input) ?? throw new TransformPlanException(
            $"{Name}: the record {input.Fullname} is not a change-event envelope (before, after, op); the router reads the change events of an outbox table "
            + $"(fields: {string.Join(", ", input.Fields.Select(f => f.Name))}).");
        var row = shape.Row;
        var columns = new OutboxColumns(
            Resolve(row, nameof(OutboxRouterOptions.IdColumn), _options.IdColumn, global::Avro.Schema.Type.String),
            Resolve(row, nameof(OutboxRouterOptions.TopicColumn), _options.TopicColumn, global::Avro.Schema.Type.String),
            Resolve(row, nameof(OutboxRouterOptions.EventKeyColumn), _options.EventKeyColumn, global::Avro.Schema.Type.Bytes),
            Resolve(row, nameof(OutboxRouterOptions.EventTypeColumn), _options.EventTypeColumn, global::Avro.Schema.Type.String),
            Resolve(row, nameof(OutboxRouterOptions.PayloadColumn), _options.PayloadColumn, global::Avro.Schema.Type.Bytes),
            Resolve(row, nameof(OutboxRouterOptions.HeadersColumn), _options.HeadersColumn, global::Avro.Schema.Type.String));
        return new PlannedOutboxRouter(this, input, shape, new FieldRangeFinder(input), new FieldRangeFinder(row), columns, _options.Updates);
    }

    private OutboxColumn Resolve(global::Avro.RecordSchema row, string setting, string name, global::Avro.Schema.Type expected)
    {
        var field = Layouts.Find(row, name) ?? throw new TransformPlanException(
            $"{Name}: the outbox row {row.Fullname} has no column '{name}' (OutboxRouterOptions.{setting}); its columns: "
            + $"{string.Join(", ", row.Fields.Select(AvroNames.OriginalName))}.");
        var schema = field.Schema;
        var nullBranch = -1;
        if (schema is global::Avro.UnionSchema { Count: 2 } union && (union[0].Tag == global::Avro.Schema.Type.Null) != (union[1].Tag == global::Avro.Schema.Type.Null))
        {
            nullBranch = union[0].Tag == global::Avro.Schema.Type.Null ? 0 : 1;
            schema = union[1 - nullBranch];
        }

        var tag = schema is global::Avro.LogicalSchema logical ? logical.BaseSchema.Tag : schema.Tag;
        if (tag != expected)
        {
            var wanted = expected == global::Avro.Schema.Type.String ? "string" : "bytes";
            throw new TransformPlanException(
                $"{Name}: the column '{name}' (OutboxRouterOptions.{setting}) of {row.Fullname} is {Describe(field.Schema)}; the router needs {wanted} (or null and {wanted}).");
        }

        return new OutboxColumn(field.Pos, nullBranch, name);
    }

    private static string Describe(global::Avro.Schema schema) => schema switch
    {
        global::Avro.UnionSchema union => "[" + string.Join(", ", union.Schemas.Select(Describe)) + "]",
        global::Avro.LogicalSchema logical => $"{logical.BaseSchema.Name} ({logical.LogicalTypeName})",
        global::Avro.NamedSchema named => $"{named.Tag.ToString().ToLowerInvariant()} {named.Fullname}",
        _ => schema.Name,
    };
}

/// <summary>Where one outbox column is in the row: its position, and the union branch that is null (-1 when not nullable).</summary>
internal readonly record struct OutboxColumn(int Index, int NullBranch, string Name);

/// <summary>The columns the router reads.</summary>
internal sealed record OutboxColumns(OutboxColumn Id, OutboxColumn Topic, OutboxColumn Key, OutboxColumn Type, OutboxColumn Payload, OutboxColumn Headers)
{
    /// <summary>How many leading fields of the row must be walked to reach every column.</summary>
    public int Span { get; } = Math.Max(Math.Max(Math.Max(Id.Index, Topic.Index), Math.Max(Key.Index, Type.Index)), Math.Max(Payload.Index, Headers.Index)) + 1;
}

/// <summary>
/// A planned outbox router. It writes [framed value][key][headers JSON] to the output and describes it in the
/// <see cref="RecordContext"/> (<see cref="RecordContext.IsRaw"/> and the lengths); nothing is allocated per record once
/// the topic names are cached.
/// </summary>
internal sealed class PlannedOutboxRouter(
    Transform transform,
    global::Avro.RecordSchema input,
    EnvelopeShape shape,
    FieldRangeFinder envelope,
    FieldRangeFinder row,
    OutboxColumns columns,
    OutboxUpdateHandling updates)
    : PlannedTransform(transform, input, OutboxRouterTransform.RawOutputSchema)
{
    private const int MaxCachedTopics = 10_000;
    private const int MaxTopicLength = 249;

    private readonly ConcurrentDictionary<string, string> _topics = new(StringComparer.Ordinal);
    private readonly int _envelopeSpan = Math.Max(shape.Op, shape.After) + 1;

    internal override bool EmitsRawRecords => true;

    public override TransformOutcome Execute(ReadOnlySpan<byte> input, IBufferWriter<byte> output, ref RecordContext context)
    {
        ArgumentNullException.ThrowIfNull(output);
        Span<Range> top = stackalloc Range[_envelopeSpan];
        envelope.GetFieldRanges(input, top, _envelopeSpan);
        var op = input[top[shape.Op]];

        // "op" is a one-character string: its zigzag length 1 (0x02), then the character.
        if (op.Length != 2 || op[0] != 2)
        {
            throw UnknownOp(op);
        }

        switch (op[1])
        {
            case (byte)'c' or (byte)'r':
                break;
            case (byte)'d' or (byte)'t':
                return TransformOutcome.Drop;
            case (byte)'u' when updates == OutboxUpdateHandling.Drop:
                return TransformOutcome.Drop;
            case (byte)'u':
                throw new TransformException("an update of an outbox row is refused (OutboxRouterOptions.Updates = Reject); outbox rows are written once and published on insert.");
            default:
                throw UnknownOp(op);
        }

        var image = input[top[shape.After]];
        var imageReader = new AvroReader(image);
        if (imageReader.ReadUnionIndex(2) != shape.AfterRowBranch)
        {
            throw new TransformException($"the change event (op '{(char)op[1]}') has no after-image, so there is no outbox row to publish.");
        }

        var rowBytes = image[imageReader.Position..];
        Span<Range> fields = stackalloc Range[columns.Span];
        row.GetFieldRanges(rowBytes, fields, columns.Span);

        var hasId = TryRead(rowBytes[fields[columns.Id.Index]], columns.Id, isString: true, out var id);
        if (!TryRead(rowBytes[fields[columns.Topic.Index]], columns.Topic, isString: true, out var topic))
        {
            throw new TransformException($"the outbox row{Describe(hasId, id)} has a null topic (column '{columns.Topic.Name}'); it cannot be routed.");
        }

        if (!TryRead(rowBytes[fields[columns.Payload.Index]], columns.Payload, isString: false, out var payload))
        {
            throw new TransformException($"the outbox row{Describe(hasId, id)} has a null payload (column '{columns.Payload.Name}'); an outbox event needs a value.");
        }

        if (!ConfluentWireFormat.TryReadHeader(payload, out _, out _))
        {
            throw new TransformException(payload.Length < ConfluentWireFormat.HeaderLength
                ? string.Create(CultureInfo.InvariantCulture, $"the payload of the outbox row{Describe(hasId, id)} (column '{columns.Payload.Name}') has {payload.Length} bytes; the Confluent wire format needs a 5-byte header (magic byte 0, schema id) before the Avro datum.")
                : string.Create(CultureInfo.InvariantCulture, $"the payload of the outbox row{Describe(hasId, id)} (column '{columns.Payload.Name}') starts with 0x{payload[0]:X2}, not the magic byte 0x00 of the Confluent wire format."));
        }

        var hasKey = TryRead(rowBytes[fields[columns.Key.Index]], columns.Key, isString: false, out var key);
        var hasType = TryRead(rowBytes[fields[columns.Type.Index]], columns.Type, isString: true, out var type);
        var hasHeaders = TryRead(rowBytes[fields[columns.Headers.Index]], columns.Headers, isString: true, out var headers) && !headers.IsEmpty;

        var topicName = TopicFor(topic, hasId, id);
        var headersEnd = 0;
        var headersHaveProperties = false;
        var headersHaveId = false;
        var headersHaveType = false;
        if (hasHeaders)
        {
            ScanHeaders(headers, hasId, id, out headersEnd, out headersHaveProperties, out headersHaveId, out headersHaveType);
        }

        // Everything that can fail has been checked: write value, key and headers.
        output.Write(payload);
        if (hasKey)
        {
            output.Write(key);
        }

        var addId = hasId && !headersHaveId;
        var addType = hasType && !headersHaveType;
        int headersLength;
        if (!addId && !addType)
        {
            if (hasHeaders)
            {
                output.Write(headers);
            }

            headersLength = hasHeaders ? headers.Length : 0;
        }
        else
        {
            // The JSON up to its closing brace, the missing headers, then the closing brace (and what followed it).
            var head = hasHeaders ? headers[..headersEnd] : "{"u8;
            var tail = hasHeaders ? headers[headersEnd..] : "}"u8;
            output.Write(head);
            headersLength = head.Length;
            var separate = hasHeaders && headersHaveProperties;
            if (addId)
            {
                headersLength += WriteHeader(output, separate ? ",\"ce_id\":"u8 : "\"ce_id\":"u8, id);
                separate = true;
            }

            if (addType)
            {
                headersLength += WriteHeader(output, separate ? ",\"ce_type\":"u8 : "\"ce_type\":"u8, type);
            }

            output.Write(tail);
            headersLength += tail.Length;
        }

        context.Topic = topicName;
        context.IsRaw = true;
        context.RawValueLength = payload.Length;
        context.RawKeyLength = hasKey ? key.Length : -1;
        context.RawHeadersLength = headersLength;
        return TransformOutcome.Emit;
    }

    /// <summary>Reads a string or bytes column, possibly nullable; <see langword="false"/> for null.</summary>
    private static bool TryRead(ReadOnlySpan<byte> encoded, in OutboxColumn column, bool isString, out ReadOnlySpan<byte> value)
    {
        var reader = new AvroReader(encoded);
        if (column.NullBranch >= 0 && reader.ReadUnionIndex(2) == column.NullBranch)
        {
            value = default;
            return false;
        }

        value = isString ? reader.ReadStringUtf8() : reader.ReadBytes();
        return true;
    }

    /// <summary>The topic name, cached per distinct value; checked against Kafka's rules.</summary>
    private string TopicFor(ReadOnlySpan<byte> utf8, bool hasId, ReadOnlySpan<byte> id)
    {
        if (!IsLegalTopic(utf8))
        {
            var text = Encoding.UTF8.GetString(utf8);
            _ = TopicNames.IsValid(text, out var reason);
            throw new TransformException($"the outbox row{Describe(hasId, id)} names the topic '{text}' (column '{columns.Topic.Name}'): {reason ?? "not a valid topic name"}.");
        }

        Span<char> chars = stackalloc char[MaxTopicLength];
        var length = Encoding.ASCII.GetChars(utf8, chars);
        var lookup = _topics.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(chars[..length], out var topic))
        {
            return topic;
        }

        topic = new string(chars[..length]);
        if (_topics.Count < MaxCachedTopics)
        {
            topic = _topics.GetOrAdd(topic, topic);
        }

        return topic;
    }

    private static bool IsLegalTopic(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty || utf8.Length > MaxTopicLength || utf8.SequenceEqual("."u8) || utf8.SequenceEqual(".."u8))
        {
            return false;
        }

        foreach (var b in utf8)
        {
            if (b is not ((>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9') or (byte)'.' or (byte)'_' or (byte)'-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Checks that the headers are one JSON object of names to strings, finds where its closing brace is and whether it has
    /// <c>ce_id</c> and <c>ce_type</c>.
    /// </summary>
    private void ScanHeaders(ReadOnlySpan<byte> json, bool hasId, ReadOnlySpan<byte> id, out int end, out bool hasProperties, out bool hasCeId, out bool hasCeType)
    {
        hasProperties = false;
        hasCeId = false;
        hasCeType = false;
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw BadHeaders(hasId, id, $"they are a JSON {reader.TokenType}, not an object");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                hasProperties = true;
                var name = reader.ValueSpan;
                hasCeId |= reader.ValueTextEquals("ce_id"u8);
                hasCeType |= reader.ValueTextEquals("ce_type"u8);
                if (!reader.Read() || reader.TokenType != JsonTokenType.String)
                {
                    throw BadHeaders(hasId, id, $"the header '{Encoding.UTF8.GetString(name)}' is a JSON {reader.TokenType}, not a string");
                }
            }

            end = checked((int)reader.TokenStartIndex);

            // Anything but white space after the object throws.
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            throw new TransformException($"the headers of the outbox row{Describe(hasId, id)} (column '{columns.Headers.Name}') are not valid JSON: {e.Message}", e);
        }
    }

    private TransformException BadHeaders(bool hasId, ReadOnlySpan<byte> id, string reason) =>
        new($"the headers of the outbox row{Describe(hasId, id)} (column '{columns.Headers.Name}') must be a JSON object of names to strings: {reason}.");

    /// <summary>Writes <paramref name="name"/> (with its colon) and <paramref name="value"/> as a JSON string.</summary>
    private static int WriteHeader(IBufferWriter<byte> output, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        var length = name.Length + 2;
        foreach (var b in value)
        {
            length += b switch
            {
                (byte)'"' or (byte)'\\' => 2,
                < 0x20 => 6,
                _ => 1,
            };
        }

        var span = output.GetSpan(length);
        name.CopyTo(span);
        var i = name.Length;
        span[i++] = (byte)'"';
        foreach (var b in value)
        {
            if (b is (byte)'"' or (byte)'\\')
            {
                span[i++] = (byte)'\\';
                span[i++] = b;
            }
            else if (b < 0x20)
            {
                "\\u00"u8.CopyTo(span[i..]);
                span[i + 4] = (byte)"0123456789abcdef"[b >> 4];
                span[i + 5] = (byte)"0123456789abcdef"[b & 0xF];
                i += 6;
            }
            else
            {
                span[i++] = b;
            }
        }

        span[i++] = (byte)'"';
        output.Advance(i);
        return i;
    }

    private static string Describe(bool hasId, ReadOnlySpan<byte> id) => hasId ? " " + Encoding.UTF8.GetString(id) : string.Empty;

    private static TransformException UnknownOp(ReadOnlySpan<byte> op)
    {
        var reader = new AvroReader(op);
        return new TransformException($"the change event has op '{reader.ReadString()}'; the outbox router knows c, r, u, d and t.");
    }
}
