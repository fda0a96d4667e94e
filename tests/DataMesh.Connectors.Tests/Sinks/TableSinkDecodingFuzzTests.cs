using System.Buffers;
using DataMesh.Avro;
using DataMesh.Connectors.Sinks;
using DataMesh.Events;
using DataMesh.Pipelines;
using DataMesh.Pipelines.Sinks;
using Xunit;

namespace DataMesh.Tests.Sinks;

/// <summary>
/// The table sinks' decoding (keys in the Confluent wire format, change-event envelopes and flat rows of every column
/// type, converted to each database's parameters) on mutated records (<see cref="Fuzz"/>): a record that cannot be decoded
/// is rejected on its own (<see cref="SinkBatch.Reject"/>); decoding a batch never throws, which would fail the whole
/// batch and stop the pipeline. No database is needed: decoding happens before any statement.
/// </summary>
public sealed class TableSinkDecodingFuzzTests
{
    private const int KeyId = 1;

    private static readonly SourceDescription Source = new("postgresql", "shop", [new SourceField("lsn", SourceFieldType.NullableLong)]);

    private static readonly TableDescription Table = new("public", "things",
    [
        new("id", DataType.Of(DataTypeKind.Int64, "bigint"), false),
        new("code", DataType.Of(DataTypeKind.String, "text"), false),
        new("flag", DataType.Of(DataTypeKind.Boolean, "boolean"), true),
        new("small", DataType.Of(DataTypeKind.Int32, "integer"), true),
        new("big", DataType.Of(DataTypeKind.UInt64, "bigint unsigned"), true),
        new("ratio", DataType.Of(DataTypeKind.Float32, "real"), true),
        new("score", DataType.Of(DataTypeKind.Float64, "double precision"), true),
        new("price", DataType.DecimalOf(12, 2, "numeric(12,2)"), true),
        new("amount", DataType.Of(DataTypeKind.VariableDecimal, "numeric"), true),
        new("blob", DataType.Of(DataTypeKind.Bytes, "bytea"), true),
        new("uid", DataType.Of(DataTypeKind.Uuid, "uuid"), true),
        new("doc", DataType.Of(DataTypeKind.Json, "jsonb"), true),
        new("day", DataType.Of(DataTypeKind.Date, "date"), true),
        new("at", DataType.Of(DataTypeKind.Time, "time"), true),
        new("span", DataType.Of(DataTypeKind.DurationMicros, "interval"), true),
        new("local", DataType.Of(DataTypeKind.LocalTimestamp, "timestamp"), true),
        new("stamp", DataType.Of(DataTypeKind.Timestamp, "timestamptz"), true),
        new("tags", DataType.ArrayOf(DataType.Of(DataTypeKind.String, "text"), "text[]"), true),
    ], ["id", "code"]);

    public static TheoryData<string> Dialects() => ["PostgreSQL", "MySQL"];

    [Theory]
    [MemberData(nameof(Dialects))]
    public void Mutated_records_are_rejected_one_by_one_and_decoding_a_batch_never_throws(string product)
    {
        var schemas = ChangeEventSchemas.Build(Table, Source);
        var encoder = new ChangeEventEncoder(schemas, KeyId, 2);
        var records = Enumerable.Range(1, 6).Select(i => Encode(encoder, i)).ToList();
        var unwrapped = Pipelines.Transforms.Transform.Unwrap().Plan(schemas.EnvelopeSchema);
        using var engine = Engine(product);
        engine.AddKeySchema(KeyId, schemas.KeySchema!);
        var rejected = 0;
        var decoded = 0;

        var run = Fuzz.Run(
            $"{product} table sink decoding",
            seed: product.Length,
            iterations: 5_000,
            random => Enumerable.Range(0, random.Next(1, 6)).Select(_ =>
            {
                var (key, value) = records[random.Next(records.Count)];
                var flat = random.Next(3) == 0;
                if (flat)
                {
                    var output = new ArrayBufferWriter<byte>();
                    var context = default(Pipelines.Transforms.RecordContext);
                    unwrapped.Execute(value, output, ref context);
                    value = output.WrittenSpan.ToArray();
                }

                switch (random.Next(4))
                {
                    case 0: key = Fuzz.Mutate(key, random); break;
                    case 1: value = Fuzz.Mutate(value, random); break;
                    case 2 when random.Next(4) == 0: value = null; break;
                }

                return (Key: key, Value: value, Flat: flat);
            }).ToList(),
            batchRecords =>
            {
                var batch = new SinkBatch();
                var partition = new SourcePartition("dm.shop.public.things", 0);
                for (var i = 0; i < batchRecords.Count; i++)
                {
                    var (key, value, flat) = batchRecords[i];
                    var entry = new SinkBatch.Entry
                    {
                        Topic = "dm.shop.public.things",
                        Source = partition,
                        SourceOffset = i,
                        KeyStart = batch.Buffer.WrittenCount,
                        KeyLength = key.Length,
                        ValueLength = -1,
                    };
                    batch.Buffer.Write(key);
                    if (value is not null)
                    {
                        entry.ValueStart = batch.Buffer.WrittenCount;
                        entry.ValueLength = value.Length;
                        entry.ValueSchema = flat ? unwrapped.OutputSchema : schemas.EnvelopeSchema;
                        batch.Buffer.Write(value);
                    }

                    batch.Add(in entry);
                }

                engine.Decode(batch);
                rejected += batch.RejectedCount;
                decoded += batch.Count;
            },
            batchRecords => string.Join("; ", batchRecords.Select(r => $"{(r.Flat ? "flat" : "envelope")} key {Convert.ToHexString(r.Key)} value {(r.Value is null ? "null" : Convert.ToHexString(r.Value))}")));

        Assert.Equal(0, run.Refused);
        Assert.InRange(rejected, decoded / 10, decoded - 1);
    }

    [Theory]
    [MemberData(nameof(Dialects))]
    public void A_variable_scale_decimal_whose_scale_is_a_billion_is_rejected_not_written_out(string product)
    {
        // The scale is read from the record: a forged one must not make the sink allocate a billion zeros.
        var schemas = ChangeEventSchemas.Build(Table, Source);
        var (key, value) = Encode(new ChangeEventEncoder(schemas, KeyId, 2), 1);
        var flat = new ArrayBufferWriter<byte>();
        var context = default(Pipelines.Transforms.RecordContext);
        var unwrapped = Pipelines.Transforms.Transform.Unwrap().Plan(schemas.EnvelopeSchema);
        unwrapped.Execute(value, flat, ref context);
        var ranges = new Range[Table.Columns.Count];
        new Pipelines.Transforms.FieldRangeFinder(unwrapped.OutputSchema).GetFieldRanges(flat.WrittenSpan, ranges);
        var amount = ranges[Table.Columns.ToList().FindIndex(c => c.Name == "amount")];
        var forged = new ArrayBufferWriter<byte>();
        forged.Write(flat.WrittenSpan[..amount.Start]);
        var writer = new AvroWriter(forged);
        writer.WriteUnionIndex(1);
        writer.WriteInt(1_000_000_000);
        writer.WriteBytes([0x01]);
        writer.Flush();
        forged.Write(flat.WrittenSpan[amount.End..]);
        using var engine = Engine(product);
        engine.AddKeySchema(KeyId, schemas.KeySchema!);
        var batch = new SinkBatch();
        var entry = new SinkBatch.Entry { Topic = "dm.shop.public.things", Source = new SourcePartition("dm.shop.public.things", 0), KeyStart = 0, KeyLength = key.Length, ValueSchema = unwrapped.OutputSchema };
        batch.Buffer.Write(key);
        entry.ValueStart = batch.Buffer.WrittenCount;
        entry.ValueLength = forged.WrittenCount;
        batch.Buffer.Write(forged.WrittenSpan);
        batch.Add(in entry);

        engine.Decode(batch);

        Assert.Contains("decimal scale 1000000000 is not from 0 to 16383", batch.GetRejection(0), StringComparison.Ordinal);
    }

    private static (byte[] Key, byte[] Value) Encode(ChangeEventEncoder encoder, int i)
    {
        object?[] row =
        [
            (long)i, "c" + i, i % 2 == 0, i * 1000, ulong.MaxValue - (ulong)i, 1.5f * i, -2.25 * i, 1234567.89m * i, -0.000123m * i,
            new byte[] { 0, (byte)i, 255 }, Guid.NewGuid(), $$"""{"i":{{i}},"a":[1,2,{"b":null}]}""", new DateOnly(2024, 2, 29).AddDays(i),
            new TimeOnly(23, 59, 59).Add(TimeSpan.FromMicroseconds(i)), TimeSpan.FromDays(i), new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Unspecified),
            DateTimeOffset.UnixEpoch.AddYears(i), i % 3 == 0 ? null : new[] { "a", null, "c" + i },
        ];
        var key = new ArrayBufferWriter<byte>();
        encoder.WriteKey(key, row);
        var value = new ArrayBufferWriter<byte>();
        encoder.WriteValue(value, i % 2 == 0 ? ChangeOperation.Update : ChangeOperation.Create, i % 2 == 0 ? row : null, row,
            new SourceValues { TimestampMs = 1, Database = "shop", Schema = "public", Table = "things", Position = [1L] }, 2);
        return (key.WrittenSpan.ToArray(), value.WrittenSpan[ConfluentWireFormat.HeaderLength..].ToArray());
    }

    private static DisposableEngine Engine(string product)
    {
        if (product == "PostgreSQL")
        {
            var options = new PostgresTableSinkOptions { ConnectionString = "Host=localhost;Database=unused" };
            return new DisposableEngine(new TableSinkEngine("fuzz", options, new PostgresTableDialect(options)));
        }

        var mysql = new MySqlTableSinkOptions { ConnectionString = "Server=localhost;Database=unused" };
        return new DisposableEngine(new TableSinkEngine("fuzz", mysql, new MySqlTableDialect(mysql)));
    }

    /// <summary>The engine, disposed synchronously at the end of the test (it opened no connection).</summary>
    private sealed class DisposableEngine(TableSinkEngine engine) : IDisposable
    {
        public void AddKeySchema(int id, global::Avro.Schema schema) => engine.AddKeySchema(id, schema);

        public void Decode(SinkBatch batch) => engine.Decode(batch);

        public void Dispose() => engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
