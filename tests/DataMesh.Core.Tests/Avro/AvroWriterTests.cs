using System.Buffers;
using System.Numerics;
using Avro;
using DataMesh.Avro;
using Xunit;

namespace DataMesh.Tests.Avro;

public sealed class AvroWriterTests
{
    private delegate void Write(ref AvroWriter writer);

    private static byte[] Bytes(Write write)
    {
        var output = new ArrayBufferWriter<byte>(1);
        var w = new AvroWriter(output);
        write(ref w);
        Assert.Equal(w.BytesPending, (int)(w.BytesWritten - output.WrittenCount));
        w.Dispose();
        return output.WrittenSpan.ToArray();
    }

    [Theory]
    [InlineData(0, "00")]
    [InlineData(-1, "01")]
    [InlineData(1, "02")]
    [InlineData(-64, "7F")]
    [InlineData(64, "8001")]
    [InlineData(int.MaxValue, "FEFFFFFF0F")]
    [InlineData(int.MinValue, "FFFFFFFF0F")]
    public void Int_is_zig_zag_varint(int value, string hex) => Assert.Equal(hex, Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteInt(value))));

    [Fact]
    public void Long_extremes_are_ten_bytes()
    {
        Assert.Equal("FEFFFFFFFFFFFFFFFF01", Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteLong(long.MaxValue))));
        Assert.Equal("FFFFFFFFFFFFFFFFFF01", Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteLong(long.MinValue))));
    }

    [Fact]
    public void Bytes_are_committed_only_on_flush()
    {
        var output = new ArrayBufferWriter<byte>();
        var w = new AvroWriter(output);
        w.WriteLong(1);
        w.WriteString("abc");
        Assert.Equal(0, output.WrittenCount);
        Assert.Equal(5, w.BytesWritten);
        w.Flush();
        Assert.Equal(5, output.WrittenCount);
        w.WriteBoolean(true);
        w.Dispose();
        Assert.Equal(6, output.WrittenCount);
    }

    [Fact]
    public void Long_strings_and_bytes_span_several_buffers()
    {
        var text = string.Concat(Enumerable.Repeat("aé€😀", 5000));
        var blob = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray();
        var data = Bytes((ref AvroWriter w) =>
        {
            w.WriteString(text);
            w.WriteBytes(blob);
        });
        var r = new AvroReader(data);
        Assert.Equal(text, r.ReadString());
        Assert.True(r.ReadBytes().SequenceEqual(blob));
        Assert.True(r.End);
    }

    [Fact]
    public void Strings_of_every_short_length_with_non_ASCII_anywhere_encode_as_UTF8()
    {
        // The writer copies ASCII runs in blocks; a non-ASCII character at any position of a short string, followed by
        // any number of ASCII characters, must still come out as exactly UTF-8 with the right length prefix.
        foreach (var special in new[] { "ü", "€", "😀", "ß" })
        {
            for (var length = 0; length <= 80; length++)
            {
                for (var at = 0; at <= length; at += Math.Max(1, length / 7))
                {
                    var text = new string('a', at) + special + new string('b', length - at);
                    var expected = new System.IO.MemoryStream();
                    new global::Avro.IO.BinaryEncoder(expected).WriteString(text);
                    Assert.Equal(Convert.ToHexString(expected.ToArray()), Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteString(text))));
                    var reader = new AvroReader(Bytes((ref AvroWriter w) => w.WriteString(text)));
                    Assert.Equal(text, reader.ReadString());
                }
            }
        }

        Assert.Equal("Zürich", new AvroReader(Bytes((ref AvroWriter w) => w.WriteString("Zürich"))).ReadString());
    }

    [Fact]
    public void Lone_surrogates_are_refused_not_replaced()
    {
        Assert.Throws<ArgumentException>(() => Bytes((ref AvroWriter w) => w.WriteString("a\uD800b")));
        Assert.Throws<ArgumentException>(() => Bytes((ref AvroWriter w) => w.WriteString(new string('x', 100) + "\uDC00")));
    }

    [Fact]
    public void Decimal_is_minimal_twos_complement_and_never_rounds()
    {
        Assert.Equal("0200", Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteDecimal(0m, 5, 2))));
        Assert.Equal("0200", Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteDecimal(-0.00m, 5, 2))));
        Assert.Equal("040080", Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteDecimal(1.28m, 5, 2))));
        Assert.Equal("0280", Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteDecimal(-1.28m, 5, 2))));
        Assert.Equal("04FF7F", Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteDecimal(-1.29m, 5, 2))));
        Assert.Equal("043039", Convert.ToHexString(Bytes((ref AvroWriter w) => w.WriteDecimal(123.45000m, 5, 2))));

        // More fractional digits than the scale, more digits than the precision, more bytes than the fixed.
        Assert.Throws<ArgumentException>(() => Bytes((ref AvroWriter w) => w.WriteDecimal(1.005m, 10, 2)));
        Assert.Throws<ArgumentException>(() => Bytes((ref AvroWriter w) => w.WriteDecimal(1000.00m, 5, 2)));
        Assert.Throws<ArgumentException>(() => Bytes((ref AvroWriter w) => w.WriteDecimalFixed(40000m, 6, 0, 2)));
        Assert.Throws<ArgumentException>(() => Bytes((ref AvroWriter w) => w.WriteDecimal(BigInteger.Pow(10, 38), 38)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Bytes((ref AvroWriter w) => w.WriteDecimal(1m, 2, 3)));

        // decimal.MaxValue at a scale that needs more than 128 bits takes the BigInteger path.
        var huge = Bytes((ref AvroWriter w) => w.WriteDecimal(decimal.MaxValue, 76, 40));
        Assert.Equal(BigInteger.Parse("79228162514264337593543950335", System.Globalization.CultureInfo.InvariantCulture) * BigInteger.Pow(10, 40), new AvroReader(huge).ReadDecimalUnscaled());

        // 38+ digit values via BigInteger, bytes and fixed, read back exactly.
        var big = -BigInteger.Parse("123456789012345678901234567890123456789012", System.Globalization.CultureInfo.InvariantCulture);
        var data = Bytes((ref AvroWriter w) =>
        {
            w.WriteDecimal(big, 42);
            w.WriteDecimalFixed(big, 42, 20);
            w.WriteDecimalFixed(-12.5m, 4, 1, 3);
        });
        var r = new AvroReader(data);
        Assert.Equal(big, r.ReadDecimalUnscaled());
        Assert.Equal(big, r.ReadDecimalFixedUnscaled(20));
        Assert.Equal(-12.5m, r.ReadDecimalFixed(3, 1));
    }

    [Fact]
    public void Decimal_reads_at_the_schema_scale()
    {
        var data = Bytes((ref AvroWriter w) =>
        {
            w.WriteDecimal(79228162514264337593543950335m, 29, 0);
            w.WriteDecimal(-0.0000000000000000000000000001m, 38, 28);
            w.WriteDecimal(BigInteger.Pow(10, 30), 31);
        });
        var r = new AvroReader(data);
        Assert.Equal(decimal.MaxValue, r.ReadDecimal(0));
        Assert.Equal(-0.0000000000000000000000000001m, r.ReadDecimal(28));
        Assert.Equal(1m, r.ReadDecimal(30)); // 10^30 at scale 30, reduced exactly to scale 28.
    }

    [Fact]
    public void Uuid_is_canonical_string_or_rfc_4122_fixed()
    {
        var id = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff");
        var data = Bytes((ref AvroWriter w) =>
        {
            w.WriteUuid(id);
            w.WriteUuidFixed(id);
        });
        Assert.Equal("48" + Convert.ToHexString("00112233-4455-6677-8899-aabbccddeeff"u8) + "00112233445566778899AABBCCDDEEFF", Convert.ToHexString(data));
        var r = new AvroReader(data);
        Assert.Equal(id, r.ReadUuid());
        Assert.Equal(id, r.ReadUuidFixed());
    }

    [Fact]
    public void Dates_and_times_convert_exactly_and_refuse_to_truncate()
    {
        var instant = new DateTimeOffset(2024, 2, 29, 23, 59, 59, 123, TimeSpan.FromHours(2)).AddTicks(4560);
        var data = Bytes((ref AvroWriter w) =>
        {
            w.WriteDate(new DateOnly(1969, 12, 31));
            w.WriteTimeMillis(new TimeOnly(23, 59, 59, 999));
            w.WriteTimeMicros(new TimeOnly(0, 0, 0, 0, 1));
            w.WriteTimestampMicros(instant);
            w.WriteTimestampMillis(new DateTime(1960, 1, 1, 0, 0, 0, 1, DateTimeKind.Utc));
            w.WriteLocalTimestampMicros(new DateTime(2000, 1, 2, 3, 4, 5, DateTimeKind.Unspecified).AddTicks(60));
            w.WriteLocalTimestampMillis(new DateTime(2000, 1, 2, 3, 4, 5, 6, DateTimeKind.Local));
        });
        var r = new AvroReader(data);
        Assert.Equal(new DateOnly(1969, 12, 31), r.ReadDate());
        Assert.Equal(86_399_999, r.ReadTimeMillis());
        Assert.Equal(1, r.ReadTimeMicros());
        var micros = r.ReadTimestampMicros();
        Assert.Equal(instant.UtcDateTime, micros);
        Assert.Equal(DateTimeKind.Utc, micros.Kind);
        Assert.Equal(new DateTime(1960, 1, 1, 0, 0, 0, 1, DateTimeKind.Utc), r.ReadTimestampMillis());
        Assert.Equal(new DateTime(2000, 1, 2, 3, 4, 5).AddTicks(60), r.ReadLocalTimestampMicros());
        var local = r.ReadLocalTimestampMillis();
        Assert.Equal(new DateTime(2000, 1, 2, 3, 4, 5, 6), local);
        Assert.Equal(DateTimeKind.Unspecified, local.Kind);
        Assert.True(r.End);

        Assert.Throws<ArgumentException>(() => Bytes((ref AvroWriter w) => w.WriteTimestampMillis(instant)));
        Assert.Throws<ArgumentException>(() => Bytes((ref AvroWriter w) => w.WriteTimestampMicros(DateTime.UnixEpoch.AddTicks(-1))));
        Assert.Throws<ArgumentException>(() => Bytes((ref AvroWriter w) => w.WriteTimeMicros(TimeOnly.FromTimeSpan(TimeSpan.FromTicks(5)))));
    }

    [Fact]
    public void Confluent_header_round_trips()
    {
        var output = new ArrayBufferWriter<byte>();
        ConfluentWireFormat.WriteHeader(output, 0x01020304);
        var w = new AvroWriter(output);
        w.WriteString("x");
        w.Flush();
        Assert.Equal("000102030402" + "78", Convert.ToHexString(output.WrittenSpan));
        ConfluentWireFormat.ReadHeader(output.WrittenSpan, out var id, out var payload);
        Assert.Equal(0x01020304, id);
        Assert.Equal("x", new AvroReader(payload).ReadString());

        Span<byte> header = stackalloc byte[5];
        Assert.Equal(5, ConfluentWireFormat.WriteHeader(header, 7));
        Assert.True(ConfluentWireFormat.TryReadHeader(header, out var id7, out var empty));
        Assert.Equal(7, id7);
        Assert.True(empty.IsEmpty);
        Assert.Throws<ArgumentException>(() => ConfluentWireFormat.WriteHeader(new byte[4], 7));
    }

    [Fact]
    public void Field_ranges_cut_a_record_into_its_encoded_fields()
    {
        var plan = AvroSchemaPlan.Compile(Schema.Parse("""
            {"type":"record","name":"K","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"tags","type":{"type":"array","items":"int"}}]}
            """));
        Assert.Equal(3, plan.FieldCount);
        Assert.Equal(1, plan.GetFieldIndex("name"));
        Assert.Equal(-1, plan.GetFieldIndex("missing"));
        Assert.Equal("tags", plan.GetFieldName(2));
        var data = Bytes((ref AvroWriter w) =>
        {
            w.WriteLong(300);
            w.WriteString("abc");
            w.WriteArrayStart(2);
            w.WriteInt(1);
            w.WriteInt(2);
            w.WriteArrayEnd();
        });
        Span<Range> ranges = stackalloc Range[3];
        var before = GC.GetAllocatedBytesForCurrentThread();
        var length = plan.GetFieldRanges(data, ranges);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(data.Length, length);
        Assert.Equal(new Range(0, 2), ranges[0]);
        Assert.Equal(new Range(2, 6), ranges[1]);
        Assert.Equal(new Range(6, 10), ranges[2]);
    }
}
