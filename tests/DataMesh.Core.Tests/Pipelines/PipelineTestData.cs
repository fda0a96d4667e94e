using System.Buffers;
using Avro.Generic;
using Avro.IO;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Pipelines.Transforms;

namespace DataMesh.Tests.Pipelines;

/// <summary>Real change-event envelopes written by <see cref="ChangeEventEncoder"/>, and Apache.Avro decoding of transform outputs.</summary>
internal static class PipelineTestData
{
    public static readonly SourceDescription Source = new("postgresql", "shop", [new SourceField("lsn", SourceFieldType.NullableLong)]);

    public static readonly TableDescription Orders = new("public", "orders",
    [
        new("id", DataType.Of(DataTypeKind.Int64, "bigint"), false),
        new("status", DataType.Of(DataTypeKind.String, "text"), false),
        new("email", DataType.Of(DataTypeKind.String, "text"), true),
        new("quantity", DataType.Of(DataTypeKind.Int32, "integer"), false),
        new("price", DataType.DecimalOf(12, 2, "numeric(12,2)"), true),
        new("discount", DataType.Of(DataTypeKind.Float64, "double precision"), true),
        new("is_gift", DataType.Of(DataTypeKind.Boolean, "boolean"), false),
        new("created_at", DataType.Of(DataTypeKind.Timestamp, "timestamptz"), false),
        new("country", DataType.Of(DataTypeKind.String, "text"), true),
    ], ["id"]);

    public static ChangeEventSchemas SchemasOf(TableDescription? table = null) => ChangeEventSchemas.Build(table ?? Orders, Source);

    public static object?[] Row(long id, string status = "NEW", string? email = "anna@example.com", int quantity = 3, decimal? price = 12.50m,
        double? discount = 0.1, bool isGift = false, string? country = "DE") =>
        [id, status, email, quantity, price, discount, isGift, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), country];

    /// <summary>The Avro payload (no Confluent header) of one envelope.</summary>
    public static byte[] Envelope(ChangeOperation op, object?[]? before, object?[]? after, ChangeEventSchemas? schemas = null, string table = "orders")
    {
        var encoder = new ChangeEventEncoder(schemas ?? SchemasOf(), 1, 2);
        var buffer = new ArrayBufferWriter<byte>();
        encoder.WriteValue(buffer, op, before, after,
            new SourceValues { TimestampMs = 1_764_150_615_000, Database = "shop", Schema = "public", Table = table, TransactionId = 7, Position = [42L] },
            1_764_150_616_000);
        return buffer.WrittenSpan[ConfluentWireFormat.HeaderLength..].ToArray();
    }

    /// <summary>Runs a transform alone, checks that the output is exactly one datum of its output schema, and decodes it.</summary>
    public static (TransformOutcome Outcome, GenericRecord? Record, RecordContext Context) Run(PlannedTransform planned, byte[] input)
    {
        var output = new ArrayBufferWriter<byte>();
        var context = default(RecordContext);
        var outcome = planned.Execute(input, output, ref context);
        if (outcome != TransformOutcome.Emit)
        {
            Xunit.Assert.Equal(0, output.WrittenCount);
            return (outcome, null, context);
        }

        return (outcome, Decode(planned.OutputSchema, output.WrittenSpan.ToArray()), context);
    }

    /// <summary>Runs a chain, validates, decodes.</summary>
    public static (TransformOutcome Outcome, GenericRecord? Record, RecordContext Context) Run(PlannedChain planned, byte[] input)
    {
        var output = new ArrayBufferWriter<byte>();
        var context = default(RecordContext);
        var outcome = planned.Execute(input, output, ref context);
        return outcome != TransformOutcome.Emit ? (outcome, null, context) : (outcome, Decode(planned.OutputSchema, output.WrittenSpan.ToArray()), context);
    }

    public static GenericRecord Decode(global::Avro.RecordSchema schema, byte[] datum)
    {
        AvroSchemaPlan.Compile(schema).Validate(datum);
        var reader = new GenericDatumReader<GenericRecord>(schema, schema);
        return reader.Read(null!, new BinaryDecoder(new MemoryStream(datum)));
    }

    public static GenericRecord After(GenericRecord envelope) => (GenericRecord)envelope["after"];

    /// <summary>The bytes <paramref name="once"/> allocates over 10,000 calls on this thread in steady state (after 100 to warm
    /// up; the least of up to 20 rounds). No Assert inside it: xunit's comparers allocate.</summary>
    public static long AllocatedBytes(Action once)
    {
        for (var i = 0; i < 100; i++)
        {
            once();
        }

        // Steady state: code still running at tier 0 (its tier-1 compile waits behind a loaded machine's other work) may
        // box where tier 1 does not, so a round is measured again, after a pause, until one allocates nothing (at most
        // 20 rounds). What allocates per call allocates in every round, so the least of them still shows it.
        var least = long.MaxValue;
        for (var round = 0; round < 20 && least > 0; round++)
        {
            if (round > 0)
            {
                Thread.Sleep(100);
            }

            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 10_000; i++)
            {
                once();
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
