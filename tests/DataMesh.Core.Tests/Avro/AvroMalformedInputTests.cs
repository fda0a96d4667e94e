using System.Buffers;
using Avro;
using DataMesh.Avro;
using Xunit;

namespace DataMesh.Tests.Avro;

public sealed class AvroMalformedInputTests
{
    private static readonly Schema Envelope = Schema.Parse("""
        {"type":"record","name":"Envelope","namespace":"shop.orders","fields":[
          {"name":"after","type":["null",{"type":"record","name":"Value","fields":[
            {"name":"id","type":"long"},
            {"name":"name","type":"string"},
            {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
            {"name":"tags","type":{"type":"array","items":"string"}},
            {"name":"attrs","type":{"type":"map","values":"int"}},
            {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]}}
          ]}]},
          {"name":"source","type":{"type":"record","name":"Source","fields":[{"name":"lsn","type":["null","long"]}]}},
          {"name":"op","type":"string"}
        ]}
        """);

    private static readonly AvroSchemaPlan Plan = AvroSchemaPlan.Compile(Envelope);

    private static AvroFormatException Invalid(byte[] data, string fieldPathPrefix = "")
    {
        FormatException e = Assert.ThrowsAny<FormatException>(() => Plan.Validate(data, fieldPathPrefix));
        return Assert.IsType<AvroFormatException>(e);
    }

    /// <summary>Writes the envelope with <paramref name="after"/> writing the Value record's fields (after the union index 1).</summary>
    private static byte[] Encode(WriteFields after, WriteFields? source = null)
    {
        var output = new ArrayBufferWriter<byte>();
        var w = new AvroWriter(output);
        w.WriteUnionIndex(1);
        after(ref w);
        if (source is null)
        {
            w.WriteUnionIndex(1);
            w.WriteLong(1234);
        }
        else
        {
            source(ref w);
        }

        w.WriteString("c");
        w.Flush();
        return output.WrittenSpan.ToArray();
    }

    private delegate void WriteFields(ref AvroWriter writer);

    private static void GoodValue(ref AvroWriter w)
    {
        w.WriteLong(7);
        w.WriteString("widget");
        w.WriteDecimal(12.34m, 10, 2);
        w.WriteArrayStart(2);
        w.WriteString("a");
        w.WriteString("b");
        w.WriteArrayEnd();
        w.WriteMapStart(1);
        w.WriteString("color");
        w.WriteInt(3);
        w.WriteMapEnd();
        w.WriteEnum(1);
    }

    [Fact]
    public void A_well_formed_envelope_validates()
    {
        var data = Encode(GoodValue);
        Plan.Validate(data);
        Assert.Equal(data.Length, Plan.Skip(data));
    }

    [Fact]
    public void Truncated_varint_names_its_offset_and_field()
    {
        var data = Encode(GoodValue);
        // Cut inside source.lsn's varint (1234 is two bytes, after the union index byte).
        var lsnStart = data.Length - 2 - 2;
        var truncated = data.AsSpan(0, lsnStart + 1).ToArray();
        truncated[^1] |= 0x80;
        var e = Invalid(truncated);
        Assert.Equal(lsnStart, e.Offset);
        Assert.Equal("source.lsn", e.FieldPath);
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        Assert.StartsWith($"Invalid Avro data at byte {lsnStart} (field 'source.lsn'): ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Varint_longer_than_ten_bytes_is_rejected()
    {
        byte[] tooLong = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        var e = Assert.Throws<AvroFormatException>(() => new AvroReader(tooLong).ReadLong());
        Assert.Equal(0, e.Offset);
        Assert.Equal(string.Empty, e.FieldPath);

        byte[] overflow = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        Assert.Throws<AvroFormatException>(() => new AvroReader(overflow).ReadLong());

        byte[] maxLong = [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        Assert.Equal(long.MaxValue, new AvroReader(maxLong).ReadLong());

        byte[] sixByteInt = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        Assert.Throws<AvroFormatException>(() => new AvroReader(sixByteInt).ReadInt());
        byte[] intOverflow = [0xFF, 0xFF, 0xFF, 0xFF, 0x1F];
        Assert.Throws<AvroFormatException>(() => new AvroReader(intOverflow).ReadInt());
        byte[] minInt = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
        Assert.Equal(int.MinValue, new AvroReader(minInt).ReadInt());

        // In a datum: the id field (offset 1, after the union index).
        var data = new byte[] { 0x02 }.Concat(tooLong).ToArray();
        var inDatum = Invalid(data);
        Assert.Equal(1, inDatum.Offset);
        Assert.Equal("after.id", inDatum.FieldPath);
    }

    [Fact]
    public void String_length_past_the_buffer_names_offset_field_and_sizes()
    {
        // after = Value { id = 7, name = length 4000000 but only 12 bytes follow }
        var output = new ArrayBufferWriter<byte>();
        var w = new AvroWriter(output);
        w.WriteUnionIndex(1);
        w.WriteLong(7);
        w.WriteLong(4_000_000);
        w.WriteRaw("twelve bytes"u8);
        w.Flush();
        var e = Invalid(output.WrittenSpan.ToArray());
        Assert.Equal(2, e.Offset);
        Assert.Equal("after.name", e.FieldPath);
        Assert.Equal("Invalid Avro data at byte 2 (field 'after.name'): string length 4000000 exceeds the 12 bytes remaining", e.Message);
    }

    [Fact]
    public void Negative_length_is_rejected()
    {
        byte[] data = [0x02, 0x0E, 0x01];
        var e = Invalid(data);
        Assert.Equal(2, e.Offset);
        Assert.Equal("after.name", e.FieldPath);
        Assert.Contains("length -1 is negative", e.Message, StringComparison.Ordinal);
        Assert.Throws<AvroFormatException>(() => new AvroReader([0x01]).ReadBytes());
    }

    [Fact]
    public void Huge_length_is_rejected_before_anything_is_allocated()
    {
        // A 2 GB length in a handful of bytes.
        var output = new ArrayBufferWriter<byte>();
        var w = new AvroWriter(output);
        w.WriteLong(2_000_000_000);
        w.WriteRaw("abc"u8);
        w.Flush();
        var data = output.WrittenSpan.ToArray();
        var stringSchema = AvroSchemaPlan.Compile(Schema.Parse("\"string\""));

        // Warm up the exception path.
        Assert.Throws<AvroFormatException>(() => new AvroReader(data).ReadString());
        Assert.Throws<AvroFormatException>(() => stringSchema.Validate(data));

        var before = GC.GetAllocatedBytesForCurrentThread();
        var e1 = Assert.Throws<AvroFormatException>(() => new AvroReader(data).ReadString());
        var e2 = Assert.Throws<AvroFormatException>(() => new AvroReader(data).ReadBytes().ToArray());
        var e3 = Assert.Throws<AvroFormatException>(() => stringSchema.Validate(data));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64 * 1024, $"rejecting a 2 GB length allocated {allocated} bytes");
        Assert.Equal(0, e1.Offset);
        Assert.Contains("length 2000000000 exceeds the 3 bytes remaining", e1.Message, StringComparison.Ordinal);
        Assert.Contains("length 2000000000", e2.Message, StringComparison.Ordinal);
        Assert.Contains("length 2000000000", e3.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_union_index_names_the_union_field()
    {
        var e = Invalid([0x04]);
        Assert.Equal(0, e.Offset);
        Assert.Equal("after", e.FieldPath);
        Assert.Contains("union index 2 is out of range for 2 branches", e.Message, StringComparison.Ordinal);

        var negative = Invalid([0x01]);
        Assert.Contains("union index -1", negative.Message, StringComparison.Ordinal);

        var data = Encode(GoodValue, (ref AvroWriter w) => w.WriteUnionIndex(5));
        var inSource = Invalid(data);
        Assert.Equal("source.lsn", inSource.FieldPath);
    }

    [Fact]
    public void Bad_enum_index_names_the_enum_field()
    {
        var data = Encode((ref AvroWriter w) =>
        {
            w.WriteLong(7);
            w.WriteString("widget");
            w.WriteDecimal(1m, 10, 2);
            w.WriteArrayEnd();
            w.WriteMapEnd();
            w.WriteEnum(3);
        });
        var e = Invalid(data);
        Assert.Equal("after.status", e.FieldPath);
        Assert.Equal(1 + 1 + 7 + 2 + 1 + 1, e.Offset);
        Assert.Contains("enum index 3 is out of range for 3 symbols", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_utf8_names_the_bad_byte_and_the_array_item()
    {
        var data = Encode((ref AvroWriter w) =>
        {
            w.WriteLong(7);
            w.WriteString("widget");
            w.WriteDecimal(1m, 10, 2);
            w.WriteArrayStart(4);
            w.WriteString("a");
            w.WriteString("b");
            w.WriteString("😀");
            w.WriteStringUtf8([0x61, 0xC3, 0x28]);
            w.WriteArrayEnd();
            w.WriteMapEnd();
            w.WriteEnum(0);
        });
        var e = Invalid(data);
        Assert.Equal("after.tags[3]", e.FieldPath);
        var itemStart = 1 + 1 + 7 + 2 + 1 + 2 + 2 + 5;
        Assert.Equal(itemStart + 1 + 1, e.Offset);
        Assert.Contains("not valid UTF-8", e.Message, StringComparison.Ordinal);

        Assert.Throws<AvroFormatException>(() => new AvroReader([0x04, 0xED, 0xA0]).ReadStringUtf8());
        Assert.Throws<AvroFormatException>(() => new AvroReader([0x02, 0xFF]).ReadString());
    }

    [Fact]
    public void Map_value_errors_name_the_key()
    {
        var data = Encode((ref AvroWriter w) =>
        {
            w.WriteLong(7);
            w.WriteString("widget");
            w.WriteDecimal(1m, 10, 2);
            w.WriteArrayEnd();
            w.WriteMapStart(2);
            w.WriteString("size");
            w.WriteInt(1);
            w.WriteString("color");
            w.WriteRaw([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        });
        var e = Invalid(data);
        Assert.Equal("after.attrs[color]", e.FieldPath);
    }

    [Fact]
    public void Field_path_prefix_names_the_key_or_value()
    {
        var key = AvroSchemaPlan.Compile(Schema.Parse("""{"type":"record","name":"Key","fields":[{"name":"id","type":"long"}]}"""));
        var e = Assert.Throws<AvroFormatException>(() => key.Validate([0x80], "key"));
        Assert.Equal("key.id", e.FieldPath);
        Assert.Equal("Invalid Avro data at byte 0 (field 'key.id'): varint is truncated by the end of the data", e.Message);
    }

    [Fact]
    public void Trailing_bytes_after_the_datum_are_rejected()
    {
        var data = Encode(GoodValue).Append((byte)0).ToArray();
        var e = Invalid(data);
        Assert.Equal(data.Length - 1, e.Offset);
        Assert.Contains("1 bytes follow the end of the datum", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Block_errors_are_rejected()
    {
        var longs = AvroSchemaPlan.Compile(Schema.Parse("""{"type":"array","items":"long"}"""));

        // Count larger than the bytes left, for items of at least one byte.
        var e = Assert.Throws<AvroFormatException>(() => longs.Validate([0xC8, 0x01, 0x02, 0x00]));
        Assert.Contains("block count 100 exceeds the 2 bytes remaining", e.Message, StringComparison.Ordinal);

        // Negative count whose byte size disagrees with the items.
        e = Assert.Throws<AvroFormatException>(() => longs.Validate([0x03, 0x06, 0x02, 0x04, 0x00]));
        Assert.Contains("block byte size 3 does not match the 2 bytes", e.Message, StringComparison.Ordinal);

        // Byte size past the end, negative byte size, and a count that cannot be negated.
        Assert.Throws<AvroFormatException>(() => longs.Validate([0x03, 0x20, 0x02, 0x00]));
        Assert.Throws<AvroFormatException>(() => longs.Validate([0x03, 0x01, 0x02, 0x00]));
        byte[] minLong = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00];
        Assert.Throws<AvroFormatException>(() => longs.Validate(minLong));
        Assert.Throws<AvroFormatException>(() => longs.Skip(minLong));
    }

    [Fact]
    public void Huge_count_of_zero_length_items_does_not_hang()
    {
        var nulls = AvroSchemaPlan.Compile(Schema.Parse("""{"type":"array","items":"null"}"""));
        var output = new ArrayBufferWriter<byte>();
        var w = new AvroWriter(output);
        w.WriteLong(long.MaxValue);
        w.WriteLong(long.MaxValue);
        w.WriteBlockEnd();
        w.Flush();
        nulls.Validate(output.WrittenSpan);
        Assert.Equal(output.WrittenCount, nulls.Skip(output.WrittenSpan));
    }

    [Fact]
    public void Deeply_nested_recursive_data_is_rejected_not_overflowing_the_stack()
    {
        var list = AvroSchemaPlan.Compile(Schema.Parse("""{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"""));
        var data = Enumerable.Repeat((byte)0x02, 100_000).Append((byte)0).ToArray();
        var e = Assert.Throws<AvroFormatException>(() => list.Validate(data));
        Assert.Contains("deeper than", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("next.next.next", e.FieldPath, StringComparison.Ordinal);

        var shallow = Enumerable.Repeat((byte)0x02, 50).Append((byte)0).ToArray();
        list.Validate(shallow);
    }

    [Fact]
    public void Wrong_magic_byte_and_short_header_are_rejected()
    {
        byte[] wrongMagic = [0x01, 0, 0, 0, 5, 0x02];
        var e = Assert.Throws<AvroFormatException>(() => ConfluentWireFormat.ReadHeader(wrongMagic, out _, out _));
        Assert.Equal(0, e.Offset);
        Assert.Contains("magic byte is 0x01", e.Message, StringComparison.Ordinal);
        Assert.False(ConfluentWireFormat.TryReadHeader(wrongMagic, out _, out _));

        byte[] shortHeader = [0x00, 0, 0];
        e = Assert.Throws<AvroFormatException>(() => ConfluentWireFormat.ReadHeader(shortHeader, out _, out _));
        Assert.Equal(3, e.Offset);
        Assert.Contains("needs 5 bytes but the message has 3", e.Message, StringComparison.Ordinal);
        Assert.Throws<AvroFormatException>(() => ConfluentWireFormat.ReadHeader([], out _, out _));
    }

    [Fact]
    public void Reader_primitives_report_truncation_and_bad_values()
    {
        Assert.Throws<AvroFormatException>(() => new AvroReader([1, 2, 3]).ReadFloat());
        Assert.Throws<AvroFormatException>(() => new AvroReader([1, 2, 3, 4, 5, 6, 7]).ReadDouble());
        Assert.Throws<AvroFormatException>(() => new AvroReader([]).ReadBoolean());
        var e = Assert.Throws<AvroFormatException>(() => new AvroReader([2]).ReadBoolean());
        Assert.Contains("boolean byte is 2", e.Message, StringComparison.Ordinal);
        Assert.Throws<AvroFormatException>(() => new AvroReader([1, 2]).ReadFixed(3));
        Assert.Throws<AvroFormatException>(() => new AvroReader([0x06, (byte)'a', (byte)'b', (byte)'c']).ReadUuid());
        Assert.Throws<AvroFormatException>(() => new AvroReader([0xFE, 0xFF, 0xFF, 0xFF, 0x0F]).ReadDate());
        Assert.Throws<AvroFormatException>(() => new AvroReader([0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).ReadTimestampMicros());
        Assert.Throws<AvroFormatException>(() => new AvroReader([0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).ReadTimestampMillis());

        // A decimal too large for System.Decimal is reported, and readable as BigInteger.
        var output = new ArrayBufferWriter<byte>();
        var w = new AvroWriter(output);
        w.WriteDecimal(System.Numerics.BigInteger.Pow(10, 35), 40);
        w.Flush();
        var big = output.WrittenSpan.ToArray();
        Assert.Throws<AvroFormatException>(() => new AvroReader(big).ReadDecimal(2));
        Assert.Equal(System.Numerics.BigInteger.Pow(10, 35), new AvroReader(big).ReadDecimalUnscaled());
    }
}
