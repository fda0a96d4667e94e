using DataMesh.Producer;

namespace DataMesh.Tests.Producer;

public enum Priority
{
    Low,
    Normal,
    High,
}

public sealed record Address(string Street, string City, string? Zip);

public sealed record Line(string Sku, int Quantity, [property: AvroDecimal(10, 2)] decimal Price);

public readonly record struct Money([property: AvroDecimal(18, 4)] decimal Amount, string Currency);

/// <summary>Every supported member type, as a class with properties.</summary>
public sealed class AllTypes
{
    [EventKey]
    public Guid Id { get; init; }

    public bool Flag { get; init; }

    public byte Byte { get; init; }

    public sbyte SByte { get; init; }

    public short Short { get; init; }

    public ushort UShort { get; init; }

    public int Int { get; init; }

    public uint UInt { get; init; }

    public long Long { get; init; }

    public ulong ULong { get; init; }

    public float Float { get; init; }

    public double Double { get; init; }

    public char Char { get; init; }

    public string Text { get; init; } = "";

    public string? MaybeText { get; init; }

    public int? MaybeInt { get; init; }

    public Guid? MaybeGuid { get; init; }

    public DateTime When { get; init; }

    public DateTimeOffset WhenOffset { get; init; }

    public DateOnly Day { get; init; }

    public TimeOnly Clock { get; init; }

    [AvroDecimal(12, 3)]
    public decimal Amount { get; init; }

    [AvroDecimal(12, 3)]
    public decimal? MaybeAmount { get; init; }

    public byte[] Blob { get; init; } = [];

    public byte[]? MaybeBlob { get; init; }

    public Priority Priority { get; init; }

    public Priority? MaybePriority { get; init; }

    public int[] Numbers { get; init; } = [];

    public List<string> Tags { get; init; } = [];

    public List<string?> SparseTags { get; init; } = [];

    public IReadOnlyList<Line> Lines { get; init; } = [];

    public IEnumerable<long> Sequence { get; init; } = [];

    public HashSet<string> Set { get; init; } = [];

    public Dictionary<string, int> Counts { get; init; } = [];

    public IReadOnlyDictionary<string, Address> Addresses { get; init; } = new Dictionary<string, Address>();

    public Address Shipping { get; init; } = new("", "", null);

    public Address? Billing { get; init; }

    public Money Total { get; init; }

    public Money? Discount { get; init; }

    public List<Money> Payments { get; init; } = [];

    [EventIgnore]
    public string Secret { get; init; } = "";
}

/// <summary>A struct event with public fields.</summary>
[EventTopic("structs")]
public struct Reading
{
    [EventKey]
    public string Sensor;
    public double Value;
    public DateTime At;
}

/// <summary>A positional record event with a string key.</summary>
public sealed record OrderPlaced([property: EventKey] string OrderId, int Sequence, [property: AvroDecimal(18, 2)] decimal Total, Priority Priority);

/// <summary>A self-referencing type.</summary>
public sealed record TreeNode(string Name, List<TreeNode> Children);

public sealed record TreeEvent([property: EventKey] int Id, TreeNode Root);

/// <summary>An event without a key member: produced without a key.</summary>
public sealed record Heartbeat(DateTime At, string? Note);
