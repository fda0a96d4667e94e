using DataMesh.Events;

namespace DataMesh.Connectors.Postgres;

/// <summary>How a column's text value (pgoutput text format) is parsed.</summary>
internal enum PgValueKind
{
    Boolean,
    BitAsBoolean,
    Int16,
    Int32,
    Int64,
    UInt32,
    Float4,
    Float8,
    Numeric,
    Money,
    PassThrough,
    Bytea,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Array,
}

/// <summary>A row of <c>pg_type</c>.</summary>
internal sealed record PgTypeInfo(uint Oid, string Schema, string Name, char TypType, char Category, uint ElementOid, uint BaseOid, int BaseTypeModifier, char Delimiter);

/// <summary>A column's resolved type: the neutral <see cref="DataType"/> and how its text is parsed.</summary>
internal sealed record PgColumnType(DataType DataType, PgValueKind ValueKind, PgColumnType? Element = null, byte Delimiter = (byte)',')
{
    /// <summary>The type map of <c>docs/type-mapping.md</c> for one column.</summary>
    /// <param name="oid">The column's type.</param>
    /// <param name="typeModifier">The column's type modifier (-1 when none).</param>
    /// <param name="types">Every type reachable from <paramref name="oid"/> (element and base types included).</param>
    /// <param name="moneyScale">The money fraction digits of the database's own lc_monetary (<see cref="PostgresCatalog.UseCMoneyAsync"/>).</param>
    public static PgColumnType Resolve(uint oid, int typeModifier, IReadOnlyDictionary<uint, PgTypeInfo> types, int moneyScale)
    {
        if (!types.TryGetValue(oid, out var type))
        {
            throw new InvalidOperationException($"Type {oid} is not in pg_type.");
        }

        var display = type.Schema is "pg_catalog" ? type.Name : $"{type.Schema}.{type.Name}";
        if (type.TypType == 'd')
        {
            // Domains travel as their base type; the domain's own name stays in dm.dbtype.
            var resolved = Resolve(type.BaseOid, type.BaseTypeModifier, types, moneyScale);
            return resolved with { DataType = Rename(resolved.DataType, display) };
        }

        if (type.Schema is "pg_catalog" && type.Name is "int2vector" or "oidvector")
        {
            // Subscriptable like arrays (category 'A'), but their text has no braces: "1 2 3".
            return Text(display);
        }

        if (type.Category == 'A' && type.ElementOid != 0)
        {
            var element = Resolve(type.ElementOid, typeModifier, types, moneyScale);
            if (element.ValueKind == PgValueKind.Array)
            {
                return Text(display);
            }

            // Named as its element's column is, with "[]": the column's type modifier is the element's (numeric(6,2)[]).
            return new PgColumnType(DataType.ArrayOf(element.DataType, element.DataType.DatabaseType + "[]"), PgValueKind.Array, element, (byte)type.Delimiter);
        }

        if (type.TypType is 'e' or 'c' or 'r' or 'm' or 'p' || type.Schema != "pg_catalog")
        {
            // Enums, composite types, ranges and extension types travel as PostgreSQL's text form.
            return type.Name is "citext" ? new PgColumnType(DataType.Of(DataTypeKind.String, display), PgValueKind.PassThrough) : Text(display);
        }

        return type.Name switch
        {
            "bool" => Simple(DataTypeKind.Boolean, "boolean", PgValueKind.Boolean),
            "int2" => Simple(DataTypeKind.Int32, "smallint", PgValueKind.Int16),
            "int4" => Simple(DataTypeKind.Int32, "integer", PgValueKind.Int32),
            "int8" => Simple(DataTypeKind.Int64, "bigint", PgValueKind.Int64),
            "oid" or "xid" or "cid" => Simple(DataTypeKind.Int64, type.Name, PgValueKind.UInt32),
            "float4" => Simple(DataTypeKind.Float32, "real", PgValueKind.Float4),
            "float8" => Simple(DataTypeKind.Float64, "double precision", PgValueKind.Float8),
            "numeric" when typeModifier >= 4 => Numeric(typeModifier),
            "numeric" => Simple(DataTypeKind.VariableDecimal, "numeric", PgValueKind.Numeric),
            "money" => new PgColumnType(DataType.DecimalOf(19, moneyScale, "money"), PgValueKind.Money),
            "text" or "varchar" or "bpchar" or "name" or "char" => Simple(DataTypeKind.String, TextName(type.Name, typeModifier), PgValueKind.PassThrough),
            "bytea" => Simple(DataTypeKind.Bytes, "bytea", PgValueKind.Bytea),
            "uuid" => Simple(DataTypeKind.Uuid, "uuid", PgValueKind.PassThrough),
            "json" or "jsonb" => Simple(DataTypeKind.Json, type.Name, PgValueKind.PassThrough),
            "date" => Simple(DataTypeKind.Date, "date", PgValueKind.Date),
            "time" => Simple(DataTypeKind.Time, "time", PgValueKind.Time),
            "timetz" => Simple(DataTypeKind.TimeWithOffset, "timetz", PgValueKind.PassThrough),
            "timestamp" => Simple(DataTypeKind.LocalTimestamp, "timestamp", PgValueKind.Timestamp),
            "timestamptz" => Simple(DataTypeKind.Timestamp, "timestamptz", PgValueKind.TimestampTz),
            "interval" => Simple(DataTypeKind.Interval, "interval", PgValueKind.PassThrough),
            "bit" when typeModifier == 1 => Simple(DataTypeKind.Boolean, "bit(1)", PgValueKind.BitAsBoolean),
            "bit" => Simple(DataTypeKind.Bits, typeModifier > 0 ? $"bit({typeModifier})" : "bit", PgValueKind.PassThrough),
            "varbit" => Simple(DataTypeKind.Bits, typeModifier > 0 ? $"varbit({typeModifier})" : "varbit", PgValueKind.PassThrough),
            _ => Text(display),
        };
    }

    /// <summary>numeric(p,s): PostgreSQL 15 allows a negative scale (rounding left of the point) and a scale above the
    /// precision; both map to an Avro decimal that holds every value exactly.</summary>
    private static PgColumnType Numeric(int typeModifier)
    {
        var precision = ((typeModifier - 4) >> 16) & 0xFFFF;
        var scale = ((typeModifier - 4) & 0x7FF) ^ 0x400;
        scale -= 0x400; // an 11-bit signed field
        var name = $"numeric({precision},{scale})";
        var type = scale < 0 ? DataType.DecimalOf(precision - scale, 0, name)
            : scale > precision ? DataType.DecimalOf(scale, scale, name)
            : DataType.DecimalOf(precision, scale, name);
        return new PgColumnType(type, PgValueKind.Numeric);
    }

    private static PgColumnType Simple(DataTypeKind kind, string name, PgValueKind valueKind) => new(DataType.Of(kind, name), valueKind);

    private static PgColumnType Text(string name) => new(DataType.Of(DataTypeKind.Text, name), PgValueKind.PassThrough);

    private static string TextName(string name, int typeModifier) => name switch
    {
        "varchar" when typeModifier >= 4 => $"varchar({typeModifier - 4})",
        "varchar" => "varchar",
        "bpchar" when typeModifier >= 4 => $"char({typeModifier - 4})",
        "bpchar" => "char",
        "char" => "\"char\"",
        _ => name,
    };

    private static DataType Rename(DataType type, string name) => type.Kind switch
    {
        DataTypeKind.Decimal => DataType.DecimalOf(type.Precision, type.Scale, name),
        DataTypeKind.Array => DataType.ArrayOf(type.ElementType!, name),
        _ => DataType.Of(type.Kind, name),
    };
}
