using Avro;

namespace DataMesh.Avro;

/// <summary>Flattens an Apache.Avro schema into plan nodes; named types are compiled once, so recursive schemas terminate.</summary>
internal sealed class AvroPlanBuilder
{
    private readonly Dictionary<string, int> _named = new(StringComparer.Ordinal);

    public List<AvroPlanNode> Nodes { get; } = [];

    public List<int> Children { get; } = [];

    public List<string> ChildNames { get; } = [];

    public int Add(Schema schema)
    {
        switch (schema)
        {
            case LogicalSchema logical:
                if (logical.LogicalTypeName == "uuid" && logical.BaseSchema.Tag == Schema.Type.String)
                {
                    return Leaf(AvroNodeKind.UuidString, 0);
                }

                return Add(logical.BaseSchema);
            case RecordSchema record:
                return AddRecord(record);
            case EnumSchema enumSchema:
                return AddNamed(enumSchema, () => Leaf(AvroNodeKind.Enum, enumSchema.Count));
            case FixedSchema fixedSchema:
                return AddNamed(fixedSchema, () => Leaf(AvroNodeKind.Fixed, fixedSchema.Size, zeroSize: fixedSchema.Size == 0));
            case ArraySchema array:
            {
                var index = Reserve();
                var item = Add(array.ItemSchema);
                Nodes[index] = new AvroPlanNode(AvroNodeKind.Array, item, 0, ZeroSize: false);
                return index;
            }

            case MapSchema map:
            {
                var index = Reserve();
                var value = Add(map.ValueSchema);
                Nodes[index] = new AvroPlanNode(AvroNodeKind.Map, value, 0, ZeroSize: false);
                return index;
            }

            case UnionSchema union:
            {
                var index = Reserve();
                var branches = new int[union.Count];
                for (var i = 0; i < union.Count; i++)
                {
                    branches[i] = Add(union[i]);
                }

                Nodes[index] = new AvroPlanNode(AvroNodeKind.Union, Children.Count, branches.Length, ZeroSize: false);
                foreach (var branch in branches)
                {
                    Children.Add(branch);
                    ChildNames.Add(string.Empty);
                }

                return index;
            }

            case PrimitiveSchema primitive:
                return primitive.Tag switch
                {
                    Schema.Type.Null => Leaf(AvroNodeKind.Null, 0, zeroSize: true),
                    Schema.Type.Boolean => Leaf(AvroNodeKind.Boolean, 0),
                    Schema.Type.Int => Leaf(AvroNodeKind.Int, 0),
                    Schema.Type.Long => Leaf(AvroNodeKind.Long, 0),
                    Schema.Type.Float => Leaf(AvroNodeKind.Float, 0),
                    Schema.Type.Double => Leaf(AvroNodeKind.Double, 0),
                    Schema.Type.Bytes => Leaf(AvroNodeKind.Bytes, 0),
                    Schema.Type.String => Leaf(AvroNodeKind.String, 0),
                    _ => throw new NotSupportedException($"Avro primitive type {primitive.Tag} is not supported."),
                };
            default:
                throw new NotSupportedException($"Avro schema type {schema.Tag} is not supported.");
        }
    }

    private int AddRecord(RecordSchema record)
    {
        if (_named.TryGetValue(record.Fullname, out var existing))
        {
            return existing;
        }

        var index = Reserve();
        _named[record.Fullname] = index;
        var fields = new int[record.Count];
        var zeroSize = true;
        for (var i = 0; i < record.Count; i++)
        {
            fields[i] = Add(record.Fields[i].Schema);

            // A field that refers back to a record still being compiled reads as not zero-size (its node is a placeholder).
            zeroSize &= Nodes[fields[i]].ZeroSize && fields[i] != index;
        }

        Nodes[index] = new AvroPlanNode(AvroNodeKind.Record, Children.Count, fields.Length, zeroSize);
        for (var i = 0; i < fields.Length; i++)
        {
            Children.Add(fields[i]);
            ChildNames.Add(record.Fields[i].Name);
        }

        return index;
    }

    private int AddNamed(NamedSchema schema, Func<int> add)
    {
        if (_named.TryGetValue(schema.Fullname, out var existing))
        {
            return existing;
        }

        var index = add();
        _named[schema.Fullname] = index;
        return index;
    }

    private int Reserve()
    {
        Nodes.Add(new AvroPlanNode(AvroNodeKind.Null, 0, 0, ZeroSize: false));
        return Nodes.Count - 1;
    }

    private int Leaf(AvroNodeKind kind, int count, bool zeroSize = false)
    {
        Nodes.Add(new AvroPlanNode(kind, 0, count, zeroSize));
        return Nodes.Count - 1;
    }
}
