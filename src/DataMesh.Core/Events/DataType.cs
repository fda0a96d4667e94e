namespace DataMesh.Events;

/// <summary>
/// The database-neutral kind of a column, chosen by a connector from the database's own type name.
/// <c>docs/type-mapping.md</c> lists which database types map to which kind and how each travels in Avro.
/// </summary>
public enum DataTypeKind
{
    /// <summary>A boolean (PostgreSQL <c>boolean</c>, <c>bit(1)</c>; MySQL <c>BIT(1)</c>, <c>BOOL</c>). Avro <c>boolean</c>.</summary>
    Boolean,

    /// <summary>A signed integer of at most 32 bits (PostgreSQL <c>smallint</c>, <c>integer</c>; MySQL <c>TINYINT</c>..<c>INT</c>, unsigned up to <c>MEDIUMINT</c>, <c>YEAR</c>). Avro <c>int</c>.</summary>
    Int32,

    /// <summary>A signed integer of at most 64 bits (PostgreSQL <c>bigint</c>, <c>oid</c>; MySQL <c>BIGINT</c>, <c>INT UNSIGNED</c>). Avro <c>long</c>.</summary>
    Int64,

    /// <summary>An unsigned 64-bit integer (MySQL <c>BIGINT UNSIGNED</c>), beyond <see cref="long"/>. Avro <c>bytes</c> with logical type <c>decimal(20,0)</c>.</summary>
    UInt64,

    /// <summary>A single-precision float, NaN and infinities included. Avro <c>float</c>.</summary>
    Float32,

    /// <summary>A double-precision float, NaN and infinities included. Avro <c>double</c>.</summary>
    Float64,

    /// <summary>An exact decimal with a declared precision and scale. Avro <c>bytes</c> with logical type <c>decimal</c>.</summary>
    Decimal,

    /// <summary>An exact decimal without a declared scale (PostgreSQL <c>numeric</c> without a type modifier).
    /// Avro record <c>VariableScaleDecimal {scale, value}</c>, or a string under <see cref="DecimalHandling.String"/>.</summary>
    VariableDecimal,

    /// <summary>Text. Avro <c>string</c>.</summary>
    String,

    /// <summary>Binary data. Avro <c>bytes</c>.</summary>
    Bytes,

    /// <summary>A UUID. Avro <c>string</c> with logical type <c>uuid</c>.</summary>
    Uuid,

    /// <summary>A JSON document as its text. Avro <c>string</c> marked <c>"dm.type":"json"</c>.</summary>
    Json,

    /// <summary>A calendar date. Avro <c>int</c> with logical type <c>date</c>.</summary>
    Date,

    /// <summary>A time of day (PostgreSQL <c>time</c>, 00:00 to 24:00 inclusive). Avro <c>long</c> with logical type <c>time-micros</c>.</summary>
    Time,

    /// <summary>A signed duration in microseconds that may exceed a day (MySQL <c>TIME</c>, -838:59:59 to 838:59:59).
    /// Avro <c>long</c> marked <c>"dm.type":"duration-micros"</c>.</summary>
    DurationMicros,

    /// <summary>A time of day with a UTC offset (PostgreSQL <c>timetz</c>). Avro <c>string</c> as PostgreSQL prints it, e.g. <c>12:34:56.789+05:30</c>.</summary>
    TimeWithOffset,

    /// <summary>A date and time without a time zone (PostgreSQL <c>timestamp</c>, MySQL <c>DATETIME</c>).
    /// Avro <c>long</c> with logical type <c>local-timestamp-micros</c>.</summary>
    LocalTimestamp,

    /// <summary>An instant (PostgreSQL <c>timestamptz</c>, MySQL <c>TIMESTAMP</c>). Avro <c>long</c> with logical type <c>timestamp-micros</c>.</summary>
    Timestamp,

    /// <summary>An interval (PostgreSQL <c>interval</c>). Avro <c>string</c>, ISO-8601 duration such as <c>P1Y2M3DT4H5M6.000007S</c>.</summary>
    Interval,

    /// <summary>A bit string (PostgreSQL <c>bit(n)</c> with n &gt; 1, <c>varbit</c>; MySQL <c>BIT(n)</c> with n &gt; 1).
    /// Avro <c>string</c> of <c>0</c> and <c>1</c> characters, first bit first.</summary>
    Bits,

    /// <summary>A value carried as its database text form (PostgreSQL <c>inet</c>, <c>cidr</c>, <c>macaddr</c>, <c>xml</c>,
    /// composite types, multi-dimensional arrays, ranges; MySQL <c>ENUM</c>, <c>SET</c>). Avro <c>string</c>; the database
    /// type is kept in <c>"dm.type"</c>.</summary>
    Text,

    /// <summary>A geometry (MySQL spatial types). Avro record <c>Geometry {wkb: bytes, srid: ["null","int"]}</c>: the OGC
    /// well-known binary and the spatial reference id.</summary>
    Geometry,

    /// <summary>A one-dimensional array of <see cref="DataType.ElementType"/>. Avro <c>array</c> of nullable elements.</summary>
    Array,
}

/// <summary>How exact decimals travel in Avro.</summary>
public enum DecimalHandling
{
    /// <summary>Avro <c>decimal</c> logical types (Debezium's <c>precise</c>). A value with no decimal form
    /// (PostgreSQL <c>NaN</c>, <c>Infinity</c>) stops the connector with an error naming the column, never a silent null.</summary>
    Precise,

    /// <summary>Decimal text such as <c>-12.3400</c>, <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>: exact for every value.</summary>
    String,
}

/// <summary>
/// A database-neutral column type: a <see cref="DataTypeKind"/> plus its parameters (precision and scale for
/// decimals, the element type for arrays) and the database's own type name, kept for documentation and tooling.
/// </summary>
public sealed record DataType
{
    private DataType(DataTypeKind kind, string databaseType, int precision = 0, int scale = 0, DataType? elementType = null)
    {
        Kind = kind;
        DatabaseType = databaseType;
        Precision = precision;
        Scale = scale;
        ElementType = elementType;
    }

    /// <summary>The neutral kind.</summary>
    public DataTypeKind Kind { get; }

    /// <summary>The database's type name as the connector read it, e.g. <c>numeric(10,2)</c> or <c>int unsigned</c>.</summary>
    public string DatabaseType { get; }

    /// <summary>Total digits of a <see cref="DataTypeKind.Decimal"/>; 0 otherwise.</summary>
    public int Precision { get; }

    /// <summary>Digits after the point of a <see cref="DataTypeKind.Decimal"/>; 0 otherwise.</summary>
    public int Scale { get; }

    /// <summary>The element type of an <see cref="DataTypeKind.Array"/>; null otherwise.</summary>
    public DataType? ElementType { get; }

    /// <summary>Creates a type of a kind that takes no parameters.</summary>
    /// <param name="kind">The kind; not <see cref="DataTypeKind.Decimal"/> or <see cref="DataTypeKind.Array"/>, which have their own factories.</param>
    /// <param name="databaseType">The database's type name.</param>
    public static DataType Of(DataTypeKind kind, string databaseType)
    {
        if (kind is DataTypeKind.Decimal or DataTypeKind.Array)
        {
            throw new ArgumentException($"Use DataType.{(kind == DataTypeKind.Decimal ? nameof(DecimalOf) : nameof(ArrayOf))} for {kind} types.", nameof(kind));
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(databaseType);
        return new DataType(kind, databaseType);
    }

    /// <summary>Creates an exact decimal type.</summary>
    /// <param name="precision">Total digits, 1 or more.</param>
    /// <param name="scale">Digits after the point, from 0 to <paramref name="precision"/>.</param>
    /// <param name="databaseType">The database's type name.</param>
    public static DataType DecimalOf(int precision, int scale, string databaseType)
    {
        if (precision < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(precision), precision, "A decimal's precision must be at least 1.");
        }

        if (scale < 0 || scale > precision)
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, $"A decimal's scale must be between 0 and its precision ({precision}).");
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(databaseType);
        return new DataType(DataTypeKind.Decimal, databaseType, precision, scale);
    }

    /// <summary>Creates a one-dimensional array type.</summary>
    /// <param name="elementType">The type of the elements; not itself an array.</param>
    /// <param name="databaseType">The database's type name, e.g. <c>integer[]</c>.</param>
    public static DataType ArrayOf(DataType elementType, string databaseType)
    {
        ArgumentNullException.ThrowIfNull(elementType);
        if (elementType.Kind == DataTypeKind.Array)
        {
            throw new ArgumentException("Arrays of arrays travel as text (DataTypeKind.Text); an array's element type cannot be an array.", nameof(elementType));
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(databaseType);
        return new DataType(DataTypeKind.Array, databaseType, elementType: elementType);
    }

    /// <inheritdoc />
    public override string ToString() => DatabaseType;
}
