using System.Globalization;
using System.Text;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Events;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>How one column's binlog bytes become a value: the decoder to use and what it needs.</summary>
internal enum ValueDecoder : byte
{
    SignedInt,
    UnsignedInt,
    UnsignedInt64,
    Float,
    Double,
    Decimal,
    Boolean,
    Bits,
    Year,
    Date,
    Time,
    Time2,
    DateTime,
    DateTime2,
    Timestamp,
    Timestamp2,
    Text,
    Bytes,
    Enum,
    Set,
    JsonBinary,
    JsonText,
    Geometry,
}

/// <summary>One column's decoding plan: its binlog layout, its decoder, its Avro shape.</summary>
internal sealed class ColumnPlan
{
    public required string Name { get; init; }

    public required BinlogColumn Binlog { get; init; }

    public required ValueDecoder Decoder { get; init; }

    public required DataTypeKind Kind { get; init; }

    /// <summary>Whether the Avro field is a union with null.</summary>
    public required bool Nullable { get; init; }

    public MySqlCharset Charset { get; init; }

    /// <summary>ENUM labels or SET members, UTF-8.</summary>
    public byte[][] Labels { get; init; } = [];

    public int Precision { get; init; }

    public int Scale { get; init; }

    /// <summary>The bits of a BIT column.</summary>
    public int BitLength { get; init; }

    /// <summary>The length prefix of strings and blobs: 0 for fixed-size values.</summary>
    public int LengthPrefix { get; init; }

    /// <summary>BINARY(n): n, the length in bytes every value has (the binlog drops its trailing 0x00 bytes); 0 for other
    /// columns. CHAR(n) of a character set loses its trailing spaces in the binlog as in a SELECT (without
    /// PAD_CHAR_TO_FULL_LENGTH), and is not padded back.</summary>
    public int BinaryLength { get; init; }

    /// <summary>For MariaDB's UUID, INET6 and INET4 (BINARY(16) and BINARY(4) in the binlog), the text the server shows
    /// them as, which the event carries (<see cref="CellValues.FormatBinaryText"/>); <see cref="BinaryText.None"/> for
    /// bytes.</summary>
    public BinaryText BinaryText { get; init; }
}

/// <summary>How the bytes of a fixed-size binary type are written as text: MariaDB's UUID, INET6 and INET4.</summary>
internal enum BinaryText : byte
{
    /// <summary>Bytes, as they are.</summary>
    None,

    /// <summary>16 bytes as <c>8-4-4-4-12</c> lower-case hex digits.</summary>
    Uuid,

    /// <summary>16 bytes as MariaDB writes an IPv6 address.</summary>
    Inet6,

    /// <summary>4 bytes as a dotted quad.</summary>
    Inet4,
}

/// <summary>
/// A TABLE_MAP bound to the schema the connector tracks for its table: checked once (column count, each column's
/// type and parameters), then used to decode every row of every rows event that refers to the map. A mismatch
/// (a schema that DDL tracking got wrong, or a corrupt map) is an error naming the table and the column, never a
/// wrong mapping.
/// </summary>
internal sealed class TableBinding
{
    private TableBinding(TableMapEvent map, MySqlTable table, ColumnPlan[] columns)
    {
        Map = map;
        Table = table;
        Columns = columns;
    }

    public TableMapEvent Map { get; }

    public MySqlTable Table { get; }

    public ColumnPlan[] Columns { get; }

    /// <summary>Binds a map to a tracked table.</summary>
    /// <exception cref="BinlogFormatException">The map does not fit the table.</exception>
    public static TableBinding Create(TableMapEvent map, MySqlTable table, bool mariaDb)
    {
        var name = $"`{map.Database}`.`{map.Table}`";
        if (map.Columns.Length != table.Columns.Count)
        {
            throw new BinlogFormatException("TABLE_MAP", "column_count", BinlogEventHeader.Length,
                $"the TABLE_MAP of {name} has {map.Columns.Length} columns but the tracked schema has {table.Columns.Count} ({string.Join(", ", table.Columns.Select(c => c.Name))}): the schema history does not match the binlog");
        }

        // With binlog_row_metadata=FULL (column names given) the map says the primary key, or has none: a key the tracked
        // schema follows otherwise (a DDL form it read wrongly) would key every event wrongly without an error. Checked
        // only when the tracked schema has a key: without a declared PRIMARY KEY both servers promote the first UNIQUE key
        // of NOT NULL columns to the table's primary key, which the map then gives and the tracked schema (declared keys
        // only) does not.
        if (map.ColumnNames is not null && table.PrimaryKey.Count > 0)
        {
            var serverKey = (map.PrimaryKey ?? []).Select(k => k < table.Columns.Count ? table.Columns[k].Name : "#" + k.ToString(CultureInfo.InvariantCulture)).ToArray();
            if (!serverKey.SequenceEqual(table.PrimaryKey, StringComparer.OrdinalIgnoreCase))
            {
                throw new BinlogFormatException("TABLE_MAP", "primary_key", BinlogEventHeader.Length,
                    $"the TABLE_MAP of {name} gives it primary key ({string.Join(", ", serverKey)}) but the tracked schema has ({string.Join(", ", table.PrimaryKey)}): the schema history does not match the binlog");
            }
        }

        var plans = new ColumnPlan[map.Columns.Length];
        for (var i = 0; i < plans.Length; i++)
        {
            var column = table.Columns[i];
            var binlog = map.Columns[i];
            string Problem(string what) =>
                $"column {i + 1} '{column.Name}' of {name} is {column.DatabaseType} in the tracked schema but the TABLE_MAP {what}: the schema history does not match the binlog";
            if (!column.Accepts(binlog.Type, mariaDb))
            {
                throw new BinlogFormatException("TABLE_MAP", "column_types", BinlogEventHeader.Length, Problem($"has binlog type {binlog.Type}"));
            }

            if (map.ColumnNames is { } names && !string.Equals(names[i], column.Name, StringComparison.OrdinalIgnoreCase))
            {
                throw new BinlogFormatException("TABLE_MAP", "column_name", BinlogEventHeader.Length, Problem($"names it '{names[i]}'"));
            }

            if (map.Unsigned is { } unsigned && binlog.IsInteger && unsigned[i] != column.Unsigned)
            {
                throw new BinlogFormatException("TABLE_MAP", "signedness", BinlogEventHeader.Length, Problem(unsigned[i] ? "says UNSIGNED" : "says SIGNED"));
            }

            if (binlog.Type == MySqlColumnType.NewDecimal && (binlog.Meta != column.Precision || binlog.Meta2 != column.Scale))
            {
                throw new BinlogFormatException("TABLE_MAP", "metadata", BinlogEventHeader.Length, Problem($"has DECIMAL({binlog.Meta},{binlog.Meta2})"));
            }

            if (binlog.Type is MySqlColumnType.Time2 or MySqlColumnType.DateTime2 or MySqlColumnType.Timestamp2 && binlog.Meta != column.Fsp)
            {
                throw new BinlogFormatException("TABLE_MAP", "metadata", BinlogEventHeader.Length, Problem($"has {binlog.Meta} fractional digits"));
            }

            if (binlog.Type == MySqlColumnType.Bit && binlog.Meta != column.Length)
            {
                throw new BinlogFormatException("TABLE_MAP", "metadata", BinlogEventHeader.Length, Problem($"has BIT({binlog.Meta})"));
            }

            if (map.Nullable.Length > i && map.Nullable[i] && !column.Nullable)
            {
                throw new BinlogFormatException("TABLE_MAP", "null_bitmap", BinlogEventHeader.Length, Problem("says it admits NULL"));
            }

            // The server's charset of a text column (binlog_row_metadata=FULL) decides how its bytes are read: where the
            // tracked schema read a DDL otherwise (an ALTER that also changes the table's default charset, say), text would
            // be decoded in the wrong charset without an error. Text against binary is a different type: that stops.
            MySqlCharset? serverCharset = null;
            if (column.IsCharacter && map.Collations.Length > i && map.Collations[i] != 0 && MySqlCharsets.FromCollationId(map.Collations[i]) is { } mapped && mapped != column.BinlogCharset)
            {
                if (mapped == MySqlCharset.Binary || column.BinlogCharset == MySqlCharset.Binary)
                {
                    throw new BinlogFormatException("TABLE_MAP", "column_charset", BinlogEventHeader.Length, Problem($"gives it collation {map.Collations[i]} ({mapped})"));
                }

                serverCharset = mapped;
            }

            plans[i] = Plan(column, binlog, map.EnumValues?[i] ?? map.SetValues?[i] ?? column.Labels, serverCharset);
        }

        return new TableBinding(map, table, plans);
    }

    /// <summary>The table a TABLE_MAP describes by itself, from its optional metadata (<c>binlog_row_metadata=FULL</c>
    /// gives names, signedness, charsets and ENUM/SET values; without it columns are named <c>@1</c>, <c>@2</c> ...).</summary>
    public static MySqlTable DescribeFromMap(TableMapEvent map, bool mariaDb)
    {
        var columns = new MySqlColumn[map.Columns.Length];
        for (var i = 0; i < columns.Length; i++)
        {
            var binlog = map.Columns[i];
            var collation = map.Collations.Length > i ? map.Collations[i] : 0;
            var charset = collation == 0 ? "utf8mb4" : CharsetName(MySqlCharsets.FromCollationId(collation), collation);
            var binary = charset == "binary";
            var unsigned = map.Unsigned is { } u && u[i];
            var column = new MySqlColumn
            {
                Name = map.ColumnNames?[i] ?? "@" + (i + 1).ToString(CultureInfo.InvariantCulture),
                TypeName = "int",
                Nullable = map.Nullable[i],
                Unsigned = unsigned,
            };
            columns[i] = binlog.Type switch
            {
                MySqlColumnType.Tiny => column with { TypeName = "tinyint" },
                MySqlColumnType.Short => column with { TypeName = "smallint" },
                MySqlColumnType.Int24 => column with { TypeName = "mediumint" },
                MySqlColumnType.Long => column,
                MySqlColumnType.LongLong => column with { TypeName = "bigint" },
                MySqlColumnType.Float => column with { TypeName = "float", Unsigned = false },
                MySqlColumnType.Double => column with { TypeName = "double", Unsigned = false },
                MySqlColumnType.NewDecimal => column with { TypeName = "decimal", Precision = binlog.Meta, Scale = binlog.Meta2, Unsigned = false },
                MySqlColumnType.Bit => column with { TypeName = "bit", Length = binlog.Meta, Unsigned = false },
                MySqlColumnType.Year => column with { TypeName = "year", Unsigned = false },
                MySqlColumnType.Date or MySqlColumnType.NewDate => column with { TypeName = "date", Unsigned = false },
                MySqlColumnType.Time or MySqlColumnType.Time2 => column with { TypeName = "time", Fsp = binlog.Meta, Unsigned = false },
                MySqlColumnType.DateTime or MySqlColumnType.DateTime2 => column with { TypeName = "datetime", Fsp = binlog.Meta, Unsigned = false },
                MySqlColumnType.Timestamp or MySqlColumnType.Timestamp2 => column with { TypeName = "timestamp", Fsp = binlog.Meta, Unsigned = false },
                MySqlColumnType.String => column with { TypeName = binary ? "binary" : "char", Length = binlog.Meta, Charset = charset, Unsigned = false },
                MySqlColumnType.VarChar or MySqlColumnType.VarString => column with { TypeName = binary ? "varbinary" : "varchar", Length = binlog.Meta, Charset = charset, Unsigned = false },
                MySqlColumnType.Blob or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob => column with
                {
                    TypeName = (binlog.Meta, binary) switch
                    {
                        (1, true) => "tinyblob",
                        (2, true) => "blob",
                        (3, true) => "mediumblob",
                        (_, true) => "longblob",
                        (1, false) => "tinytext",
                        (2, false) => "text",
                        (3, false) => "mediumtext",
                        _ => "longtext",
                    },
                    Charset = charset,
                    Unsigned = false,
                },
                MySqlColumnType.Enum => column with { TypeName = "enum", Labels = map.EnumValues?[i] ?? Numbered(binlog.Meta == 1 ? 255 : 65535), Charset = charset, Unsigned = false },
                MySqlColumnType.Set => column with { TypeName = "set", Labels = map.SetValues?[i] ?? Numbered(binlog.Meta * 8), Charset = charset, Unsigned = false },
                MySqlColumnType.Json => column with { TypeName = "json", Unsigned = false },
                MySqlColumnType.Geometry => column with { TypeName = "geometry", Unsigned = false },
                _ => throw new BinlogFormatException("TABLE_MAP", "column_types", BinlogEventHeader.Length, $"column {i + 1} of `{map.Database}`.`{map.Table}` has binlog type {binlog.Type}, which has no mapping"),
            };
        }

        var key = map.PrimaryKey is { } pk ? pk.Select(k => columns[k].Name).ToArray() : [];
        return new MySqlTable { Database = map.Database, Name = map.Table, Columns = columns, PrimaryKey = key };

        static string CharsetName(MySqlCharset? charset, int collation) => charset switch
        {
            MySqlCharset.Binary => "binary",
            MySqlCharset.Latin1 => "latin1",
            MySqlCharset.Ascii => "ascii",
            MySqlCharset.Ucs2 => "ucs2",
            MySqlCharset.Utf16 => "utf16",
            MySqlCharset.Utf16Le => "utf16le",
            MySqlCharset.Utf32 => "utf32",
            MySqlCharset.Utf8 => "utf8mb4",
            _ => "collation" + collation.ToString(CultureInfo.InvariantCulture),
        };

        static string[] Numbered(int count) => Enumerable.Range(1, count).Select(n => n.ToString(CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>
    /// The plans of a table's columns as a TABLE_MAP of the table would give them, for rows read by a SELECT (snapshots):
    /// such rows are put in the binlog's row-image forms (<see cref="SelectedRowImage"/>) and decode exactly like the log's.
    /// Integers, decimals, BIT, YEAR, ENUM and SET have the binlog's types and sizes; temporal columns the fractional
    /// forms (TIME2, DATETIME2, TIMESTAMP2); strings and blobs a length prefix of the binlog's sizes; JSON is read as the
    /// server's text (MariaDB's JSON is text in the binlog too).
    /// </summary>
    public static ColumnPlan[] PlanSelected(MySqlTable table)
    {
        var plans = new ColumnPlan[table.Columns.Count];
        for (var i = 0; i < plans.Length; i++)
        {
            plans[i] = PlanSelected(table.Columns[i], $"`{table.Database}`.`{table.Name}`");
        }

        return plans;
    }

    /// <summary>The plan of one column as <see cref="PlanSelected(MySqlTable)"/> gives it.</summary>
    /// <param name="column">The column.</param>
    /// <param name="table">The table's name, for the error.</param>
    /// <param name="charset">The charset of the column's text bytes, when not the column's own.</param>
    /// <exception cref="NotSupportedException">The column's type has no mapping.</exception>
    public static ColumnPlan PlanSelected(MySqlColumn column, string table, MySqlCharset? charset = null)
    {
        var binlog = column.TypeName switch
        {
            "tinyint" => new BinlogColumn(MySqlColumnType.Tiny, 0, 0),
            "smallint" => new BinlogColumn(MySqlColumnType.Short, 0, 0),
            "mediumint" => new BinlogColumn(MySqlColumnType.Int24, 0, 0),
            "int" => new BinlogColumn(MySqlColumnType.Long, 0, 0),
            "bigint" => new BinlogColumn(MySqlColumnType.LongLong, 0, 0),
            "float" => new BinlogColumn(MySqlColumnType.Float, 4, 0),
            "double" => new BinlogColumn(MySqlColumnType.Double, 8, 0),
            "decimal" => new BinlogColumn(MySqlColumnType.NewDecimal, column.Precision, column.Scale),
            "bit" => new BinlogColumn(MySqlColumnType.Bit, column.Length, 0),
            "year" => new BinlogColumn(MySqlColumnType.Year, 0, 0),
            "date" => new BinlogColumn(MySqlColumnType.Date, 0, 0),
            "time" => new BinlogColumn(MySqlColumnType.Time2, column.Fsp, 0),
            "datetime" => new BinlogColumn(MySqlColumnType.DateTime2, column.Fsp, 0),
            "timestamp" => new BinlogColumn(MySqlColumnType.Timestamp2, column.Fsp, 0),
            // The most bytes a value may take (n characters of at most 4 bytes, or n bytes): a BINARY(n) is padded to n.
            "char" or "binary" => new BinlogColumn(MySqlColumnType.String, column.Charset == "binary" ? column.Length : column.Length * 4, 0),
            _ when column.BinaryText != BinaryText.None => new BinlogColumn(MySqlColumnType.String, column.Length, 0),
            "varchar" or "varbinary" => new BinlogColumn(MySqlColumnType.VarChar, column.Charset == "binary" ? column.Length : column.Length * 4, 0),
            "tinytext" or "tinyblob" => new BinlogColumn(MySqlColumnType.Blob, 1, 0),
            "text" or "blob" => new BinlogColumn(MySqlColumnType.Blob, 2, 0),
            "mediumtext" or "mediumblob" => new BinlogColumn(MySqlColumnType.Blob, 3, 0),
            "longtext" or "longblob" or "json" => new BinlogColumn(MySqlColumnType.Blob, 4, 0),
            "enum" => new BinlogColumn(MySqlColumnType.Enum, column.Labels.Count > 255 ? 2 : 1, 0),
            "set" => new BinlogColumn(MySqlColumnType.Set, (column.Labels.Count + 7) / 8 > 4 ? 8 : (column.Labels.Count + 7) / 8, 0),
            _ when column.IsGeometry => new BinlogColumn(MySqlColumnType.Geometry, 4, 0),
            _ => throw new NotSupportedException($"column '{column.Name}' of {table} has type '{column.DatabaseType}', which the MySQL connector does not map (see docs/type-mapping.md)"),
        };
        return Plan(column, binlog, column.Labels, charset);
    }

    private static ColumnPlan Plan(MySqlColumn column, BinlogColumn binlog, IReadOnlyList<string> labelTexts, MySqlCharset? serverCharset = null)
    {
        var type = column.ToDataType();
        var charset = serverCharset ?? column.BinlogCharset;
        var binaryText = column.BinaryText;
        var decoder = binlog.Type switch
        {
            MySqlColumnType.Tiny or MySqlColumnType.Short or MySqlColumnType.Int24 or MySqlColumnType.Long =>
                column.Unsigned ? ValueDecoder.UnsignedInt : ValueDecoder.SignedInt,
            MySqlColumnType.LongLong => column.Unsigned ? ValueDecoder.UnsignedInt64 : ValueDecoder.SignedInt,
            MySqlColumnType.Float => ValueDecoder.Float,
            MySqlColumnType.Double => ValueDecoder.Double,
            MySqlColumnType.NewDecimal => ValueDecoder.Decimal,
            MySqlColumnType.Bit => binlog.Meta == 1 ? ValueDecoder.Boolean : ValueDecoder.Bits,
            MySqlColumnType.Year => ValueDecoder.Year,
            MySqlColumnType.Date or MySqlColumnType.NewDate => ValueDecoder.Date,
            MySqlColumnType.Time => ValueDecoder.Time,
            MySqlColumnType.Time2 => ValueDecoder.Time2,
            MySqlColumnType.DateTime => ValueDecoder.DateTime,
            MySqlColumnType.DateTime2 => ValueDecoder.DateTime2,
            MySqlColumnType.Timestamp => ValueDecoder.Timestamp,
            MySqlColumnType.Timestamp2 => ValueDecoder.Timestamp2,
            MySqlColumnType.Enum => ValueDecoder.Enum,
            MySqlColumnType.Set => ValueDecoder.Set,
            MySqlColumnType.Json => ValueDecoder.JsonBinary,
            MySqlColumnType.Geometry => ValueDecoder.Geometry,
            _ when type.Kind == DataTypeKind.Json => ValueDecoder.JsonText,
            _ when charset == MySqlCharset.Binary || type.Kind == DataTypeKind.Bytes || binaryText != BinaryText.None => ValueDecoder.Bytes,
            _ => ValueDecoder.Text,
        };
        var prefix = binlog.Type switch
        {
            MySqlColumnType.String or MySqlColumnType.VarChar or MySqlColumnType.VarString => binlog.Meta > 255 ? 2 : 1,
            MySqlColumnType.Blob or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob
                or MySqlColumnType.Json or MySqlColumnType.Geometry => binlog.Meta,
            _ => 0,
        };
        var labels = column.TypeName is "enum" or "set" ? labelTexts.Select(l => Encoding.UTF8.GetBytes(l)).ToArray() : [];
        return new ColumnPlan
        {
            Name = column.Name,
            Binlog = binlog,
            Decoder = decoder,
            Kind = type.Kind,
            Nullable = column.Nullable,
            Charset = charset,
            Labels = labels,
            Precision = column.Precision,
            Scale = column.Scale,
            BitLength = column.Length,
            LengthPrefix = prefix,
            BinaryLength = binlog.Type == MySqlColumnType.String && decoder == ValueDecoder.Bytes ? binlog.Meta : 0,
            BinaryText = binaryText,
        };
    }
}
