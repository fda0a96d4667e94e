using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Text;
using Avro;
using Avro.Generic;
using Avro.IO;
using DataMesh.Avro;

namespace DataMesh.Tests.Avro;

/// <summary>
/// The test model: values are Apache.Avro's generic objects (GenericRecord, GenericEnum, GenericFixed, object[],
/// Dictionary, AvroDecimal, Guid, DateTime, TimeSpan). These helpers write them with OUR writer, read them with OUR
/// reader, write/read them with Apache.Avro, and compare them exactly.
/// </summary>
internal static class AvroTestModel
{
    /// <summary>A fixed(16) whose name starts with this is written and read through the uuid-on-fixed methods.</summary>
    public const string UuidFixedPrefix = "uuidfixed";

    public static byte[] ApacheWrite(Schema schema, object? value)
    {
        using var stream = new MemoryStream();
        var writer = new GenericDatumWriter<object?>(schema);
        writer.Write(value, new BinaryEncoder(stream));
        return stream.ToArray();
    }

    public static object? ApacheRead(Schema schema, byte[] bytes)
    {
        using var stream = new MemoryStream(bytes);
        var reader = new GenericDatumReader<object?>(schema, schema);
        var value = reader.Read(null, new BinaryDecoder(stream));
        if (stream.Position != bytes.Length)
        {
            throw new InvalidOperationException($"Apache.Avro read {stream.Position} of {bytes.Length} bytes.");
        }

        return value;
    }

    /// <summary>Writes with our writer. <paramref name="blocks"/> null = one block an array (canonical); otherwise arrays and maps are cut into random blocks, some sized.</summary>
    public static byte[] OurWrite(Schema schema, object? value, Random? blocks, Random variants)
    {
        var output = new ArrayBufferWriter<byte>(16);
        var writer = new AvroWriter(output);
        Write(ref writer, schema, value, blocks, variants);
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }

    public static object? OurRead(Schema schema, ReadOnlySpan<byte> bytes, Random variants, out int consumed)
    {
        var reader = new AvroReader(bytes);
        var value = Read(ref reader, schema, variants);
        consumed = reader.Position;
        return value;
    }

    public static void Write(ref AvroWriter w, Schema schema, object? value, Random? blocks, Random variants)
    {
        switch (schema)
        {
            case LogicalSchema logical:
                WriteLogical(ref w, logical, value, variants);
                return;
            case UnionSchema union:
            {
                var index = BranchOf(union, value);
                w.WriteUnionIndex(index);
                Write(ref w, union[index], value, blocks, variants);
                return;
            }

            case RecordSchema record:
            {
                var r = (GenericRecord)value!;
                foreach (var field in record.Fields)
                {
                    Write(ref w, field.Schema, r[field.Name], blocks, variants);
                }

                return;
            }

            case EnumSchema enumSchema:
                w.WriteEnum(enumSchema.Ordinal(((GenericEnum)value!).Value));
                return;
            case FixedSchema fixedSchema:
            {
                var bytes = ((GenericFixed)value!).Value;
                if (fixedSchema.Name.StartsWith(UuidFixedPrefix, StringComparison.Ordinal))
                {
                    w.WriteUuidFixed(new Guid(bytes, bigEndian: true));
                }
                else
                {
                    w.WriteFixed(bytes, fixedSchema.Size);
                }

                return;
            }

            case ArraySchema array:
            {
                var items = (Array)value!;
                WriteBlocks(ref w, items.Length, blocks, variants, (ref AvroWriter iw, int i, Random? b, Random v) => Write(ref iw, array.ItemSchema, items.GetValue(i), b, v));
                return;
            }

            case MapSchema map:
            {
                var entries = ((IDictionary<string, object?>)value!).ToArray();
                WriteBlocks(ref w, entries.Length, blocks, variants, (ref AvroWriter iw, int i, Random? b, Random v) =>
                {
                    WriteString(ref iw, entries[i].Key, v);
                    Write(ref iw, map.ValueSchema, entries[i].Value, b, v);
                });
                return;
            }

            default:
                switch (schema.Tag)
                {
                    case Schema.Type.Null:
                        w.WriteNull();
                        return;
                    case Schema.Type.Boolean:
                        w.WriteBoolean((bool)value!);
                        return;
                    case Schema.Type.Int:
                        w.WriteInt((int)value!);
                        return;
                    case Schema.Type.Long:
                        w.WriteLong((long)value!);
                        return;
                    case Schema.Type.Float:
                        w.WriteFloat((float)value!);
                        return;
                    case Schema.Type.Double:
                        w.WriteDouble((double)value!);
                        return;
                    case Schema.Type.Bytes:
                        w.WriteBytes((byte[])value!);
                        return;
                    case Schema.Type.String:
                        WriteString(ref w, (string)value!, variants);
                        return;
                    default:
                        throw new InvalidOperationException(schema.Tag.ToString());
                }
        }
    }

    private delegate void ItemWriter(ref AvroWriter writer, int index, Random? blocks, Random variants);

    private static void WriteBlocks(ref AvroWriter w, int count, Random? blocks, Random variants, ItemWriter item)
    {
        if (blocks is null)
        {
            w.WriteArrayStart(count);
            for (var i = 0; i < count; i++)
            {
                item(ref w, i, blocks, variants);
            }

            w.WriteArrayEnd();
            return;
        }

        var next = 0;
        while (next < count)
        {
            var size = blocks.Next(1, count - next + 1);
            if (blocks.Next(2) == 0)
            {
                w.WriteBlockCount(size);
                for (var i = next; i < next + size; i++)
                {
                    item(ref w, i, blocks, variants);
                }
            }
            else
            {
                var scratch = new ArrayBufferWriter<byte>();
                var inner = new AvroWriter(scratch);
                for (var i = next; i < next + size; i++)
                {
                    item(ref inner, i, blocks, variants);
                }

                inner.Flush();
                w.WriteSizedBlock(size, scratch.WrittenSpan);
            }

            next += size;
        }

        w.WriteBlockEnd();
    }

    private static void WriteString(ref AvroWriter w, string value, Random variants)
    {
        if (variants.Next(2) == 0)
        {
            w.WriteString(value);
        }
        else
        {
            w.WriteStringUtf8(Encoding.UTF8.GetBytes(value));
        }
    }

    private static void WriteLogical(ref AvroWriter w, LogicalSchema logical, object? value, Random variants)
    {
        switch (logical.LogicalTypeName)
        {
            case "decimal":
            {
                var d = (AvroDecimal)value!;
                var precision = int.Parse(logical.GetProperty("precision"), CultureInfo.InvariantCulture);
                var scale = GetScale(logical);
                var size = logical.BaseSchema is FixedSchema f ? f.Size : 0;
                if (variants.Next(3) != 0 && TryToSystemDecimal(d.UnscaledValue, scale, variants, out var systemDecimal))
                {
                    if (size == 0)
                    {
                        w.WriteDecimal(systemDecimal, precision, scale);
                    }
                    else
                    {
                        w.WriteDecimalFixed(systemDecimal, precision, scale, size);
                    }
                }
                else if (size == 0)
                {
                    w.WriteDecimal(d.UnscaledValue, precision);
                }
                else
                {
                    w.WriteDecimalFixed(d.UnscaledValue, precision, size);
                }

                return;
            }

            case "uuid":
                w.WriteUuid((Guid)value!);
                return;
            case "date":
                w.WriteDate(DateOnly.FromDateTime((DateTime)value!));
                return;
            case "time-millis":
            {
                var t = (TimeSpan)value!;
                if (variants.Next(2) == 0)
                {
                    w.WriteTimeMillis(TimeOnly.FromTimeSpan(t));
                }
                else
                {
                    w.WriteTimeMillis((int)(t.Ticks / TimeSpan.TicksPerMillisecond));
                }

                return;
            }

            case "time-micros":
            {
                var t = (TimeSpan)value!;
                if (variants.Next(2) == 0)
                {
                    w.WriteTimeMicros(TimeOnly.FromTimeSpan(t));
                }
                else
                {
                    w.WriteTimeMicros(t.Ticks / TimeSpan.TicksPerMicrosecond);
                }

                return;
            }

            case "timestamp-millis":
            {
                var t = (DateTime)value!;
                switch (variants.Next(3))
                {
                    case 0:
                        w.WriteTimestampMillis(t);
                        break;
                    case 1:
                        w.WriteTimestampMillis(new DateTimeOffset(t.Ticks, TimeSpan.Zero));
                        break;
                    default:
                        w.WriteTimestampMillis((t.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond);
                        break;
                }

                return;
            }

            case "timestamp-micros":
            {
                var t = (DateTime)value!;
                switch (variants.Next(3))
                {
                    case 0:
                        w.WriteTimestampMicros(t);
                        break;
                    case 1:
                        w.WriteTimestampMicros(new DateTimeOffset(t.Ticks, TimeSpan.Zero));
                        break;
                    default:
                        w.WriteTimestampMicros((t.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond);
                        break;
                }

                return;
            }

            case "local-timestamp-millis":
            {
                var t = (DateTime)value!;
                if (variants.Next(2) == 0)
                {
                    w.WriteLocalTimestampMillis(DateTime.SpecifyKind(t, DateTimeKind.Unspecified));
                }
                else
                {
                    w.WriteLocalTimestampMillis((t.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond);
                }

                return;
            }

            case "local-timestamp-micros":
            {
                var t = (DateTime)value!;
                if (variants.Next(2) == 0)
                {
                    w.WriteLocalTimestampMicros(DateTime.SpecifyKind(t, DateTimeKind.Unspecified));
                }
                else
                {
                    w.WriteLocalTimestampMicros((t.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond);
                }

                return;
            }

            default:
                throw new InvalidOperationException(logical.LogicalTypeName);
        }
    }

    public static object? Read(ref AvroReader r, Schema schema, Random variants)
    {
        switch (schema)
        {
            case LogicalSchema logical:
                return ReadLogical(ref r, logical, variants);
            case UnionSchema union:
                return Read(ref r, union[r.ReadUnionIndex(union.Count)], variants);
            case RecordSchema record:
            {
                var result = new GenericRecord(record);
                foreach (var field in record.Fields)
                {
                    result.Add(field.Name, Read(ref r, field.Schema, variants));
                }

                return result;
            }

            case EnumSchema enumSchema:
                return new GenericEnum(enumSchema, enumSchema.Symbols[r.ReadEnum(enumSchema.Count)]);
            case FixedSchema fixedSchema:
                if (fixedSchema.Name.StartsWith(UuidFixedPrefix, StringComparison.Ordinal))
                {
                    var bytes = new byte[16];
                    r.ReadUuidFixed().TryWriteBytes(bytes, bigEndian: true, out _);
                    return new GenericFixed(fixedSchema, bytes);
                }

                return new GenericFixed(fixedSchema, r.ReadFixed(fixedSchema.Size).ToArray());
            case ArraySchema array:
            {
                var items = new List<object?>();
                long count;
                while ((count = r.ReadBlockCount()) != 0)
                {
                    for (long i = 0; i < count; i++)
                    {
                        items.Add(Read(ref r, array.ItemSchema, variants));
                    }
                }

                return items.ToArray();
            }

            case MapSchema map:
            {
                var entries = new Dictionary<string, object?>();
                long count;
                while ((count = r.ReadBlockCount()) != 0)
                {
                    for (long i = 0; i < count; i++)
                    {
                        var key = ReadString(ref r, variants);
                        entries[key] = Read(ref r, map.ValueSchema, variants);
                    }
                }

                return entries;
            }

            default:
                return schema.Tag switch
                {
                    Schema.Type.Null => null,
                    Schema.Type.Boolean => r.ReadBoolean(),
                    Schema.Type.Int => r.ReadInt(),
                    Schema.Type.Long => r.ReadLong(),
                    Schema.Type.Float => r.ReadFloat(),
                    Schema.Type.Double => r.ReadDouble(),
                    Schema.Type.Bytes => r.ReadBytes().ToArray(),
                    Schema.Type.String => ReadString(ref r, variants),
                    _ => throw new InvalidOperationException(schema.Tag.ToString()),
                };
        }
    }

    private static string ReadString(ref AvroReader r, Random variants) =>
        variants.Next(2) == 0 ? r.ReadString() : Encoding.UTF8.GetString(r.ReadStringUtf8());

    private static object? ReadLogical(ref AvroReader r, LogicalSchema logical, Random variants)
    {
        switch (logical.LogicalTypeName)
        {
            case "decimal":
            {
                var scale = GetScale(logical);
                var size = logical.BaseSchema is FixedSchema f ? f.Size : 0;
                var probe = r;
                var raw = size == 0 ? probe.ReadBytes() : probe.ReadFixed(size);
                var fitsDecimal = scale <= 28 && AvroDecimals.TryReadInt128(raw, out var u) && AvroDecimals.TryToDecimal(u, scale, out _);
                if (fitsDecimal && variants.Next(4) != 0)
                {
                    var d = size == 0 ? r.ReadDecimal(scale) : r.ReadDecimalFixed(size, scale);
                    return new AvroDecimal(UnscaledAt(d, scale), scale);
                }

                var unscaled = size == 0 ? r.ReadDecimalUnscaled() : r.ReadDecimalFixedUnscaled(size);
                return new AvroDecimal(unscaled, scale);
            }

            case "uuid":
                return r.ReadUuid();
            case "date":
                return new DateTime(r.ReadDate().ToDateTime(TimeOnly.MinValue).Ticks, DateTimeKind.Utc);
            case "time-millis":
                return TimeSpan.FromTicks(r.ReadTimeMillis() * TimeSpan.TicksPerMillisecond);
            case "time-micros":
                return TimeSpan.FromTicks(r.ReadTimeMicros() * TimeSpan.TicksPerMicrosecond);
            case "timestamp-millis":
                return r.ReadTimestampMillis();
            case "timestamp-micros":
                return r.ReadTimestampMicros();
            case "local-timestamp-millis":
                return r.ReadLocalTimestampMillis();
            case "local-timestamp-micros":
                return r.ReadLocalTimestampMicros();
            default:
                throw new InvalidOperationException(logical.LogicalTypeName);
        }
    }

    public static int GetScale(Schema logical)
    {
        var scale = logical.GetProperty("scale");
        return string.IsNullOrEmpty(scale) ? 0 : int.Parse(scale, CultureInfo.InvariantCulture);
    }

    /// <summary>The unscaled value of a System.Decimal at a given scale (exact; the test only calls it when it is).</summary>
    public static BigInteger UnscaledAt(decimal value, int scale)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var magnitude = ((BigInteger)(uint)bits[2] << 64) | ((BigInteger)(uint)bits[1] << 32) | (uint)bits[0];
        var valueScale = (bits[3] >> 16) & 0xFF;
        magnitude = valueScale <= scale
            ? magnitude * BigInteger.Pow(10, scale - valueScale)
            : BigInteger.Divide(magnitude, BigInteger.Pow(10, valueScale - scale));
        return bits[3] < 0 ? -magnitude : magnitude;
    }

    /// <summary>A System.Decimal equal to unscaled * 10^-scale, with a randomly chosen (but exact) internal scale.</summary>
    public static bool TryToSystemDecimal(BigInteger unscaled, int scale, Random variants, out decimal value)
    {
        // Sometimes drop trailing zeros (a smaller internal scale), sometimes add some (a larger one): the writer must rescale exactly.
        while (scale > 0 && unscaled % 10 == 0 && variants.Next(2) == 0)
        {
            unscaled /= 10;
            scale--;
        }

        while (scale < 28 && variants.Next(4) == 0 && BigInteger.Abs(unscaled * 10) < (BigInteger.One << 96))
        {
            unscaled *= 10;
            scale++;
        }

        var magnitude = BigInteger.Abs(unscaled);
        if (scale > 28 || magnitude >= BigInteger.One << 96)
        {
            value = default;
            return false;
        }

        var lo = (int)(uint)(magnitude & uint.MaxValue);
        var mid = (int)(uint)((magnitude >> 32) & uint.MaxValue);
        var hi = (int)(uint)((magnitude >> 64) & uint.MaxValue);
        value = new decimal(lo, mid, hi, unscaled.Sign < 0, (byte)scale);
        return true;
    }

    public static int BranchOf(UnionSchema union, object? value)
    {
        for (var i = 0; i < union.Count; i++)
        {
            if (Matches(union[i], value))
            {
                return i;
            }
        }

        throw new InvalidOperationException($"No branch of {union} matches {value?.GetType().Name ?? "null"}.");
    }

    private static bool Matches(Schema schema, object? value) => schema switch
    {
        LogicalSchema logical => logical.LogicalTypeName switch
        {
            "decimal" => value is AvroDecimal,
            "uuid" => value is Guid,
            "time-millis" or "time-micros" => value is TimeSpan,
            _ => value is DateTime,
        },
        RecordSchema r => value is GenericRecord g && g.Schema.Fullname == r.Fullname,
        EnumSchema e => value is GenericEnum g && g.Schema.Fullname == e.Fullname,
        FixedSchema f => value is GenericFixed g && g.Schema.Fullname == f.Fullname,
        ArraySchema => value is Array and not byte[],
        MapSchema => value is IDictionary<string, object?>,
        _ => schema.Tag switch
        {
            Schema.Type.Null => value is null,
            Schema.Type.Boolean => value is bool,
            Schema.Type.Int => value is int,
            Schema.Type.Long => value is long,
            Schema.Type.Float => value is float,
            Schema.Type.Double => value is double,
            Schema.Type.Bytes => value is byte[],
            Schema.Type.String => value is string,
            _ => false,
        },
    };

    /// <summary>Compares two model values exactly (doubles and floats bit for bit); returns the path of the first difference, or null.</summary>
    public static string? Difference(object? expected, object? actual, string path = "$")
    {
        switch (expected)
        {
            case null:
                return actual is null ? null : $"{path}: expected null, got {actual}";
            case float f:
                return actual is float af && BitConverter.SingleToInt32Bits(f) == BitConverter.SingleToInt32Bits(af) ? null : $"{path}: expected float {f:R} (0x{BitConverter.SingleToInt32Bits(f):X8}), got {Describe(actual)}";
            case double d:
                return actual is double ad && BitConverter.DoubleToInt64Bits(d) == BitConverter.DoubleToInt64Bits(ad) ? null : $"{path}: expected double {d:R} (0x{BitConverter.DoubleToInt64Bits(d):X16}), got {Describe(actual)}";
            case byte[] b:
                return actual is byte[] ab && b.AsSpan().SequenceEqual(ab) ? null : $"{path}: expected bytes {Convert.ToHexString(b)}, got {Describe(actual)}";
            case string s:
                return actual is string astr && string.Equals(s, astr, StringComparison.Ordinal) ? null : $"{path}: expected string \"{s}\", got {Describe(actual)}";
            case GenericRecord record:
            {
                if (actual is not GenericRecord ar || ar.Schema.Fullname != record.Schema.Fullname)
                {
                    return $"{path}: expected record {record.Schema.Fullname}, got {Describe(actual)}";
                }

                foreach (var field in record.Schema.Fields)
                {
                    var diff = Difference(record[field.Name], ar[field.Name], path + "." + field.Name);
                    if (diff is not null)
                    {
                        return diff;
                    }
                }

                return null;
            }

            case GenericEnum e:
                return actual is GenericEnum ae && ae.Value == e.Value ? null : $"{path}: expected enum {e.Value}, got {Describe(actual)}";
            case GenericFixed fx:
                return actual is GenericFixed afx && fx.Value.AsSpan().SequenceEqual(afx.Value) ? null : $"{path}: expected fixed {Convert.ToHexString(fx.Value)}, got {Describe(actual)}";
            case AvroDecimal dec:
                return actual is AvroDecimal adec && Normalize(dec) == Normalize(adec) ? null : $"{path}: expected decimal {dec.UnscaledValue}e-{dec.Scale}, got {Describe(actual)}";
            case DateTime dt:
                return actual is DateTime adt && Utc(dt) == Utc(adt) ? null : $"{path}: expected DateTime {dt:O}, got {Describe(actual)}";
            case Array array when expected is not byte[]:
            {
                if (actual is not Array aa || aa.Length != array.Length)
                {
                    return $"{path}: expected array of {array.Length}, got {Describe(actual)}";
                }

                for (var i = 0; i < array.Length; i++)
                {
                    var diff = Difference(array.GetValue(i), aa.GetValue(i), $"{path}[{i}]");
                    if (diff is not null)
                    {
                        return diff;
                    }
                }

                return null;
            }

            case IDictionary<string, object?> map:
            {
                if (actual is not IDictionary<string, object?> am || am.Count != map.Count)
                {
                    return $"{path}: expected map of {map.Count}, got {Describe(actual)}";
                }

                foreach (var (key, value) in map)
                {
                    if (!am.TryGetValue(key, out var av))
                    {
                        return $"{path}: key \"{key}\" missing";
                    }

                    var diff = Difference(value, av, $"{path}[\"{key}\"]");
                    if (diff is not null)
                    {
                        return diff;
                    }
                }

                return null;
            }

            default:
                return Equals(expected, actual) ? null : $"{path}: expected {expected} ({expected.GetType().Name}), got {Describe(actual)}";
        }
    }

    private static long Utc(DateTime value) => value.Kind == DateTimeKind.Local ? value.ToUniversalTime().Ticks : value.Ticks;

    private static (BigInteger, int) Normalize(AvroDecimal value)
    {
        var unscaled = value.UnscaledValue;
        var scale = value.Scale;
        while (scale > 0 && !unscaled.IsZero && unscaled % 10 == 0)
        {
            unscaled /= 10;
            scale--;
        }

        return unscaled.IsZero ? (BigInteger.Zero, 0) : (unscaled, scale);
    }

    private static string Describe(object? value) => value switch
    {
        null => "null",
        double d => $"double {d:R} (0x{BitConverter.DoubleToInt64Bits(d):X16})",
        float f => $"float {f:R} (0x{BitConverter.SingleToInt32Bits(f):X8})",
        byte[] b => "bytes " + Convert.ToHexString(b),
        AvroDecimal d => $"decimal {d.UnscaledValue}e-{d.Scale}",
        DateTime dt => $"DateTime {dt:O} ({dt.Kind})",
        _ => $"{value} ({value.GetType().Name})",
    };
}
