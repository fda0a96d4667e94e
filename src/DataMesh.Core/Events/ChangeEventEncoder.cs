using System.Buffers;
using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Text;
using DataMesh.Avro;
using DataMesh.Sources;

namespace DataMesh.Events;

/// <summary>
/// Encodes the keys and envelopes of one table's change events in the Confluent wire format from ordinary .NET
/// values, one value per column in table order. Connectors that decode a log in place write the same bytes with
/// <see cref="AvroWriter"/> and <see cref="WriteSource(ref AvroWriter, in SourceValues)"/>; this type is their
/// reference and the path for snapshots, tests and tools.
/// </summary>
/// <remarks>
/// The .NET value each kind takes: Boolean <see cref="bool"/>; Int32 <see cref="int"/> (or a smaller integer);
/// Int64 <see cref="long"/> (or a smaller integer); UInt64 <see cref="ulong"/>; Float32 <see cref="float"/>;
/// Float64 <see cref="double"/>; Decimal and VariableDecimal <see cref="decimal"/>, a decimal text, or
/// (Decimal only) a <see cref="BigInteger"/> unscaled value; String, Json, Text, Interval, Bits and TimeWithOffset
/// <see cref="string"/>; Bytes <see cref="byte"/>[] or <see cref="ReadOnlyMemory{T}"/>; Uuid <see cref="Guid"/>;
/// Date <see cref="DateOnly"/> or <see cref="int"/> days; Time <see cref="TimeOnly"/>, <see cref="TimeSpan"/> or
/// <see cref="long"/> microseconds; DurationMicros <see cref="TimeSpan"/> or <see cref="long"/>; LocalTimestamp
/// <see cref="DateTime"/> or <see cref="long"/> microseconds; Timestamp <see cref="DateTimeOffset"/>, a UTC
/// <see cref="DateTime"/> or <see cref="long"/> microseconds; Geometry <see cref="GeometryValue"/>; Array any
/// <see cref="IEnumerable"/> of element values. A value of another type, a NULL in a NOT NULL column, or a value
/// the Avro type cannot hold exactly throws <see cref="ArgumentException"/> naming the table and column.
/// </remarks>
public sealed class ChangeEventEncoder
{
    private readonly ChangeEventSchemas _schemas;
    private readonly SourceTable _table;

    /// <summary>Creates an encoder for registered schemas.</summary>
    /// <param name="schemas">The table's schemas.</param>
    /// <param name="keySchemaId">The id under which <see cref="ChangeEventSchemas.KeySchema"/> was registered (ignored for tables without a key).</param>
    /// <param name="valueSchemaId">The id under which <see cref="ChangeEventSchemas.EnvelopeSchema"/> was registered.</param>
    public ChangeEventEncoder(ChangeEventSchemas schemas, int keySchemaId, int valueSchemaId)
    {
        ArgumentNullException.ThrowIfNull(schemas);
        _schemas = schemas;
        _table = new SourceTable(new SourceTableInfo(schemas.Table, schemas.Table.Schema, null), schemas);
        KeySchemaId = keySchemaId;
        ValueSchemaId = valueSchemaId;
    }

    /// <summary>The schemas this encoder writes.</summary>
    public ChangeEventSchemas Schemas => _schemas;

    /// <summary>The key schema's id.</summary>
    public int KeySchemaId { get; }

    /// <summary>The envelope schema's id.</summary>
    public int ValueSchemaId { get; }

    /// <summary>Writes the key of a row: its key columns as the key record, framed.</summary>
    /// <param name="output">The destination.</param>
    /// <param name="row">The row's values in table order (only the key columns are read).</param>
    /// <returns>False, writing nothing, when the table has no key (its events have a null Kafka key).</returns>
    public bool WriteKey(IBufferWriter<byte> output, IReadOnlyList<object?> row)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(row);
        if (_schemas.KeySchema is null)
        {
            return false;
        }

        CheckWidth(row, "key row");
        ConfluentWireFormat.WriteHeader(output, KeySchemaId);
        var writer = new AvroWriter(output);
        var image = new ObjectRowImage(_schemas, row);
        try
        {
            EnvelopeWriter.WriteKey(ref writer, _table, image, image, hasFallback: false);
        }
        catch (SourceValueException ex)
        {
            throw new ArgumentException(ex.Message, ex);
        }

        writer.Flush();
        return true;
    }

    /// <summary>Writes an envelope, framed.</summary>
    /// <param name="output">The destination.</param>
    /// <param name="operation">The operation.</param>
    /// <param name="before">The row before the change (updates with a before-image, deletes), or null.</param>
    /// <param name="after">The row after the change (creates, updates, reads), or null.</param>
    /// <param name="source">The source block's per-event values.</param>
    /// <param name="timestampMs">When the connector processed the event, in milliseconds since the Unix epoch.</param>
    public void WriteValue(IBufferWriter<byte> output, ChangeOperation operation, IReadOnlyList<object?>? before, IReadOnlyList<object?>? after, in SourceValues source, long timestampMs)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (before is not null)
        {
            CheckWidth(before, "before");
        }

        if (after is not null)
        {
            CheckWidth(after, "after");
        }

        ConfluentWireFormat.WriteHeader(output, ValueSchemaId);
        var writer = new AvroWriter(output);
        var beforeImage = new ObjectRowImage(_schemas, before ?? []);
        var afterImage = new ObjectRowImage(_schemas, after ?? []);
        try
        {
            EnvelopeWriter.WriteRow(ref writer, _table, before is not null, beforeImage, beforeImage, hasFallback: false);
            EnvelopeWriter.WriteRow(ref writer, _table, after is not null, afterImage, afterImage, hasFallback: false);
        }
        catch (SourceValueException ex)
        {
            throw new ArgumentException(ex.Message, ex);
        }

        WriteSource(ref writer, source);
        EnvelopeWriter.WriteTail(ref writer, operation, timestampMs);
        writer.Flush();
    }

    /// <summary>Writes the <c>source</c> block of an envelope, after <c>before</c> and <c>after</c>.</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="source">The per-event values.</param>
    public void WriteSource(ref AvroWriter writer, in SourceValues source)
    {
        var description = _schemas.Source;
        EnvelopeWriter.WriteCommonSource(ref writer, _table.ConnectorUtf8, _table.NameUtf8, source.TimestampMs,
            source.Snapshot switch { null or "false" => SnapshotMarker.None, "true" => SnapshotMarker.Snapshot, "last" => SnapshotMarker.Last, "incremental" => SnapshotMarker.Incremental, _ => throw new ArgumentException($"SourceValues.Snapshot '{source.Snapshot}' is not one of false, true, last, incremental.", nameof(source)) },
            Encoding.UTF8.GetBytes(source.Database ?? throw new ArgumentException("SourceValues.Database is required.", nameof(source))),
            source.Schema is null ? null : Encoding.UTF8.GetBytes(source.Schema), source.Table is null ? null : Encoding.UTF8.GetBytes(source.Table), source.TransactionId);
        var fields = description.PositionFields;
        var values = source.Position ?? [];
        if (values.Count != fields.Count)
        {
            throw new ArgumentException($"The source block of connector '{description.Connector}' has {fields.Count} position fields ({string.Join(", ", fields.Select(f => f.Name))}); {values.Count} values were given.", nameof(source));
        }

        for (var i = 0; i < fields.Count; i++)
        {
            var value = values[i];
            switch (fields[i].Type, value)
            {
                case (SourceFieldType.Long, long l): writer.WriteLong(l); break;
                case (SourceFieldType.String, string s): writer.WriteString(s); break;
                case (SourceFieldType.NullableLong or SourceFieldType.NullableString, null): writer.WriteUnionIndex(0); break;
                case (SourceFieldType.NullableLong, long l): writer.WriteUnionIndex(1); writer.WriteLong(l); break;
                case (SourceFieldType.NullableString, string s): writer.WriteUnionIndex(1); writer.WriteString(s); break;
                default:
                    throw new ArgumentException($"Source position field '{fields[i].Name}' is {fields[i].Type}; got {(value is null ? "null" : value.GetType().Name)}.", nameof(source));
            }
        }
    }

    private void CheckWidth(IReadOnlyList<object?> row, string what)
    {
        if (row.Count != _schemas.Table.Columns.Count)
        {
            throw new ArgumentException($"The {what} of table '{_schemas.Table.Schema}.{_schemas.Table.Name}' has {row.Count} values; the table has {_schemas.Table.Columns.Count} columns.");
        }
    }

    internal static void WriteValue(ref AvroWriter writer, DataType type, object value, DecimalHandling decimals)
    {
        switch (type.Kind, value)
        {
            case (DataTypeKind.Boolean, bool b): writer.WriteBoolean(b); break;
            case (DataTypeKind.Int32, int or short or sbyte or byte or ushort): writer.WriteInt(Convert.ToInt32(value, CultureInfo.InvariantCulture)); break;
            case (DataTypeKind.Int64, long or int or short or sbyte or byte or ushort or uint): writer.WriteLong(Convert.ToInt64(value, CultureInfo.InvariantCulture)); break;
            case (DataTypeKind.UInt64, ulong u): writer.WriteDecimal(new BigInteger(u), 20); break;
            case (DataTypeKind.Float32, float f): writer.WriteFloat(f); break;
            case (DataTypeKind.Float64, double d): writer.WriteDouble(d); break;
            case (DataTypeKind.Decimal, BigInteger unscaledDigits) when decimals == DecimalHandling.String:
                writer.WriteString(ScaledText(unscaledDigits, type.Scale));
                break;
            case (DataTypeKind.Decimal or DataTypeKind.VariableDecimal, _) when decimals == DecimalHandling.String:
                writer.WriteString(DecimalText(value));
                break;
            case (DataTypeKind.Decimal, decimal m): writer.WriteDecimal(m, type.Precision, type.Scale); break;
            case (DataTypeKind.Decimal, BigInteger unscaled): writer.WriteDecimal(unscaled, type.Precision); break;
            case (DataTypeKind.Decimal, string text): writer.WriteDecimal(ParseUnscaled(text, type.Scale), type.Precision); break;
            case (DataTypeKind.VariableDecimal, decimal or string):
                var (unscaledValue, scale) = ParseVariable(DecimalText(value));
                writer.WriteInt(scale);
                writer.WriteBytes(unscaledValue.ToByteArray(isUnsigned: false, isBigEndian: true));
                break;
            case (DataTypeKind.String or DataTypeKind.Json or DataTypeKind.Text or DataTypeKind.Interval or DataTypeKind.Bits or DataTypeKind.TimeWithOffset, string s):
                writer.WriteString(s);
                break;
            case (DataTypeKind.Bytes, byte[] bytes): writer.WriteBytes(bytes); break;
            case (DataTypeKind.Bytes, ReadOnlyMemory<byte> memory): writer.WriteBytes(memory.Span); break;
            case (DataTypeKind.Uuid, Guid g): writer.WriteUuid(g); break;
            case (DataTypeKind.Date, DateOnly d): writer.WriteDate(d); break;
            case (DataTypeKind.Date, int days): writer.WriteInt(days); break;
            case (DataTypeKind.Time, TimeOnly t): writer.WriteTimeMicros(t); break;
            case (DataTypeKind.Time, TimeSpan t): writer.WriteLong(ExactMicros(t)); break;
            case (DataTypeKind.Time or DataTypeKind.DurationMicros or DataTypeKind.LocalTimestamp or DataTypeKind.Timestamp, long micros): writer.WriteLong(micros); break;
            case (DataTypeKind.DurationMicros, TimeSpan t): writer.WriteLong(ExactMicros(t)); break;
            case (DataTypeKind.LocalTimestamp, DateTime dt): writer.WriteLocalTimestampMicros(dt); break;
            case (DataTypeKind.Timestamp, DateTimeOffset dto): writer.WriteTimestampMicros(dto); break;
            case (DataTypeKind.Timestamp, DateTime { Kind: DateTimeKind.Utc } dt): writer.WriteTimestampMicros(dt); break;
            case (DataTypeKind.Geometry, GeometryValue g):
                writer.WriteBytes(g.Wkb.Span);
                if (g.Srid is { } srid)
                {
                    writer.WriteUnionIndex(1);
                    writer.WriteInt(srid);
                }
                else
                {
                    writer.WriteUnionIndex(0);
                }

                break;
            case (DataTypeKind.Array, IEnumerable items and not string):
                WriteArray(ref writer, type.ElementType!, items, decimals);
                break;
            default:
                throw new ArgumentException($"a {type.Kind} column cannot take a value of type {value.GetType().Name} (see ChangeEventEncoder's remarks for the types each kind takes).");
        }
    }

    private static void WriteArray(ref AvroWriter writer, DataType elementType, IEnumerable items, DecimalHandling decimals)
    {
        var list = items.Cast<object?>().ToList();
        if (list.Count > 0)
        {
            writer.WriteBlockCount(list.Count);
            foreach (var item in list)
            {
                if (item is null)
                {
                    writer.WriteUnionIndex(0);
                }
                else
                {
                    writer.WriteUnionIndex(1);
                    WriteValue(ref writer, elementType, item, decimals);
                }
            }
        }

        writer.WriteBlockEnd();
    }

    private static long ExactMicros(TimeSpan value)
    {
        if (value.Ticks % TimeSpan.TicksPerMicrosecond != 0)
        {
            throw new ArgumentException($"{value} is finer than a microsecond.");
        }

        return value.Ticks / TimeSpan.TicksPerMicrosecond;
    }

    private static string DecimalText(object value) => value switch
    {
        decimal m => m.ToString(CultureInfo.InvariantCulture),
        BigInteger b => b.ToString(CultureInfo.InvariantCulture),
        string s when IsSpecial(s) || TryParseDecimalText(s, out _, out _) => s,
        string s => throw new FormatException($"'{s}' is not a decimal number."),
        _ => throw new ArgumentException($"a decimal column cannot take a value of type {value.GetType().Name}."),
    };

    /// <summary>The decimal text of an unscaled value at a scale: 1234 at scale 2 is 12.34.</summary>
    private static string ScaledText(BigInteger unscaled, int scale)
    {
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        var text = scale == 0 ? digits : string.Concat(digits.AsSpan(0, digits.Length - scale), ".", digits.AsSpan(digits.Length - scale));
        return unscaled.Sign < 0 ? "-" + text : text;
    }

    private static bool IsSpecial(string text) => text is "NaN" or "Infinity" or "-Infinity";

    /// <summary>The unscaled value of a decimal text at a fixed scale; more fractional digits than the scale is an error, never a rounding.</summary>
    private static BigInteger ParseUnscaled(string text, int scale)
    {
        var (unscaled, textScale) = ParseVariable(text);
        if (textScale > scale)
        {
            // Trailing zeros beyond the scale are exact; anything else would be rounded.
            var excess = BigInteger.Pow(10, textScale - scale);
            if (!(unscaled % excess).IsZero)
            {
                throw new ArgumentException($"'{text}' has more than {scale} digits after the point.");
            }

            return unscaled / excess;
        }

        return unscaled * BigInteger.Pow(10, scale - textScale);
    }

    private static (BigInteger Unscaled, int Scale) ParseVariable(string text)
    {
        if (IsSpecial(text))
        {
            throw new ArgumentException($"'{text}' has no Avro decimal form; set DecimalHandling.String to carry it as text.");
        }

        if (!TryParseDecimalText(text, out var unscaled, out var scale))
        {
            throw new FormatException($"'{text}' is not a decimal number.");
        }

        return (unscaled, scale);
    }

    private static bool TryParseDecimalText(string text, out BigInteger unscaled, out int scale)
    {
        unscaled = default;
        scale = 0;
        var span = text.AsSpan();
        var negative = span.Length > 0 && span[0] == '-';
        if (span.Length > 0 && span[0] is '-' or '+')
        {
            span = span[1..];
        }

        var point = span.IndexOf('.');
        var integral = point < 0 ? span : span[..point];
        var fraction = point < 0 ? [] : span[(point + 1)..];
        if (integral.Length + fraction.Length == 0 || integral.ContainsAnyExceptInRange('0', '9') || fraction.ContainsAnyExceptInRange('0', '9'))
        {
            return false;
        }

        var digits = string.Concat(integral, fraction);
        unscaled = BigInteger.Parse(digits.Length == 0 ? "0" : digits, NumberStyles.None, CultureInfo.InvariantCulture);
        if (negative)
        {
            unscaled = -unscaled;
        }

        scale = fraction.Length;
        return true;
    }
}

/// <summary>A row of .NET values (see <see cref="ChangeEventEncoder"/>'s remarks) as a row image.</summary>
internal readonly ref struct ObjectRowImage(ChangeEventSchemas schemas, IReadOnlyList<object?> row) : IRowImage
{
    private readonly ChangeEventSchemas _schemas = schemas;
    private readonly IReadOnlyList<object?> _row = row;

    public ColumnValueState State(int column) => _row[column] is null ? ColumnValueState.Null : ColumnValueState.Value;

    public void WriteValue(ref AvroWriter writer, int column) =>
        ChangeEventEncoder.WriteValue(ref writer, _schemas.Table.Columns[column].Type, _row[column]!, _schemas.Options.DecimalHandling);
}

/// <summary>A geometry value: OGC well-known binary and, if known, its spatial reference id.</summary>
/// <param name="Wkb">The well-known binary.</param>
/// <param name="Srid">The spatial reference id, or null.</param>
public readonly record struct GeometryValue(ReadOnlyMemory<byte> Wkb, int? Srid);
