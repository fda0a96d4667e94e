namespace DataMesh.Connectors.Cassandra.Schema;

/// <summary>The CQL types a commit-log reader decodes. Counters are not among them: a counter cell holds a
/// replica-local context of shard increments, not a value.</summary>
internal enum CqlKind
{
    Ascii,
    Bigint,
    Blob,
    Boolean,
    Date,
    Decimal,
    Double,
    Duration,
    Float,
    Inet,
    Int,
    Smallint,
    Text,
    Time,
    Timestamp,
    Timeuuid,
    Tinyint,
    Uuid,
    Varint,
    List,
    Set,
    Map,
    Tuple,
    Udt,
}

/// <summary>
/// A column's CQL type as the commit log needs it: how its values are framed (fixed length or a length prefix), whether
/// it is multi-cell (a non-frozen collection or UDT, one cell per element with a cell path), and its parameters.
/// </summary>
internal sealed class CqlType
{
    private CqlType(CqlKind kind, bool frozen, IReadOnlyList<CqlType> parameters, string? name = null, IReadOnlyList<string>? fieldNames = null)
    {
        Kind = kind;
        IsFrozen = frozen;
        Parameters = parameters;
        Name = name;
        FieldNames = fieldNames ?? [];
    }

    public CqlKind Kind { get; }

    /// <summary>Whether a collection or UDT is stored as one value (<c>frozen&lt;…&gt;</c>, or nested in another type).</summary>
    public bool IsFrozen { get; }

    /// <summary>List and set: the element; map: key and value; tuple and UDT: the fields' types.</summary>
    public IReadOnlyList<CqlType> Parameters { get; }

    /// <summary>A UDT's name.</summary>
    public string? Name { get; }

    /// <summary>A UDT's field names.</summary>
    public IReadOnlyList<string> FieldNames { get; }

    /// <summary>Whether the column holds one cell per element (a non-frozen list, set, map or UDT).</summary>
    public bool IsMultiCell => !IsFrozen && Kind is CqlKind.List or CqlKind.Set or CqlKind.Map or CqlKind.Udt;

    /// <summary>The bytes of every value of the type, or -1 when values carry their length (Cassandra's
    /// <c>valueLengthIfFixed</c>: boolean, int, float, bigint, double, timestamp, uuid and timeuuid are fixed; date,
    /// time, smallint and tinyint are not, for compatibility with the sstables that predate them).</summary>
    public int FixedLength => Kind switch
    {
        CqlKind.Boolean => 1,
        CqlKind.Int or CqlKind.Float => 4,
        CqlKind.Bigint or CqlKind.Double or CqlKind.Timestamp => 8,
        CqlKind.Uuid or CqlKind.Timeuuid => 16,
        _ => -1,
    };

    public static CqlType Of(CqlKind kind) => kind switch
    {
        CqlKind.List or CqlKind.Set or CqlKind.Map or CqlKind.Tuple or CqlKind.Udt => throw new ArgumentException($"{kind} has parameters: use Parse", nameof(kind)),
        _ => new CqlType(kind, false, []),
    };

    /// <summary>A user-defined type.</summary>
    public static CqlType UserDefined(string name, IReadOnlyList<(string Name, CqlType Type)> fields, bool frozen) =>
        new(CqlKind.Udt, frozen, [.. fields.Select(f => f.Type.AsFrozen())], name, [.. fields.Select(f => f.Name)]);

    /// <summary>Parses a CQL type: <c>int</c>, <c>map&lt;text, frozen&lt;list&lt;int&gt;&gt;&gt;</c>,
    /// <c>tuple&lt;int, text&gt;</c>, <c>frozen&lt;address&gt;</c> (UDTs by name from <paramref name="userTypes"/>).</summary>
    /// <exception cref="FormatException">Not a CQL type this reader knows; the message names it.</exception>
    public static CqlType Parse(string text, IReadOnlyDictionary<string, CqlType>? userTypes = null)
    {
        var position = 0;
        var type = ParseType(text, ref position, userTypes, nested: false);
        SkipSpaces(text, ref position);
        if (position != text.Length)
        {
            throw new FormatException($"'{text}' is not a CQL type: unexpected '{text[position..]}'");
        }

        return type;
    }

    public CqlType AsFrozen() => IsFrozen || Kind is not (CqlKind.List or CqlKind.Set or CqlKind.Map or CqlKind.Udt or CqlKind.Tuple)
        ? this
        : new CqlType(Kind, true, Parameters, Name, FieldNames);

    public override string ToString()
    {
        var inner = Kind switch
        {
            CqlKind.List or CqlKind.Set or CqlKind.Map or CqlKind.Tuple => $"{Kind.ToString().ToLowerInvariant()}<{string.Join(", ", Parameters)}>",
            CqlKind.Udt => Name!,
            _ => Kind.ToString().ToLowerInvariant(),
        };
        return IsFrozen && Kind != CqlKind.Tuple ? $"frozen<{inner}>" : inner;
    }

    private static CqlType ParseType(string text, ref int position, IReadOnlyDictionary<string, CqlType>? userTypes, bool nested)
    {
        SkipSpaces(text, ref position);
        var start = position;
        while (position < text.Length && (char.IsAsciiLetterOrDigit(text[position]) || text[position] is '_' or '.' or '"'))
        {
            position++;
        }

        var name = text[start..position].Trim('"').ToLowerInvariant();
        if (name.Length == 0)
        {
            throw new FormatException($"'{text}' is not a CQL type: a type name is missing at {start}");
        }

        List<CqlType> parameters = [];
        SkipSpaces(text, ref position);
        if (position < text.Length && text[position] == '<')
        {
            position++;
            while (true)
            {
                parameters.Add(ParseType(text, ref position, userTypes, nested: name != "frozen"));
                SkipSpaces(text, ref position);
                if (position < text.Length && text[position] == ',')
                {
                    position++;
                    continue;
                }

                if (position < text.Length && text[position] == '>')
                {
                    position++;
                    break;
                }

                throw new FormatException($"'{text}' is not a CQL type: expected ',' or '>' at {position}");
            }
        }

        CqlType Scalar(CqlKind kind) => parameters.Count == 0 ? new CqlType(kind, false, []) : throw new FormatException($"'{text}': {name} takes no parameters");
        CqlType Collection(CqlKind kind, int count) => parameters.Count == count
            ? new CqlType(kind, nested, [.. parameters.Select(p => p.AsFrozen())])
            : throw new FormatException($"'{text}': {name} takes {count} type parameter(s)");

        return name switch
        {
            "ascii" => Scalar(CqlKind.Ascii),
            "bigint" => Scalar(CqlKind.Bigint),
            "blob" => Scalar(CqlKind.Blob),
            "boolean" => Scalar(CqlKind.Boolean),
            "date" => Scalar(CqlKind.Date),
            "decimal" => Scalar(CqlKind.Decimal),
            "double" => Scalar(CqlKind.Double),
            "duration" => Scalar(CqlKind.Duration),
            "float" => Scalar(CqlKind.Float),
            "inet" => Scalar(CqlKind.Inet),
            "int" => Scalar(CqlKind.Int),
            "smallint" => Scalar(CqlKind.Smallint),
            "text" or "varchar" => Scalar(CqlKind.Text),
            "time" => Scalar(CqlKind.Time),
            "timestamp" => Scalar(CqlKind.Timestamp),
            "timeuuid" => Scalar(CqlKind.Timeuuid),
            "tinyint" => Scalar(CqlKind.Tinyint),
            "uuid" => Scalar(CqlKind.Uuid),
            "varint" => Scalar(CqlKind.Varint),
            "list" => Collection(CqlKind.List, 1),
            "set" => Collection(CqlKind.Set, 1),
            "map" => Collection(CqlKind.Map, 2),
            "tuple" => parameters.Count > 0 ? new CqlType(CqlKind.Tuple, true, [.. parameters.Select(p => p.AsFrozen())]) : throw new FormatException($"'{text}': a tuple needs at least one type"),
            "frozen" => parameters.Count == 1 ? parameters[0].AsFrozen() : throw new FormatException($"'{text}': frozen takes one type"),
            "counter" => throw new FormatException($"'{text}': counter columns are not supported: a counter cell in the commit log holds per-replica shard increments, not the counter's value"),
            _ when userTypes is not null && userTypes.TryGetValue(name, out var udt) => nested ? udt.AsFrozen() : udt,
            _ => throw new FormatException($"'{text}' is not a CQL type this reader knows ('{name}'; user-defined types must be declared first)"),
        };
    }

    private static void SkipSpaces(string text, ref int position)
    {
        while (position < text.Length && char.IsWhiteSpace(text[position]))
        {
            position++;
        }
    }
}
