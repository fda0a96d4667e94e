namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>Column type codes of the binlog's TABLE_MAP (MySQL's <c>enum_field_types</c>).</summary>
internal enum MySqlColumnType : byte
{
    Decimal = 0,
    Tiny = 1,
    Short = 2,
    Long = 3,
    Float = 4,
    Double = 5,
    Null = 6,
    Timestamp = 7,
    LongLong = 8,
    Int24 = 9,
    Date = 10,
    Time = 11,
    DateTime = 12,
    Year = 13,
    NewDate = 14,
    VarChar = 15,
    Bit = 16,
    Timestamp2 = 17,
    DateTime2 = 18,
    Time2 = 19,
    Json = 245,
    NewDecimal = 246,
    Enum = 247,
    Set = 248,
    TinyBlob = 249,
    MediumBlob = 250,
    LongBlob = 251,
    Blob = 252,
    VarString = 253,
    String = 254,
    Geometry = 255,
}

/// <summary>One column as a TABLE_MAP describes it: the type code on the wire, the real type (ENUM and SET travel as
/// STRING), and the type's metadata normalised (<see cref="Meta"/>: a length, a length-prefix size, a precision or
/// fractional digits; <see cref="Meta2"/>: a decimal's scale).</summary>
internal readonly record struct BinlogColumn(MySqlColumnType Type, int Meta, int Meta2)
{
    /// <summary>Whether the SIGNEDNESS optional metadata has a bit for this column: the integer types, YEAR, FLOAT, DOUBLE,
    /// DECIMAL and NEWDECIMAL. Both servers count YEAR: MySQL by <c>has_signedess_information_type</c>
    /// (sql/field_common_properties.h), MariaDB because its YEAR field is an unsigned TINYINT
    /// (<c>Field_year : Field_tiny</c>, whose <c>binlog_type_info</c> carries a signedness); MariaDB sets YEAR's bit, MySQL
    /// clears it. A decoder that skips YEAR reads every later column's bit from its neighbour.</summary>
    public bool HasSignedness => Type is MySqlColumnType.Tiny or MySqlColumnType.Short or MySqlColumnType.Int24 or MySqlColumnType.Long
        or MySqlColumnType.LongLong or MySqlColumnType.Year or MySqlColumnType.NewDecimal or MySqlColumnType.Float or MySqlColumnType.Double
        or MySqlColumnType.Decimal;

    /// <summary>Whether the column is an integer whose UNSIGNED attribute changes how its bytes read (not YEAR, whose
    /// signedness bit means nothing).</summary>
    public bool IsInteger => Type is MySqlColumnType.Tiny or MySqlColumnType.Short or MySqlColumnType.Int24 or MySqlColumnType.Long
        or MySqlColumnType.LongLong;

    /// <summary>Whether charset metadata covers this column (character columns other than ENUM and SET).</summary>
    public bool IsCharacter => Type is MySqlColumnType.VarChar or MySqlColumnType.VarString or MySqlColumnType.String or MySqlColumnType.Blob
        or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob;
}
