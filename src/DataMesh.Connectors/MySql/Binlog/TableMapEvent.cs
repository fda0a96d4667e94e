using System.Text;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// TABLE_MAP (19): binds a table id to a table before its row events: database, name, each column's type and
/// metadata, which columns admit NULL, and, with <c>binlog_row_metadata=MINIMAL</c> or <c>FULL</c>, optional
/// metadata (signedness, column names, primary key, ENUM and SET values).
/// </summary>
internal sealed class TableMapEvent
{
    private const byte SignednessField = 1;
    private const byte DefaultCharsetField = 2;
    private const byte ColumnCharsetField = 3;
    private const byte ColumnNameField = 4;
    private const byte SetValuesField = 5;
    private const byte EnumValuesField = 6;
    private const byte SimplePrimaryKeyField = 8;
    private const byte PrimaryKeyWithPrefixField = 9;
    private const byte EnumAndSetDefaultCharsetField = 10;
    private const byte EnumAndSetColumnCharsetField = 11;

    private readonly byte[] _body;

    private TableMapEvent(byte[] body, long tableId, string database, string table, BinlogColumn[] columns, bool[] nullable)
    {
        _body = body;
        TableId = tableId;
        Database = database;
        Table = table;
        Columns = columns;
        Nullable = nullable;
    }

    public long TableId { get; }

    public string Database { get; }

    public string Table { get; }

    public BinlogColumn[] Columns { get; }

    public bool[] Nullable { get; }

    /// <summary>UNSIGNED of each column (false for columns without a signedness bit, see
    /// <see cref="BinlogColumn.HasSignedness"/>), or null without optional metadata.</summary>
    public bool[]? Unsigned { get; private set; }

    /// <summary>Column names (<c>binlog_row_metadata=FULL</c>), or null.</summary>
    public string[]? ColumnNames { get; private set; }

    /// <summary>Primary-key column indexes (<c>FULL</c>), or null.</summary>
    public int[]? PrimaryKey { get; private set; }

    private byte[]?[]?[]? _enumBytes;
    private byte[]?[]?[]? _setBytes;

    /// <summary>ENUM labels by column index (<c>FULL</c>), or null.</summary>
    public string[]?[]? EnumValues { get; private set; }

    /// <summary>SET members by column index (<c>FULL</c>), or null.</summary>
    public string[]?[]? SetValues { get; private set; }

    /// <summary>The collation id of each column (character, ENUM and SET columns; 0 for others or when the metadata
    /// has no charsets).</summary>
    public int[] Collations { get; private set; } = [];

    /// <summary>Whether this map was parsed from exactly these body bytes (a repeated TABLE_MAP reuses its parse).</summary>
    public bool Matches(ReadOnlySpan<byte> body) => body.SequenceEqual(_body);

    /// <summary>Reads the table id of a TABLE_MAP body without parsing the rest.</summary>
    public static long ReadTableId(ReadOnlySpan<byte> body, int tableIdLength)
    {
        var reader = new Protocol.PayloadReader(body, "TABLE_MAP", BinlogEventHeader.Length);
        return tableIdLength == 4 ? reader.ReadUInt32("table_id") : reader.ReadUInt48("table_id");
    }

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    /// <param name="body">The body.</param>
    /// <param name="tableIdLength">4 or 6, from the post-header length that FORMAT_DESCRIPTION gives (6 or 8).</param>
    public static TableMapEvent Parse(ReadOnlySpan<byte> body, int tableIdLength = 6)
    {
        var reader = new Protocol.PayloadReader(body, "TABLE_MAP", BinlogEventHeader.Length);
        long tableId = tableIdLength == 4 ? reader.ReadUInt32("table_id") : reader.ReadUInt48("table_id");
        reader.ReadUInt16("flags");
        var databaseLength = reader.ReadByte("database_length");
        var database = Encoding.UTF8.GetString(reader.ReadSpan(databaseLength, "database"));
        if (reader.ReadByte("database_terminator") != 0)
        {
            throw reader.Error("database", "the database name is not followed by a NUL byte");
        }

        var tableLength = reader.ReadByte("table_length");
        var table = Encoding.UTF8.GetString(reader.ReadSpan(tableLength, "table"));
        if (reader.ReadByte("table_terminator") != 0)
        {
            throw reader.Error("table", "the table name is not followed by a NUL byte");
        }

        var count = reader.ReadLengthEncodedCount("column_count");
        if (count == 0 || count > 4096)
        {
            throw reader.Error("column_count", $"{count} columns: a table has 1 to 4096");
        }

        var types = reader.ReadSpan(count, "column_types");
        var metadataLength = reader.ReadLengthEncodedCount("metadata_length");
        var metadataStart = reader.Offset;
        var metadata = new Protocol.PayloadReader(reader.ReadSpan(metadataLength, "metadata"), "TABLE_MAP", BinlogEventHeader.Length + metadataStart);
        var columns = new BinlogColumn[count];
        for (var i = 0; i < count; i++)
        {
            columns[i] = ReadColumn((MySqlColumnType)types[i], ref metadata);
        }

        if (metadata.Remaining != 0)
        {
            throw metadata.Error("metadata", $"{metadata.Remaining} bytes of column metadata are left over after {count} columns");
        }

        var nullBits = reader.ReadSpan((count + 7) / 8, "null_bitmap");
        var nullable = new bool[count];
        for (var i = 0; i < count; i++)
        {
            nullable[i] = (nullBits[i >> 3] & (1 << (i & 7))) != 0;
        }

        var map = new TableMapEvent(body.ToArray(), tableId, database, table, columns, nullable);
        while (reader.Remaining > 0)
        {
            var fieldType = reader.ReadByte("optional_metadata_type");
            var fieldStart = reader.Offset;
            var field = reader.ReadLengthEncodedBytes("optional_metadata_length");
            var fieldReader = new Protocol.PayloadReader(field, "TABLE_MAP", BinlogEventHeader.Length + fieldStart);
            map.ReadOptional(fieldType, ref fieldReader);
        }

        map.EnumValues = map.Labels(map._enumBytes);
        map.SetValues = map.Labels(map._setBytes);
        return map;
    }

    private static BinlogColumn ReadColumn(MySqlColumnType type, ref Protocol.PayloadReader metadata)
    {
        switch (type)
        {
            case MySqlColumnType.Float or MySqlColumnType.Double:
                return new BinlogColumn(type, metadata.ReadByte("float_size"), 0);
            case MySqlColumnType.Blob or MySqlColumnType.Geometry or MySqlColumnType.Json
                or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob:
                var prefix = metadata.ReadByte("length_size");
                if (prefix is < 1 or > 4)
                {
                    throw metadata.Error("length_size", $"a {type} length prefix of {prefix} bytes (1 to 4 expected)");
                }

                return new BinlogColumn(type, prefix, 0);
            case MySqlColumnType.VarChar or MySqlColumnType.VarString:
                return new BinlogColumn(type, metadata.ReadUInt16("max_length"), 0);
            case MySqlColumnType.Bit:
                var bits = metadata.ReadByte("bits");
                var bytes = metadata.ReadByte("bytes");
                return new BinlogColumn(type, (bytes * 8) + bits, 0);
            case MySqlColumnType.NewDecimal:
                var precision = metadata.ReadByte("precision");
                var scale = metadata.ReadByte("scale");
                if (precision is < 1 or > 65 || scale > 30 || scale > precision)
                {
                    throw metadata.Error("precision", $"DECIMAL({precision},{scale}) is not valid");
                }

                return new BinlogColumn(type, precision, scale);
            case MySqlColumnType.Timestamp2 or MySqlColumnType.DateTime2 or MySqlColumnType.Time2:
                var fsp = metadata.ReadByte("fsp");
                if (fsp > 6)
                {
                    throw metadata.Error("fsp", $"{fsp} fractional digits (0 to 6 expected)");
                }

                return new BinlogColumn(type, fsp, 0);
            case MySqlColumnType.String or MySqlColumnType.Enum or MySqlColumnType.Set:
                var b0 = metadata.ReadByte("real_type");
                var b1 = metadata.ReadByte("length");
                if ((b0 & 0x30) != 0x30)
                {
                    // CHAR longer than 255 bytes: two bits of the length hide in the type byte.
                    return new BinlogColumn(MySqlColumnType.String, b1 | (((b0 & 0x30) ^ 0x30) << 4), 0);
                }

                var real = (MySqlColumnType)b0;
                return real is MySqlColumnType.String or MySqlColumnType.Enum or MySqlColumnType.Set
                    ? new BinlogColumn(real, b1, 0)
                    : throw metadata.Error("real_type", $"real type {b0} of a STRING column is not STRING, ENUM or SET");
            case MySqlColumnType.Tiny or MySqlColumnType.Short or MySqlColumnType.Int24 or MySqlColumnType.Long or MySqlColumnType.LongLong
                or MySqlColumnType.Year or MySqlColumnType.Date or MySqlColumnType.NewDate or MySqlColumnType.Time or MySqlColumnType.DateTime
                or MySqlColumnType.Timestamp or MySqlColumnType.Null:
                return new BinlogColumn(type, 0, 0);
            default:
                throw metadata.Error("column_type", $"column type {(byte)type} is not supported");
        }
    }

    private void ReadOptional(byte fieldType, ref Protocol.PayloadReader reader)
    {
        switch (fieldType)
        {
            case SignednessField:
                var unsigned = new bool[Columns.Length];
                var bit = 0;
                for (var i = 0; i < Columns.Length; i++)
                {
                    if (!Columns[i].HasSignedness)
                    {
                        continue;
                    }

                    if ((bit >> 3) >= reader.Remaining)
                    {
                        throw reader.Error("signedness", "truncated: fewer bits than columns with a signedness (numbers and YEAR)");
                    }

                    unsigned[i] = (reader.Data[bit >> 3] & (0x80 >> (bit & 7))) != 0;
                    bit++;
                }

                Unsigned = unsigned;
                break;
            case ColumnNameField:
                var names = new string[Columns.Length];
                for (var i = 0; i < names.Length; i++)
                {
                    names[i] = Encoding.UTF8.GetString(reader.ReadLengthEncodedBytes("column_name"));
                }

                ColumnNames = names;
                break;
            case SimplePrimaryKeyField:
                var keys = new List<int>();
                while (reader.Remaining > 0)
                {
                    keys.Add(CheckIndex(reader.ReadLengthEncodedCount("primary_key"), ref reader));
                }

                PrimaryKey = [.. keys];
                break;
            case PrimaryKeyWithPrefixField:
                var prefixed = new List<int>();
                while (reader.Remaining > 0)
                {
                    prefixed.Add(CheckIndex(reader.ReadLengthEncodedCount("primary_key"), ref reader));
                    reader.ReadLengthEncoded("prefix_length");
                }

                PrimaryKey = [.. prefixed];
                break;
            case EnumValuesField or SetValuesField:
                // Kept as bytes: they are in the column's charset, which the ENUM_AND_SET charset fields give after them.
                var values = new byte[]?[]?[Columns.Length];
                var wanted = fieldType == EnumValuesField ? MySqlColumnType.Enum : MySqlColumnType.Set;
                for (var i = 0; i < Columns.Length; i++)
                {
                    if (Columns[i].Type != wanted)
                    {
                        continue;
                    }

                    var labels = new byte[]?[reader.ReadLengthEncodedCount("value_count")];
                    for (var j = 0; j < labels.Length; j++)
                    {
                        labels[j] = reader.ReadLengthEncodedBytes("value").ToArray();
                    }

                    values[i] = labels;
                }

                if (fieldType == EnumValuesField)
                {
                    _enumBytes = values;
                }
                else
                {
                    _setBytes = values;
                }

                break;
            case DefaultCharsetField or EnumAndSetDefaultCharsetField:
                ReadDefaultCharset(ref reader, fieldType == EnumAndSetDefaultCharsetField);
                break;
            case ColumnCharsetField or EnumAndSetColumnCharsetField:
                EnsureCollations();
                var enumAndSet = fieldType == EnumAndSetColumnCharsetField;
                for (var i = 0; i < Columns.Length; i++)
                {
                    if (IsCharsetColumn(Columns[i], enumAndSet))
                    {
                        Collations[i] = reader.ReadLengthEncodedCount("column_charset");
                    }
                }

                break;
            default:
                // Geometry types, visibility: skipped by length.
                break;
        }
    }

    /// <summary>Labels as text, each column's in its own charset (its collation in <see cref="Collations"/>; UTF-8 when the
    /// metadata gives none or one this reader does not know).</summary>
    private string[]?[]? Labels(byte[]?[]?[]? bytes)
    {
        if (bytes is null)
        {
            return null;
        }

        var labels = new string[]?[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] is not { } column)
            {
                continue;
            }

            var charset = (Collations.Length > i ? MySqlCharsets.FromCollationId(Collations[i]) : null) ?? MySqlCharset.Utf8;
            // UTF-8 (or unknown) as before, leniently; another charset through the text cells' own conversion.
            labels[i] = [.. column.Select(label => charset is MySqlCharset.Utf8 or MySqlCharset.Binary ? Encoding.UTF8.GetString(label!) : MySqlCharsets.ToString(charset, label!))];
        }

        return labels;
    }

    private static bool IsCharsetColumn(BinlogColumn column, bool enumAndSet) =>
        enumAndSet ? column.Type is MySqlColumnType.Enum or MySqlColumnType.Set : column.IsCharacter;

    private void EnsureCollations()
    {
        if (Collations.Length == 0)
        {
            Collations = new int[Columns.Length];
        }
    }

    private void ReadDefaultCharset(ref Protocol.PayloadReader reader, bool enumAndSet)
    {
        EnsureCollations();
        var defaultCollation = reader.ReadLengthEncodedCount("default_charset");
        var exceptions = new Dictionary<int, int>();
        while (reader.Remaining > 0)
        {
            var index = reader.ReadLengthEncodedCount("charset_column_index");
            exceptions[index] = reader.ReadLengthEncodedCount("charset_collation");
        }

        var ordinal = 0;
        for (var i = 0; i < Columns.Length; i++)
        {
            if (!IsCharsetColumn(Columns[i], enumAndSet))
            {
                continue;
            }

            Collations[i] = exceptions.TryGetValue(ordinal, out var collation) ? collation : defaultCollation;
            ordinal++;
        }
    }

    private int CheckIndex(int index, ref Protocol.PayloadReader reader) =>
        index < Columns.Length ? index : throw reader.Error("primary_key", $"primary-key column {index} of {Columns.Length}");
}
