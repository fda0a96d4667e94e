using System.Buffers;
using Avro;
using Avro.Generic;
using Avro.IO;
using Avro.Specific;
using BenchmarkDotNet.Attributes;
using DataMesh.Avro;

namespace DataMesh.Benchmarks;

/// <summary>
/// Encode then decode one 20-field change-event row (ints, longs, strings, a decimal, timestamps, nullable unions), taking
/// the next of 1,024 distinct rows held as <see cref="OrderRow"/> structs (the way a connector holds them) and ending with
/// a new <see cref="OrderRow"/> of values a consumer would use (strings materialised, the decimal a
/// <see cref="decimal"/>, timestamps <see cref="DateTime"/>s): DataMesh's span codec (AvroWriter into a reused buffer,
/// AvroReader over it) against Apache.Avro's GenericDatumWriter/GenericDatumReader over a (reused) GenericRecord and its
/// SpecificDatumWriter/SpecificDatumReader over a (reused) <see cref="AvroOrderRow"/>, an ISpecificRecord as avrogen would
/// generate it — the paths a .NET user would otherwise take. The setup checks that all three write the same bytes and give
/// back the rows they were given.
/// </summary>
[MemoryDiagnoser]
public class AvroCodecBenchmarks
{
    private const int RowCount = 1024;

    private const string SchemaJson = """
        {"type":"record","name":"AvroOrderRow","namespace":"DataMesh.Benchmarks","fields":[
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

    private static readonly string[] Statuses = ["NEW", "PAID", "SHIPPED", "DELIVERED"];
    private static readonly string[] Cities = ["Zürich", "Berlin", "Lyon", "Kraków", "Porto"];

    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly MemoryStream _stream = new(1024);
    private OrderRow[] _rows = [];
    private int _next;
    private RecordSchema _schema = null!;
    private GenericRecord _record = null!;
    private GenericDatumWriter<GenericRecord> _genericWriter = null!;
    private GenericDatumReader<GenericRecord> _genericReader = null!;
    private GenericRecord? _genericReuse;
    private AvroOrderRow _specific = null!;
    private AvroOrderRow _specificReuse = null!;
    private SpecificDatumWriter<AvroOrderRow> _specificWriter = null!;
    private SpecificDatumReader<AvroOrderRow> _specificReader = null!;

    /// <summary>The schema of the row.</summary>
    internal static RecordSchema Schema { get; } = (RecordSchema)global::Avro.Schema.Parse(SchemaJson);

    /// <summary>The last row decoded (so that no side's decode is dead code).</summary>
    internal OrderRow Decoded { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        var created = new DateTime(2024, 5, 17, 9, 30, 15, 123, DateTimeKind.Utc);
        _rows = [.. Enumerable.Range(0, RowCount).Select(i => new OrderRow(
            1_234_567L + i, 98_765L + (i * 7), Statuses[i % 4], i % 5 == 0 ? null : $"customer.{i}@example.com", $"Customer Number {i}",
            1 + (i % 9), 1234.56m + i, created.AddSeconds(i), i % 3 == 0 ? null : created.AddMinutes(5).AddTicks(4560 + (i * 10)),
            i % 2 == 0 ? null : $"order note {i}", i % 4 == 0 ? null : 0.05 * (i % 5), i % 7 == 0, 1 + (i % 20), i % 2 == 0 ? "DE" : "CH",
            i % 6 == 0 ? null : Cities[i % 5], 0.25 * (1 + (i % 40)), i % 8 == 0 ? null : 10 + (i % 5), 0x1_6B37_4D48L + i, i % 2 == 0 ? null : 1_716_000_000_000L + i,
            i % 3 == 0 ? "EUR" : "CHF"))];
        _schema = Schema;
        _record = new GenericRecord(_schema);
        _genericWriter = new GenericDatumWriter<GenericRecord>(_schema);
        _genericReader = new GenericDatumReader<GenericRecord>(_schema, _schema);
        _specific = new AvroOrderRow();
        _specificReuse = new AvroOrderRow();
        _specificWriter = new SpecificDatumWriter<AvroOrderRow>(_schema);
        _specificReader = new SpecificDatumReader<AvroOrderRow>(_schema, _schema);

        // All sides must write the same bytes and give back the rows they were given, or the comparison is meaningless.
        for (var i = 0; i < 16; i++)
        {
            _next = i;
            DataMeshEncodeDecode();
            var ours = _buffer.WrittenSpan.ToArray();
            Check("DataMesh", i);
            foreach (var (name, run) in new (string, Action)[] { ("Apache.Avro GenericRecord", () => ApacheAvroGenericEncodeDecode()), ("Apache.Avro SpecificRecord", () => ApacheAvroSpecificEncodeDecode()) })
            {
                _next = i;
                run();
                var theirs = _stream.ToArray();
                if (!ours.AsSpan().SequenceEqual(theirs))
                {
                    throw new InvalidOperationException($"Encodings of row {i} differ: ours {Convert.ToHexString(ours)}, {name} {Convert.ToHexString(theirs)}");
                }

                Check(name, i);
            }
        }
    }

    [Benchmark(Baseline = true, Description = "Apache.Avro GenericRecord encode+decode")]
    public long ApacheAvroGenericEncodeDecode()
    {
        var row = _rows[_next++ & (RowCount - 1)];
        var r = _record;
        r.Add("id", row.Id);
        r.Add("customer_id", row.CustomerId);
        r.Add("status", row.Status);
        r.Add("email", row.Email);
        r.Add("customer_name", row.CustomerName);
        r.Add("quantity", row.Quantity);
        r.Add("price", new AvroDecimal(row.Price));
        r.Add("created_at", row.CreatedAt);
        r.Add("updated_at", row.UpdatedAt);
        r.Add("note", row.Note);
        r.Add("discount", row.Discount);
        r.Add("is_gift", row.IsGift);
        r.Add("version", row.Version);
        r.Add("country", row.Country);
        r.Add("city", row.City);
        r.Add("weight_kg", row.WeightKg);
        r.Add("warehouse_id", row.WarehouseId);
        r.Add("lsn", row.Lsn);
        r.Add("shipped_at", row.ShippedAt);
        r.Add("currency", row.Currency);
        _stream.SetLength(0);
        _genericWriter.Write(r, new BinaryEncoder(_stream));
        _stream.Position = 0;
        var d = _genericReuse = _genericReader.Read(_genericReuse!, new BinaryDecoder(_stream));
        Decoded = new OrderRow(
            (long)d["id"], (long)d["customer_id"], (string)d["status"], (string?)d["email"], (string)d["customer_name"], (int)d["quantity"],
            (decimal)(AvroDecimal)d["price"], (DateTime)d["created_at"], (DateTime?)d["updated_at"], (string?)d["note"], (double?)d["discount"],
            (bool)d["is_gift"], (int)d["version"], (string)d["country"], (string?)d["city"], (double)d["weight_kg"], (int?)d["warehouse_id"],
            (long)d["lsn"], (long?)d["shipped_at"], (string)d["currency"]);
        return Decoded.Id;
    }

    [Benchmark(Description = "Apache.Avro SpecificRecord encode+decode")]
    public long ApacheAvroSpecificEncodeDecode()
    {
        var row = _rows[_next++ & (RowCount - 1)];
        _specific.Row = row;
        _stream.SetLength(0);
        _specificWriter.Write(_specific, new BinaryEncoder(_stream));
        _stream.Position = 0;
        Decoded = _specificReader.Read(_specificReuse, new BinaryDecoder(_stream)).Row;
        return Decoded.Id;
    }

    [Benchmark(Description = "DataMesh AvroWriter+AvroReader encode+decode")]
    public long DataMeshEncodeDecode()
    {
        var row = _rows[_next++ & (RowCount - 1)];
        _buffer.ResetWrittenCount();
        var w = new AvroWriter(_buffer);
        w.WriteLong(row.Id);
        w.WriteLong(row.CustomerId);
        w.WriteString(row.Status);
        WriteNullable(ref w, row.Email);
        w.WriteString(row.CustomerName);
        w.WriteInt(row.Quantity);
        w.WriteDecimal(row.Price, 12, 2);
        w.WriteTimestampMicros(row.CreatedAt);
        w.WriteUnionIndex(row.UpdatedAt.HasValue ? 1 : 0); // ["null", …]: the value follows only when present
        if (row.UpdatedAt is { } updated)
        {
            w.WriteTimestampMicros(updated);
        }

        WriteNullable(ref w, row.Note);
        w.WriteUnionIndex(row.Discount.HasValue ? 1 : 0); // ["null", …]: the value follows only when present
        if (row.Discount is { } discount)
        {
            w.WriteDouble(discount);
        }

        w.WriteBoolean(row.IsGift);
        w.WriteInt(row.Version);
        w.WriteString(row.Country);
        WriteNullable(ref w, row.City);
        w.WriteDouble(row.WeightKg);
        w.WriteUnionIndex(row.WarehouseId.HasValue ? 1 : 0); // ["null", …]: the value follows only when present
        if (row.WarehouseId is { } warehouse)
        {
            w.WriteInt(warehouse);
        }

        w.WriteLong(row.Lsn);
        w.WriteUnionIndex(row.ShippedAt.HasValue ? 1 : 0); // ["null", …]: the value follows only when present
        if (row.ShippedAt is { } shipped)
        {
            w.WriteLong(shipped);
        }

        w.WriteString(row.Currency);
        w.Flush();

        var r = new AvroReader(_buffer.WrittenSpan);
        Decoded = new OrderRow(
            r.ReadLong(), r.ReadLong(), r.ReadString(), r.ReadUnionIndex(2) == 1 ? r.ReadString() : null, r.ReadString(), r.ReadInt(),
            r.ReadDecimal(2), r.ReadTimestampMicros(), r.ReadUnionIndex(2) == 1 ? r.ReadTimestampMicros() : null,
            r.ReadUnionIndex(2) == 1 ? r.ReadString() : null, r.ReadUnionIndex(2) == 1 ? r.ReadDouble() : null, r.ReadBoolean(), r.ReadInt(),
            r.ReadString(), r.ReadUnionIndex(2) == 1 ? r.ReadString() : null, r.ReadDouble(), r.ReadUnionIndex(2) == 1 ? r.ReadInt() : null,
            r.ReadLong(), r.ReadUnionIndex(2) == 1 ? r.ReadLong() : null, r.ReadString());
        return Decoded.Id;
    }

    private static void WriteNullable(ref AvroWriter w, string? value)
    {
        if (value is null)
        {
            w.WriteUnionIndex(0);
        }
        else
        {
            w.WriteUnionIndex(1);
            w.WriteString(value);
        }
    }

    private void Check(string side, int index)
    {
        if (Decoded != _rows[index])
        {
            throw new InvalidOperationException($"{side} decoded row {index} as {Decoded}, not {_rows[index]}");
        }
    }
}

/// <summary>One row of the codec benchmark, as a connector holds it and a consumer uses it.</summary>
internal readonly record struct OrderRow(
    long Id, long CustomerId, string Status, string? Email, string CustomerName, int Quantity, decimal Price, DateTime CreatedAt, DateTime? UpdatedAt,
    string? Note, double? Discount, bool IsGift, int Version, string Country, string? City, double WeightKg, int? WarehouseId, long Lsn, long? ShippedAt,
    string Currency);

/// <summary>The row as avrogen would generate it for Apache.Avro's SpecificDatumWriter/Reader (an ISpecificRecord with a
/// property a field), with the user's mapping from and to <see cref="OrderRow"/>.</summary>
public sealed class AvroOrderRow : ISpecificRecord
{
    public long Id { get; set; }

    public long CustomerId { get; set; }

    public string Status { get; set; } = "";

    public string? Email { get; set; }

    public string CustomerName { get; set; } = "";

    public int Quantity { get; set; }

    public AvroDecimal Price { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime? UpdatedAt { get; set; }

    public string? Note { get; set; }

    public double? Discount { get; set; }

    public bool IsGift { get; set; }

    public int Version { get; set; }

    public string Country { get; set; } = "";

    public string? City { get; set; }

    public double WeightKg { get; set; }

    public int? WarehouseId { get; set; }

    public long Lsn { get; set; }

    public long? ShippedAt { get; set; }

    public string Currency { get; set; } = "";

    public global::Avro.Schema Schema => AvroCodecBenchmarks.Schema;

    /// <summary>The row's values (the user's mapping).</summary>
    internal OrderRow Row
    {
        get => new(Id, CustomerId, Status, Email, CustomerName, Quantity, (decimal)Price, CreatedAt, UpdatedAt, Note, Discount, IsGift, Version, Country, City, WeightKg, WarehouseId, Lsn, ShippedAt, Currency);
        set
        {
            Id = value.Id;
            CustomerId = value.CustomerId;
            Status = value.Status;
            Email = value.Email;
            CustomerName = value.CustomerName;
            Quantity = value.Quantity;
            Price = new AvroDecimal(value.Price);
            CreatedAt = value.CreatedAt;
            UpdatedAt = value.UpdatedAt;
            Note = value.Note;
            Discount = value.Discount;
            IsGift = value.IsGift;
            Version = value.Version;
            Country = value.Country;
            City = value.City;
            WeightKg = value.WeightKg;
            WarehouseId = value.WarehouseId;
            Lsn = value.Lsn;
            ShippedAt = value.ShippedAt;
            Currency = value.Currency;
        }
    }

    public object? Get(int fieldPos) => fieldPos switch
    {
        0 => Id,
        1 => CustomerId,
        2 => Status,
        3 => Email,
        4 => CustomerName,
        5 => Quantity,
        6 => Price,
        7 => CreatedAt,
        8 => UpdatedAt,
        9 => Note,
        10 => Discount,
        11 => IsGift,
        12 => Version,
        13 => Country,
        14 => City,
        15 => WeightKg,
        16 => WarehouseId,
        17 => Lsn,
        18 => ShippedAt,
        19 => Currency,
        _ => throw new AvroRuntimeException("Bad index " + fieldPos + " in Get()"),
    };

    public void Put(int fieldPos, object fieldValue)
    {
        switch (fieldPos)
        {
            case 0: Id = (long)fieldValue; break;
            case 1: CustomerId = (long)fieldValue; break;
            case 2: Status = (string)fieldValue; break;
            case 3: Email = (string?)fieldValue; break;
            case 4: CustomerName = (string)fieldValue; break;
            case 5: Quantity = (int)fieldValue; break;
            case 6: Price = (AvroDecimal)fieldValue; break;
            case 7: CreatedAt = (DateTime)fieldValue; break;
            case 8: UpdatedAt = (DateTime?)fieldValue; break;
            case 9: Note = (string?)fieldValue; break;
            case 10: Discount = (double?)fieldValue; break;
            case 11: IsGift = (bool)fieldValue; break;
            case 12: Version = (int)fieldValue; break;
            case 13: Country = (string)fieldValue; break;
            case 14: City = (string?)fieldValue; break;
            case 15: WeightKg = (double)fieldValue; break;
            case 16: WarehouseId = (int?)fieldValue; break;
            case 17: Lsn = (long)fieldValue; break;
            case 18: ShippedAt = (long?)fieldValue; break;
            case 19: Currency = (string)fieldValue; break;
            default: throw new AvroRuntimeException("Bad index " + fieldPos + " in Put()");
        }
    }
}
