using System.Buffers;
using System.Numerics;
using Avro.Generic;
using Avro.IO;
using DataMesh.Avro;
using DataMesh.Events;
using Xunit;

namespace DataMesh.Tests.Events;

/// <summary>Events written by our encoder, read back by Apache.Avro's generic reader with the schemas we built.</summary>
public sealed class ChangeEventEncoderTests
{
    private static readonly SourceDescription Source = new("postgresql", "shop", [new SourceField("lsn", SourceFieldType.NullableLong), new SourceField("xmin", SourceFieldType.Long)]);

    private static readonly TableDescription Table = new("public", "orders",
    [
        new("id", DataType.Of(DataTypeKind.Int64, "bigint"), false),
        new("order-no", DataType.Of(DataTypeKind.Int32, "integer"), false),
        new("flag", DataType.Of(DataTypeKind.Boolean, "boolean"), true),
        new("big", DataType.Of(DataTypeKind.UInt64, "bigint unsigned"), true),
        new("ratio", DataType.Of(DataTypeKind.Float32, "real"), true),
        new("score", DataType.Of(DataTypeKind.Float64, "double precision"), true),
        new("price", DataType.DecimalOf(40, 10, "numeric(40,10)"), true),
        new("free", DataType.Of(DataTypeKind.VariableDecimal, "numeric"), true),
        new("note", DataType.Of(DataTypeKind.String, "text"), true),
        new("blob", DataType.Of(DataTypeKind.Bytes, "bytea"), true),
        new("uid", DataType.Of(DataTypeKind.Uuid, "uuid"), true),
        new("doc", DataType.Of(DataTypeKind.Json, "jsonb"), true),
        new("day", DataType.Of(DataTypeKind.Date, "date"), true),
        new("at", DataType.Of(DataTypeKind.Time, "time"), true),
        new("span", DataType.Of(DataTypeKind.DurationMicros, "time"), true),
        new("local", DataType.Of(DataTypeKind.LocalTimestamp, "timestamp"), true),
        new("instant", DataType.Of(DataTypeKind.Timestamp, "timestamptz"), true),
        new("shape", DataType.Of(DataTypeKind.Geometry, "point"), true),
        new("tags", DataType.ArrayOf(DataType.Of(DataTypeKind.String, "text"), "text[]"), true),
    ], ["id", "order-no"]);

    [Fact]
    public void Envelope_and_key_decode_with_Apache_Avro_to_the_values_written()
    {
        var schemas = ChangeEventSchemas.Build(Table, Source);
        var encoder = new ChangeEventEncoder(schemas, keySchemaId: 7, valueSchemaId: 8);
        var instant = new DateTimeOffset(2026, 11, 26, 10, 30, 15, TimeSpan.FromHours(2)).AddTicks(1234560);
        object?[] after =
        [
            long.MinValue, 42, true, ulong.MaxValue, float.NaN, -0.0d,
            "-123456789012345678901234567890.0123456789", 1.50m,
            "grüße 😀", new byte[] { 0, 255, 7 }, Guid.Parse("6f1c1b3e-9d5a-4c1e-8a55-2f0f4ad9b3c1"), """{"a": 1}""",
            new DateOnly(1969, 12, 31), new TimeOnly(23, 59, 59).Add(TimeSpan.FromTicks(9990)), TimeSpan.FromHours(-838),
            new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Unspecified), instant,
            new GeometryValue(new byte[] { 1, 1, 0, 0, 0 }, 4326), new List<string?> { "a", null, "" },
        ];
        object?[] before = [.. after];
        before[2] = null;
        before[18] = Array.Empty<string>();

        var value = new ArrayBufferWriter<byte>();
        encoder.WriteValue(value, ChangeOperation.Update, before, after,
            new SourceValues { TimestampMs = 1764150615000, Database = "shop", Schema = "public", Table = "orders", TransactionId = 991, Position = [123456789L, 5L] },
            timestampMs: 1764150616000);
        var key = new ArrayBufferWriter<byte>();
        Assert.True(encoder.WriteKey(key, after));

        ConfluentWireFormat.ReadHeader(value.WrittenSpan, out var valueId, out var payload);
        Assert.Equal(8, valueId);
        var envelope = Read(schemas.EnvelopeSchema, payload.ToArray());
        Assert.Equal("u", envelope["op"]);
        Assert.Equal(1764150616000L, envelope["ts_ms"]);
        var source = (GenericRecord)envelope["source"];
        Assert.Equal("postgresql", source["connector"]);
        Assert.Equal("shop", source["name"]);
        Assert.Equal("false", source["snapshot"]);
        Assert.Equal(991L, source["txId"]);
        Assert.Equal(123456789L, source["lsn"]);
        Assert.Equal(5L, source["xmin"]);

        var row = (GenericRecord)envelope["after"];
        Assert.Equal(long.MinValue, row["id"]);
        Assert.Equal(42, row["order_no"]);
        Assert.Equal(true, row["flag"]);
        Assert.Equal(ulong.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), ((global::Avro.AvroDecimal)row["big"]).ToString());
        Assert.True(float.IsNaN((float)row["ratio"]));
        Assert.True(double.IsNegative((double)row["score"]));
        var price = (global::Avro.AvroDecimal)row["price"];
        Assert.Equal(BigInteger.Parse("-1234567890123456789012345678900123456789", System.Globalization.CultureInfo.InvariantCulture), price.UnscaledValue);
        Assert.Equal(10, price.Scale);
        var free = (GenericRecord)row["free"];
        Assert.Equal(2, free["scale"]);
        Assert.Equal(new BigInteger(150), new BigInteger((byte[])free["value"], isUnsigned: false, isBigEndian: true));
        Assert.Equal("grüße 😀", row["note"]);
        Assert.Equal(new byte[] { 0, 255, 7 }, row["blob"]);
        Assert.Equal(Guid.Parse("6f1c1b3e-9d5a-4c1e-8a55-2f0f4ad9b3c1"), row["uid"]);
        Assert.Equal("""{"a": 1}""", row["doc"]);
        Assert.Equal(new DateTime(1969, 12, 31), ((DateTime)row["day"]).Date);
        Assert.Equal(new TimeOnly(23, 59, 59).Add(TimeSpan.FromTicks(9990)).ToTimeSpan(), row["at"]);
        Assert.Equal(TimeSpan.FromHours(-838).Ticks / 10, row["span"]);
        Assert.Equal(instant.UtcDateTime, ((DateTime)row["instant"]).ToUniversalTime());
        var shape = (GenericRecord)row["shape"];
        Assert.Equal(new byte[] { 1, 1, 0, 0, 0 }, shape["wkb"]);
        Assert.Equal(4326, shape["srid"]);
        Assert.Equal(new object?[] { "a", null, "" }, (object?[])row["tags"]);

        var old = (GenericRecord)envelope["before"];
        Assert.Null(old["flag"]);
        Assert.Empty((object?[])old["tags"]);

        ConfluentWireFormat.ReadHeader(key.WrittenSpan, out var keyId, out var keyPayload);
        Assert.Equal(7, keyId);
        var keyRecord = Read(schemas.KeySchema!, keyPayload.ToArray());
        Assert.Equal(long.MinValue, keyRecord["id"]);
        Assert.Equal(42, keyRecord["order_no"]);
    }

    [Fact]
    public void Create_and_delete_leave_the_other_image_null()
    {
        var table = new TableDescription("public", "t", [new("id", DataType.Of(DataTypeKind.Int32, "int"), false)], ["id"]);
        var encoder = new ChangeEventEncoder(ChangeEventSchemas.Build(table, Source), 1, 2);
        var sourceValues = new SourceValues { TimestampMs = 1, Database = "db", Position = [null, 0L], Snapshot = "true" };

        var created = new ArrayBufferWriter<byte>();
        encoder.WriteValue(created, ChangeOperation.Read, null, [1], sourceValues, 2);
        var envelope = Read(encoder.Schemas.EnvelopeSchema, created.WrittenSpan[5..].ToArray());
        Assert.Null(envelope["before"]);
        Assert.Equal(1, ((GenericRecord)envelope["after"])["id"]);
        Assert.Equal("r", envelope["op"]);
        Assert.Equal("true", ((GenericRecord)envelope["source"])["snapshot"]);
        Assert.Null(((GenericRecord)envelope["source"])["lsn"]);

        var deleted = new ArrayBufferWriter<byte>();
        encoder.WriteValue(deleted, ChangeOperation.Delete, [1], null, sourceValues, 2);
        envelope = Read(encoder.Schemas.EnvelopeSchema, deleted.WrittenSpan[5..].ToArray());
        Assert.Null(envelope["after"]);
        Assert.Equal("d", envelope["op"]);
    }

    [Fact]
    public void Decimal_handling_string_carries_special_values_exactly()
    {
        var table = new TableDescription("public", "t", [new("n", DataType.DecimalOf(5, 2, "numeric(5,2)"), true), new("v", DataType.Of(DataTypeKind.VariableDecimal, "numeric"), true)], []);
        var encoder = new ChangeEventEncoder(ChangeEventSchemas.Build(table, Source, new ChangeEventOptions { DecimalHandling = DecimalHandling.String }), 1, 2);
        var output = new ArrayBufferWriter<byte>();
        encoder.WriteValue(output, ChangeOperation.Create, null, ["NaN", "-Infinity"], new SourceValues { Database = "db", Position = [null, 0L] }, 0);
        var row = (GenericRecord)Read(encoder.Schemas.EnvelopeSchema, output.WrittenSpan[5..].ToArray())["after"];
        Assert.Equal("NaN", row["n"]);
        Assert.Equal("-Infinity", row["v"]);
        Assert.False(encoder.WriteKey(new ArrayBufferWriter<byte>(), ["1", "2"]));
    }

    [Theory]
    [InlineData("1234", 2, "12.34")]
    [InlineData("-5", 2, "-0.05")]
    [InlineData("7", 0, "7")]
    public void DecimalHandling_String_writes_unscaled_BigIntegers_at_the_columns_scale(string unscaled, int scale, string expected)
    {
        var table = new TableDescription("public", "t", [new("n", DataType.DecimalOf(10, scale, $"numeric(10,{scale})"), false)], []);
        var encoder = new ChangeEventEncoder(ChangeEventSchemas.Build(table, Source, new ChangeEventOptions { DecimalHandling = DecimalHandling.String }), 1, 2);
        var output = new ArrayBufferWriter<byte>();
        encoder.WriteValue(output, ChangeOperation.Create, null, [BigInteger.Parse(unscaled, System.Globalization.CultureInfo.InvariantCulture)], new SourceValues { Database = "db", Position = [null, 0L] }, 0);
        Assert.Equal(expected, ((GenericRecord)Read(encoder.Schemas.EnvelopeSchema, output.WrittenSpan[5..].ToArray())["after"])["n"]);
    }

    [Theory]
    [InlineData(0, "NaN", "has no Avro decimal form; set DecimalHandling.String")]
    [InlineData(0, "1.005", "more than 2 digits after the point")]
    [InlineData(0, "12345.1", "digits")]
    [InlineData(0, "abc", "is not a decimal number")]
    [InlineData(1, 5, "cannot take a value of type Int32")]
    [InlineData(2, null, "NULL in a column described as NOT NULL")]
    public void Values_the_schema_cannot_hold_are_refused_with_the_column(int column, object? bad, string reason)
    {
        var table = new TableDescription("public", "t",
            [new("price", DataType.DecimalOf(5, 2, "numeric(5,2)"), true), new("name", DataType.Of(DataTypeKind.String, "text"), true), new("id", DataType.Of(DataTypeKind.Int32, "int"), false)], ["id"]);
        var encoder = new ChangeEventEncoder(ChangeEventSchemas.Build(table, Source), 1, 2);
        object?[] row = [1.5m, "x", 1];
        row[column] = bad;
        var ex = Assert.Throws<ArgumentException>(() => encoder.WriteValue(new ArrayBufferWriter<byte>(), ChangeOperation.Create, null, row, new SourceValues { Database = "db", Position = [null, 0L] }, 0));
        Assert.Contains($"table public.t, column '{table.Columns[column].Name}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_source_position_is_refused_with_the_field()
    {
        var table = new TableDescription("public", "t", [new("id", DataType.Of(DataTypeKind.Int32, "int"), false)], ["id"]);
        var encoder = new ChangeEventEncoder(ChangeEventSchemas.Build(table, Source), 1, 2);
        var ex = Assert.Throws<ArgumentException>(() => encoder.WriteValue(new ArrayBufferWriter<byte>(), ChangeOperation.Create, null, [1], new SourceValues { Database = "db", Position = [null, "x"] }, 0));
        Assert.Contains("'xmin'", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<ArgumentException>(() => encoder.WriteValue(new ArrayBufferWriter<byte>(), ChangeOperation.Create, null, [1], new SourceValues { Database = "db", Position = [1L] }, 0));
        Assert.Contains("2 position fields (lsn, xmin)", ex.Message, StringComparison.Ordinal);
    }

    private static GenericRecord Read(global::Avro.Schema schema, byte[] payload)
    {
        var reader = new GenericDatumReader<GenericRecord>(schema, schema);
        using var stream = new MemoryStream(payload);
        var record = reader.Read(null!, new BinaryDecoder(stream));
        Assert.Equal(payload.Length, stream.Position);
        return record;
    }
}
