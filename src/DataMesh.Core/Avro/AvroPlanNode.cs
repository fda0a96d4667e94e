namespace DataMesh.Avro;

/// <summary>What a plan node reads.</summary>
internal enum AvroNodeKind : byte
{
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    UuidString,
    Fixed,
    Enum,
    Union,
    Record,
    Array,
    Map,
}

/// <summary>
/// One node of a compiled plan. Records and unions: <see cref="First"/> is the index of the first child in the plan's
/// child table and <see cref="Count"/> the number of fields or branches. Arrays and maps: <see cref="First"/> is the item
/// (or value) node. Enums: <see cref="Count"/> is the number of symbols. Fixed: <see cref="Count"/> is the size.
/// </summary>
/// <param name="Kind">What the node reads.</param>
/// <param name="First">The first child, or the item node.</param>
/// <param name="Count">The number of children, symbols or bytes.</param>
/// <param name="ZeroSize">Whether every datum of the node is encoded in zero bytes.</param>
internal readonly record struct AvroPlanNode(AvroNodeKind Kind, int First, int Count, bool ZeroSize);
