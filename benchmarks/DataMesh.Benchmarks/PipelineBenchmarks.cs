using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Avro;
using Avro.Generic;
using Avro.IO;
using BenchmarkDotNet.Attributes;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Pipelines.Transforms;

namespace DataMesh.Benchmarks;

/// <summary>
/// One transform chain — filter (<c>op != 'd' and quantity &gt; 0 and source.table == 'orders'</c>) + project (drop 4 fields) +
/// mask (keyed hash of the e-mail) + rename — over a 20-column update event with before- and after-images: DataMesh's
/// planned chain over the Avro bytes against the same chain written with Apache.Avro's GenericRecord (decode the envelope,
/// test, build the output rows, hash, encode), the path a .NET user would otherwise take. Both write the same bytes. Each
/// call takes the next of 1024 events with distinct keys and e-mail addresses, whose before- and after-images hold
/// different addresses, so that no per-value cache can help across records or between the two images: both sides hash twice.
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("benchmark-secret-key-32-bytes!!!");
    private static readonly string[] Dropped = ["note", "weight_kg", "lsn", "shipped_at"];

    private readonly ArrayBufferWriter<byte> _output = new(4096);
    private readonly MemoryStream _stream = new(4096);
    private const int EventCount = 1024;

    private byte[][] _inputs = [];
    private int _next;
    private PlannedChain _chain = null!;
    private RecordSchema _outputSchema = null!;
    private RecordSchema _outputRow = null!;
    private GenericDatumReader<GenericRecord> _apacheReader = null!;
    private GenericDatumWriter<GenericRecord> _apacheWriter = null!;
    private GenericRecord? _reuse;
    private (string Output, string Input)[] _rowMap = [];

    /// <summary>The 20-column table of the benchmark.</summary>
    internal static TableDescription Table { get; } = new("public", "orders",
    [
        new("id", DataType.Of(DataTypeKind.Int64, "bigint"), false),
        new("customer_id", DataType.Of(DataTypeKind.Int64, "bigint"), false),
        new("status", DataType.Of(DataTypeKind.String, "text"), false),
        new("email", DataType.Of(DataTypeKind.String, "text"), true),
        new("customer_name", DataType.Of(DataTypeKind.String, "text"), false),
        new("quantity", DataType.Of(DataTypeKind.Int32, "integer"), false),
        new("price", DataType.DecimalOf(12, 2, "numeric(12,2)"), false),
        new("created_at", DataType.Of(DataTypeKind.Timestamp, "timestamptz"), false),
        new("updated_at", DataType.Of(DataTypeKind.Timestamp, "timestamptz"), true),
        new("note", DataType.Of(DataTypeKind.String, "text"), true),
        new("discount", DataType.Of(DataTypeKind.Float64, "double precision"), true),
        new("is_gift", DataType.Of(DataTypeKind.Boolean, "boolean"), false),
        new("version", DataType.Of(DataTypeKind.Int32, "integer"), false),
        new("country", DataType.Of(DataTypeKind.String, "text"), false),
        new("city", DataType.Of(DataTypeKind.String, "text"), true),
        new("weight_kg", DataType.Of(DataTypeKind.Float64, "double precision"), false),
        new("warehouse_id", DataType.Of(DataTypeKind.Int32, "integer"), true),
        new("lsn", DataType.Of(DataTypeKind.Int64, "bigint"), false),
        new("shipped_at", DataType.Of(DataTypeKind.Int64, "bigint"), true),
        new("currency", DataType.Of(DataTypeKind.String, "text"), false),
    ], ["id"]);

    /// <summary>The chain measured.</summary>
    internal static TransformChain Chain { get; } = new(
    [
        Transform.Filter("op != 'd' and quantity > 0 and source.table == 'orders'"),
        Transform.Drop(Dropped),
        Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Key }, "email"),
        Transform.Rename(("customer_name", "name"), ("status", "order_status")),
    ]);

    /// <summary>A row of the table, with <paramref name="email"/> or the customer's usual address.</summary>
    internal static object?[] Row(long id, string status, string? email = null) =>
    [
        id, 98_765L, status, email ?? $"anna.schmidt.{id}@example.com", "Anna Schmidt", 3, 1234.56m,
        new DateTimeOffset(2024, 5, 17, 9, 30, 15, TimeSpan.Zero), new DateTimeOffset(2024, 5, 17, 9, 35, 15, TimeSpan.Zero),
        null, 0.15, false, 7, "DE", "Zürich", 2.75, 12, 0x1_6B37_4D48L, null, "EUR",
    ];

    /// <summary>An update event of the table whose e-mail address changed (so that the mask hashes both images: no side can
    /// reuse the hash of the before-image for the after-image), framed (Confluent header) when <paramref name="schemaId"/> is given.</summary>
    internal static byte[] Event(ChangeEventSchemas schemas, long id, int schemaId = 1, bool framed = false)
    {
        var buffer = new ArrayBufferWriter<byte>();
        new ChangeEventEncoder(schemas, 1, schemaId).WriteValue(buffer, ChangeOperation.Update, Row(id, "NEW", $"anna.schmidt.{id}@old-mail.example.com"), Row(id, "PAID"),
            new SourceValues { TimestampMs = 1_716_000_000_000, Database = "shop", Schema = "public", Table = "orders", TransactionId = 991, Position = [] },
            1_716_000_000_500);
        return framed ? buffer.WrittenSpan.ToArray() : buffer.WrittenSpan[ConfluentWireFormat.HeaderLength..].ToArray();
    }

    [GlobalSetup]
    public void Setup()
    {
        var schemas = ChangeEventSchemas.Build(Table, new SourceDescription("postgresql", "shop", []));
        _inputs = Enumerable.Range(0, EventCount).Select(i => Event(schemas, 1_234_567L + i)).ToArray();
        _chain = Chain.Plan(schemas.EnvelopeSchema);
        _outputSchema = _chain.OutputSchema;
        _outputRow = (RecordSchema)((UnionSchema)_outputSchema["after"].Schema)[1];
        _rowMap = _outputRow.Fields.Select(f => (f.Name, f.Name switch { "name" => "customer_name", "order_status" => "status", _ => f.Name })).ToArray();
        _apacheReader = new GenericDatumReader<GenericRecord>(schemas.EnvelopeSchema, schemas.EnvelopeSchema);
        _apacheWriter = new GenericDatumWriter<GenericRecord>(_outputSchema);

        // Both sides must produce the same bytes, or the comparison is meaningless.
        for (var i = 0; i < 3; i++)
        {
            _next = i;
            DataMeshChain();
            var ours = _output.WrittenSpan.ToArray();
            _next = i;
            ApacheAvroChain();
            var theirs = _stream.ToArray();
            if (!ours.AsSpan().SequenceEqual(theirs))
            {
                throw new InvalidOperationException($"Outputs differ: ours {Convert.ToHexString(ours)}, Apache.Avro {Convert.ToHexString(theirs)}");
            }
        }
    }

    [Benchmark(Baseline = true, Description = "Apache.Avro GenericRecord filter+project+mask+rename")]
    public long ApacheAvroChain()
    {
        _stream.SetLength(0);
        var input = _inputs[_next++ & (EventCount - 1)];
        _reuse = _apacheReader.Read(_reuse!, new BinaryDecoder(new MemoryStream(input, writable: false)));
        var envelope = _reuse;
        var after = (GenericRecord?)envelope["after"];
        var before = (GenericRecord?)envelope["before"];
        var row = after ?? before;
        if ((string)envelope["op"] == "d" || row is null || (int)row["quantity"] <= 0 || (string?)((GenericRecord)envelope["source"])["table"] != "orders")
        {
            return 0;
        }

        var output = new GenericRecord(_outputSchema);
        output.Add("before", before is null ? null : Map(before));
        output.Add("after", after is null ? null : Map(after));
        output.Add("source", envelope["source"]);
        output.Add("op", envelope["op"]);
        output.Add("ts_ms", envelope["ts_ms"]);
        _apacheWriter.Write(output, new BinaryEncoder(_stream));
        return _stream.Length;
    }

    [Benchmark(Description = "DataMesh planned chain over spans")]
    public long DataMeshChain()
    {
        _output.ResetWrittenCount();
        var context = default(RecordContext);
        var input = _inputs[_next++ & (EventCount - 1)];
        return _chain.Execute(input, _output, ref context) == TransformOutcome.Emit ? _output.WrittenCount : 0;
    }

    private GenericRecord Map(GenericRecord input)
    {
        var row = new GenericRecord(_outputRow);
        foreach (var (output, source) in _rowMap)
        {
            var value = input[source];
            if (output == "email" && value is string email)
            {
                value = Convert.ToHexStringLower(HMACSHA256.HashData(Key, Encoding.UTF8.GetBytes(email)));
            }

            row.Add(output, value);
        }

        return row;
    }
}
