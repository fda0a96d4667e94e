using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Events;

namespace DataMesh.Connectors.MySql.Schema;

/// <summary>
/// One column of a captured table as the schema tracker knows it, from <c>information_schema</c> or from DDL: the
/// canonical type name (<c>int</c>, <c>varchar</c>, <c>decimal</c> ...), its parameters, signedness, charset and
/// nullability. Serialised to the schema history as JSON.
/// </summary>
internal sealed record MySqlColumn
{
    public required string Name { get; init; }

    /// <summary>The canonical type name, lower case: <c>tinyint</c> … <c>bigint</c>, <c>decimal</c>, <c>float</c>,
    /// <c>double</c>, <c>bit</c>, <c>year</c>, <c>date</c>, <c>time</c>, <c>datetime</c>, <c>timestamp</c>,
    /// <c>char</c>, <c>varchar</c>, <c>binary</c>, <c>varbinary</c>, the text and blob types, <c>enum</c>,
    /// <c>set</c>, <c>json</c>, the geometry types, MariaDB's <c>uuid</c>, <c>inet6</c> and <c>inet4</c>.</summary>
    public required string TypeName { get; init; }

    public bool Unsigned { get; init; }

    public bool Nullable { get; init; } = true;

    /// <summary>The length of CHAR, VARCHAR, BINARY, VARBINARY (characters or bytes), or the bits of BIT; 0 otherwise.</summary>
    public int Length { get; init; }

    public int Precision { get; init; }

    public int Scale { get; init; }

    /// <summary>Fractional digits of TIME, DATETIME, TIMESTAMP.</summary>
    public int Fsp { get; init; }

    /// <summary>The character set of character columns (<c>binary</c> for binary ones), or null.</summary>
    public string? Charset { get; init; }

    /// <summary>The labels of an ENUM or the members of a SET, in definition order.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];

    /// <summary>A MariaDB JSON column (LONGTEXT with a <c>json_valid</c> check), or a MySQL JSON column.</summary>
    public bool IsJson { get; init; }

    /// <summary>The value rows that existed before the column was added got from its DDL (its constant DEFAULT, or a NOT
    /// NULL column's implicit default), or null: unknown (read from <c>information_schema</c> or a TABLE_MAP), NULL, or
    /// evaluated per row. Kept when MODIFY or CHANGE restates the column: those rows keep the value they got.</summary>
    public ColumnDefaultLiteral? Default { get; init; }

    /// <summary>The type's text for <c>"dm.dbtype"</c>: lower case, integer display widths dropped (<c>int unsigned</c>,
    /// <c>decimal(10,2)</c>, <c>varchar(100)</c>, <c>enum('a','b')</c>).</summary>
    [JsonIgnore]
    public string DatabaseType
    {
        get
        {
            var text = new StringBuilder(TypeName);
            switch (TypeName)
            {
                case "decimal": text.Append(CultureInfo.InvariantCulture, $"({Precision},{Scale})"); break;
                case "char" or "varchar" or "binary" or "varbinary" or "bit": text.Append(CultureInfo.InvariantCulture, $"({Length})"); break;
                case "time" or "datetime" or "timestamp" when Fsp > 0: text.Append(CultureInfo.InvariantCulture, $"({Fsp})"); break;
                case "enum" or "set":
                    text.Append('(').AppendJoin(',', Labels.Select(l => "'" + l.Replace("'", "''", StringComparison.Ordinal) + "'")).Append(')');
                    break;
            }

            if (Unsigned)
            {
                text.Append(" unsigned");
            }

            return text.ToString();
        }
    }

    /// <summary>Whether the type is one of the geometry types.</summary>
    [JsonIgnore]
    public bool IsGeometry => TypeName is "geometry" or "point" or "linestring" or "polygon" or "multipoint" or "multilinestring" or "multipolygon" or "geometrycollection";

    /// <summary>MariaDB's fixed-size binary types, which travel as the server's text of their bytes: <c>uuid</c>,
    /// <c>inet6</c>, <c>inet4</c>; <see cref="BinaryText.None"/> for the others.</summary>
    [JsonIgnore]
    public BinaryText BinaryText => TypeName switch
    {
        "uuid" => BinaryText.Uuid,
        "inet6" => BinaryText.Inet6,
        "inet4" => BinaryText.Inet4,
        _ => BinaryText.None,
    };

    /// <summary>Whether the column holds text in <see cref="Charset"/>.</summary>
    [JsonIgnore]
    public bool IsCharacter => TypeName is "char" or "varchar" or "tinytext" or "text" or "mediumtext" or "longtext";

    /// <summary>The neutral kind and Avro type of this column (<c>docs/type-mapping.md</c>).</summary>
    /// <exception cref="NotSupportedException">The type has no mapping.</exception>
    public DataType ToDataType()
    {
        var dbType = DatabaseType;
        DataTypeKind kind;
        switch (TypeName)
        {
            case "tinyint" or "smallint" or "mediumint": kind = DataTypeKind.Int32; break;
            case "int": kind = Unsigned ? DataTypeKind.Int64 : DataTypeKind.Int32; break;
            case "bigint": kind = Unsigned ? DataTypeKind.UInt64 : DataTypeKind.Int64; break;
            case "decimal": return DataType.DecimalOf(Precision, Scale, dbType);
            case "float": kind = DataTypeKind.Float32; break;
            case "double": kind = DataTypeKind.Float64; break;
            case "bit": kind = Length == 1 ? DataTypeKind.Boolean : DataTypeKind.Bits; break;
            case "year": kind = DataTypeKind.Int32; break;
            case "date": kind = DataTypeKind.Date; break;
            case "time": kind = DataTypeKind.DurationMicros; break;
            case "datetime": kind = DataTypeKind.LocalTimestamp; break;
            case "timestamp": kind = DataTypeKind.Timestamp; break;
            case "json": kind = DataTypeKind.Json; break;
            case "enum" or "set": kind = DataTypeKind.Text; break;
            case "binary" or "varbinary" or "tinyblob" or "blob" or "mediumblob" or "longblob": kind = DataTypeKind.Bytes; break;
            case "uuid": kind = DataTypeKind.Uuid; break;
            case "inet6" or "inet4": kind = DataTypeKind.String; break;
            case "char" or "varchar" or "tinytext" or "text" or "mediumtext" or "longtext":
                kind = IsJson ? DataTypeKind.Json : Charset == "binary" ? DataTypeKind.Bytes : DataTypeKind.String;
                break;
            default:
                if (IsGeometry)
                {
                    kind = DataTypeKind.Geometry;
                    break;
                }

                throw new NotSupportedException($"column '{Name}' has type '{dbType}', which the MySQL connector does not map (see docs/type-mapping.md)");
        }

        return DataType.Of(kind, dbType);
    }

    /// <summary>The charset the binlog's bytes of this column are in.</summary>
    [JsonIgnore]
    public MySqlCharset BinlogCharset => TypeName switch
    {
        "binary" or "varbinary" or "tinyblob" or "blob" or "mediumblob" or "longblob" => MySqlCharset.Binary,
        _ when BinaryText != BinaryText.None => MySqlCharset.Binary,
        "json" => MySqlCharset.Utf8,
        _ when IsCharacter || TypeName is "enum" or "set" => MySqlCharsets.FromName(Charset ?? "utf8mb4")
            ?? throw new NotSupportedException($"column '{Name}' has character set '{Charset}', which the MySQL connector does not decode (utf8mb4, utf8mb3, latin1, ascii, binary, ucs2, utf16, utf16le, utf32 are)"),
        _ => MySqlCharset.None,
    };

    /// <summary>Whether a TABLE_MAP column type fits this column's type.</summary>
    public bool Accepts(MySqlColumnType type, bool mariaDb) => TypeName switch
    {
        "tinyint" => type == MySqlColumnType.Tiny,
        "smallint" => type == MySqlColumnType.Short,
        "mediumint" => type == MySqlColumnType.Int24,
        "int" => type == MySqlColumnType.Long,
        "bigint" => type == MySqlColumnType.LongLong,
        "decimal" => type == MySqlColumnType.NewDecimal,
        "float" => type == MySqlColumnType.Float,
        "double" => type == MySqlColumnType.Double,
        "bit" => type == MySqlColumnType.Bit,
        "year" => type == MySqlColumnType.Year,
        "date" => type is MySqlColumnType.Date or MySqlColumnType.NewDate,
        "time" => type is MySqlColumnType.Time2 or MySqlColumnType.Time,
        "datetime" => type is MySqlColumnType.DateTime2 or MySqlColumnType.DateTime,
        "timestamp" => type is MySqlColumnType.Timestamp2 or MySqlColumnType.Timestamp,
        "char" or "binary" => type == MySqlColumnType.String,
        _ when BinaryText != BinaryText.None => type == MySqlColumnType.String,
        "varchar" or "varbinary" => type is MySqlColumnType.VarChar or MySqlColumnType.VarString,
        "tinytext" or "text" or "mediumtext" or "longtext" or "tinyblob" or "blob" or "mediumblob" or "longblob" =>
            type is MySqlColumnType.Blob or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob,
        "enum" => type == MySqlColumnType.Enum,
        "set" => type == MySqlColumnType.Set,
        "json" => type == MySqlColumnType.Json || (mariaDb && type == MySqlColumnType.Blob),
        _ => IsGeometry && type == MySqlColumnType.Geometry,
    };
}

/// <summary>A captured table as the schema tracker knows it.</summary>
internal sealed record MySqlTable
{
    public required string Database { get; init; }

    public required string Name { get; init; }

    public required IReadOnlyList<MySqlColumn> Columns { get; init; }

    /// <summary>Primary-key column names in key order; empty when the table has none.</summary>
    public IReadOnlyList<string> PrimaryKey { get; init; } = [];

    /// <summary>The table's default character set, for columns added later without one.</summary>
    public string? DefaultCharset { get; init; }

    public int IndexOf(string column)
    {
        for (var i = 0; i < Columns.Count; i++)
        {
            if (string.Equals(Columns[i].Name, column, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The change-event contract's view of the table.</summary>
    public TableDescription ToDescription()
    {
        var columns = new List<ColumnDescription>(Columns.Count);
        foreach (var column in Columns)
        {
            try
            {
                columns.Add(new ColumnDescription(column.Name, column.ToDataType(), column.Nullable) { Default = column.Default?.Encode(column) });
            }
            catch (NotSupportedException ex)
            {
                throw new NotSupportedException($"Table `{Database}`.`{Name}`: {ex.Message}. Leave the table out of the captured tables to go on without it.", ex);
            }
        }

        return new TableDescription(Database, Name, columns, PrimaryKey.Select(k => Columns[IndexOf(k)].Name).ToArray());
    }
}
