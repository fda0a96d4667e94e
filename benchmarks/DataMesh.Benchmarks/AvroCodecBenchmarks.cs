using System.Buffers;
using Avro;
using Avro.Generic;
using Avro.IO;
using BenchmarkDotNet.Attributes;
using DataMesh.Avro;

namespace DataMesh.Benchmarks;

/// <summary>
/// Encode then decode one 20-field change-event row (ints, longs, strings, a decimal, timestamps, nullable unions):
/// DataMesh's span codec (AvroWriter into a reused buffer, AvroReader over it, strings left as validated UTF-8) against
/// Apache.Avro's GenericDatumWriter/GenericDatumReader over GenericRecord, the path a .NET user would otherwise take.
/// </summary>
[MemoryDiagnoser]
public class AvroCodecBenchmarks
{
    private const string SchemaJson = """
        {"type":"record","name":"Value","namespace":"shop.public.orders","fields":[
          {"name":"id","type":"long"},
          {"name":"customer_id","type":"long"},
          {"name":"status","type":"string"},
          {"name":"email","type":["null","string"]},
          {"name":"customer_name","type":"string"},
          {"name":"quantity","type":"int"},
          {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
          {"name":"created_at","type":{"type":"long","logicalType":"timestamp-micros"}},
          {"name":"updated_at","type":["null",{"type":"long","logicalType":"timestamp-micros"}]},
          {"name":"note","type":["null","string"]},
          {"name":"discount","type":["null","double"]},
          {"name":"is_gift","type":"boolean"},
          {"name":"version","type":"int"},
          {"name":"country","type":"string"},
          {"name":"city","type":["null","string"]},
          {"name":"weight_kg","type":"double"},
          {"name":"warehouse_id","type":["null","int"]},
          {"name":"lsn","type":"long"},
          {"name":"shipped_at","type":["null","long"]},
          {"name":"currency","type":"string"}
        ]}
        """;

    private static readonly DateTime CreatedAt = new(2024, 5, 17, 9, 30, 15, 123, DateTimeKind.Utc);
    private static readonly DateTime UpdatedAt = CreatedAt.AddMinutes(5).AddTicks(4560);

    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly MemoryStream _stream = new(1024);
    private RecordSchema _schema = null!;
    private GenericRecord _record = null!;
    private GenericDatumWriter<GenericRecord> _apacheWriter = null!;
    private GenericDatumReader<GenericRecord> _apacheReader = null!;
    private GenericRecord? _reuse;

    [GlobalSetup]
    public void Setup()
    {
        _schema = (RecordSchema)Schema.Parse(SchemaJson);
        _record = new GenericRecord(_schema);
        _record.Add("id", 1_234_567L);
        _record.Add("customer_id", 98_765L);
        _record.Add("status", "SHIPPED");
        _record.Add("email", "anna.schmidt@example.com");
        _record.Add("customer_name", "Anna Schmidt");
        _record.Add("quantity", 3);
        _record.Add("price", new AvroDecimal(1234.56m));
        _record.Add("created_at", CreatedAt);
        _record.Add("updated_at", UpdatedAt);
        _record.Add("note", null);
        _record.Add("discount", 0.15);
        _record.Add("is_gift", false);
        _record.Add("version", 7);
        _record.Add("country", "DE");
        _record.Add("city", "Zürich");
        _record.Add("weight_kg", 2.75);
        _record.Add("warehouse_id", 12);
        _record.Add("lsn", 0x1_6B37_4D48L);
        _record.Add("shipped_at", null);
        _record.Add("currency", "EUR");
        _apacheWriter = new GenericDatumWriter<GenericRecord>(_schema);
        _apacheReader = new GenericDatumReader<GenericRecord>(_schema, _schema);

        // Both sides must produce the same bytes, or the comparison is meaningless.
        DataMeshEncodeDecode();
        var ours = _buffer.WrittenSpan.ToArray();
        ApacheAvroEncodeDecode();
        var theirs = _stream.ToArray();
        if (!ours.AsSpan().SequenceEqual(theirs))
        {
            throw new InvalidOperationException($"Encodings differ: ours {Convert.ToHexString(ours)}, Apache.Avro {Convert.ToHexString(theirs)}");
        }
    }

    [Benchmark(Baseline = true, Description = "Apache.Avro GenericRecord encode+decode")]
    public object ApacheAvroEncodeDecode()
    {
        _stream.SetLength(0);
        _apacheWriter.Write(_record, new BinaryEncoder(_stream));
        _stream.Position = 0;
        _reuse = _apacheReader.Read(_reuse!, new BinaryDecoder(_stream));
        return _reuse;
    }

    [Benchmark(Description = "DataMesh AvroWriter+AvroReader encode+decode")]
    public long DataMeshEncodeDecode()
    {
        _buffer.ResetWrittenCount();
        var w = new AvroWriter(_buffer);
        w.WriteLong(1_234_567L);
        w.WriteLong(98_765L);
        w.WriteString("SHIPPED");
        w.WriteUnionIndex(1);
        w.WriteString("anna.schmidt@example.com");
        w.WriteString("Anna Schmidt");
        w.WriteInt(3);
        w.WriteDecimal(1234.56m, 12, 2);
        w.WriteTimestampMicros(CreatedAt);
        w.WriteUnionIndex(1);
        w.WriteTimestampMicros(UpdatedAt);
        w.WriteUnionIndex(0);
        w.WriteUnionIndex(1);
        w.WriteDouble(0.15);
        w.WriteBoolean(false);
        w.WriteInt(7);
        w.WriteString("DE");
        w.WriteUnionIndex(1);
        w.WriteString("Zürich");
        w.WriteDouble(2.75);
        w.WriteUnionIndex(1);
        w.WriteInt(12);
        w.WriteLong(0x1_6B37_4D48L);
        w.WriteUnionIndex(0);
        w.WriteString("EUR");
        w.Flush();

        var r = new AvroReader(_buffer.WrittenSpan);
        var check = r.ReadLong();
        check += r.ReadLong();
        check += r.ReadStringUtf8().Length;
        if (r.ReadUnionIndex(2) == 1)
        {
            check += r.ReadStringUtf8().Length;
        }

        check += r.ReadStringUtf8().Length;
        check += r.ReadInt();
        check += (long)r.ReadDecimal(2);
        check += r.ReadTimestampMicros().Ticks;
        if (r.ReadUnionIndex(2) == 1)
        {
            check += r.ReadTimestampMicros().Ticks;
        }

        if (r.ReadUnionIndex(2) == 1)
        {
            check += r.ReadStringUtf8().Length;
        }

        if (r.ReadUnionIndex(2) == 1)
        {
            check += (long)r.ReadDouble();
        }

        check += r.ReadBoolean() ? 1 : 0;
        check += r.ReadInt();
        check += r.ReadStringUtf8().Length;
        if (r.ReadUnionIndex(2) == 1)
        {
            check += r.ReadStringUtf8().Length;
        }

        check += (long)r.ReadDouble();
        if (r.ReadUnionIndex(2) == 1)
        {
            check += r.ReadInt();
        }

        check += r.ReadLong();
        if (r.ReadUnionIndex(2) == 1)
        {
            check += r.ReadLong();
        }

        check += r.ReadStringUtf8().Length;
        return check;
    }
}
