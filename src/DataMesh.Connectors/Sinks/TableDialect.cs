using System.Globalization;
using System.Data.Common;

namespace DataMesh.Connectors.Sinks;

/// <summary>A target table's name: an optional schema (PostgreSQL) or database (MySQL), and the table.</summary>
internal readonly record struct TableName(string? Schema, string Name);

/// <summary>A target column as the database describes it.</summary>
/// <param name="Name">The column name.</param>
/// <param name="Type">The full type (<c>character varying(5)</c>, <c>decimal(10,2)</c>).</param>
/// <param name="BaseType">The type without modifiers (PostgreSQL: for casts of text values).</param>
/// <param name="IsString">Whether the type is a string type, which text values are assigned to without a cast.</param>
internal sealed record TableColumn(string Name, string Type, string BaseType, bool IsString)
{
    /// <summary>For a PostgreSQL array column: its element as a column of its own (the array's name; <c>numeric(6,2)</c>
    /// of <c>numeric(6,2)[]</c>), to which each item of an array is written as a scalar is; null otherwise.</summary>
    public TableColumn? Element { get; init; }

    /// <summary>The scale <c>s</c> of a <c>NUMERIC(p,s)</c>/<c>DECIMAL(p,s)</c> column, as both databases' catalogs write the
    /// type (<c>numeric(10,2)</c>; MySQL <c>decimal(10,2) unsigned</c>), 0 for an integer column (MySQL rounds a fraction
    /// into one without an error), or null for any other type.</summary>
    public int? DecimalScale { get; } = ParseScale(Type);

    /// <summary>The <see cref="DecimalScale"/> of an array column's elements (PostgreSQL <c>numeric(6,2)[]</c>: 2), or null.</summary>
    public int? ElementDecimalScale { get; } = Type.EndsWith("[]", StringComparison.Ordinal) ? ParseScale(Type[..^2]) : null;

    /// <summary>Whether the column holds single-precision floats (PostgreSQL <c>real</c>; MySQL <c>float</c>, which
    /// MySQL turns into <c>double</c> from <c>FLOAT(25)</c> on).</summary>
    public bool IsSingleFloat { get; } = Type.Equals("real", StringComparison.OrdinalIgnoreCase)
        || Type.StartsWith("float", StringComparison.OrdinalIgnoreCase) && (Type.Length == 5 || Type[5] is ' ' or '(');

    private static int? ParseScale(string type)
    {
        var end = type.AsSpan().IndexOfAny('(', ' ');
        if ((end < 0 ? type : type[..end]).ToLowerInvariant() is "smallint" or "integer" or "bigint" or "tinyint" or "mediumint" or "int")
        {
            return 0;
        }

        if (!type.StartsWith("numeric(", StringComparison.OrdinalIgnoreCase) && !type.StartsWith("decimal(", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var comma = type.IndexOf(',', StringComparison.Ordinal);
        var close = type.IndexOf(')', StringComparison.Ordinal);
        var rest = close < 0 ? string.Empty : type[(close + 1)..];
        return comma > 0 && close > comma && (rest.Length == 0 || rest[0] == ' ')
            && int.TryParse(type.AsSpan(comma + 1, close - comma - 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var scale)
            ? scale
            : null; // an array of numerics, say
    }
}

/// <summary>A target table as loaded from the catalog.</summary>
internal sealed class TableInfo(TableName name, string sql, string display, Dictionary<string, TableColumn> columns, string[] primaryKey)
{
    public TableName Name { get; } = name;

    /// <summary>The quoted, qualified name for SQL.</summary>
    public string Sql { get; } = sql;

    /// <summary>The name for messages.</summary>
    public string Display { get; } = display;

    public Dictionary<string, TableColumn> Columns { get; } = columns;

    public string[] PrimaryKey { get; } = primaryKey;
}

/// <summary>What differs between PostgreSQL and MySQL: catalog queries, DDL, set-based statements and error classes.</summary>
internal interface ITableDialect : IAsyncDisposable
{
    /// <summary>"PostgreSQL" or "MySQL".</summary>
    string Product { get; }

    /// <summary>How the database compares column names.</summary>
    StringComparer ColumnComparer { get; }

    int MaxIdentifierLength { get; }

    /// <summary>Where the sink writes, for the log (host, port, database; never a password).</summary>
    string Describe();

    string Display(TableName name);

    ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken);

    ValueTask<TableInfo?> LoadTableAsync(DbConnection connection, TableName name, CancellationToken cancellationToken);

    /// <summary>Creates a table (if it does not exist) with the row's columns, key columns NOT NULL and the primary key.</summary>
    ValueTask CreateTableAsync(DbConnection connection, TableName name, IReadOnlyList<SinkColumn> columns, IReadOnlyList<string> key, CancellationToken cancellationToken);

    /// <summary>Adds nullable columns (a column that another writer added meanwhile is not an error).</summary>
    ValueTask AddColumnsAsync(DbConnection connection, TableInfo table, IReadOnlyList<SinkColumn> columns, CancellationToken cancellationToken);

    /// <summary>Converts a neutral value (see <see cref="RowPlan"/>) to the value the statements bind.</summary>
    /// <exception cref="SinkValueException">The value cannot be stored by this database.</exception>
    object? ToParameter(SinkColumn column, object? value);

    ValueTask DeleteAsync(DbConnection connection, DbTransaction transaction, TableInfo table, SinkColumn[] key, IReadOnlyList<object?[]> keys, CancellationToken cancellationToken);

    /// <summary>For each key (values of <paramref name="key"/>'s columns, as <see cref="ToParameter"/> made them): whether the table has that row.
    /// Compares as <see cref="DeleteAsync"/> does; PostgreSQL also locks the rows found until the transaction ends.</summary>
    ValueTask<bool[]> ExistsAsync(DbConnection connection, DbTransaction transaction, TableInfo table, SinkColumn[] key, IReadOnlyList<object?[]> keys, CancellationToken cancellationToken);

    ValueTask UpsertAsync(DbConnection connection, DbTransaction transaction, TableInfo table, SinkColumn[] columns, IReadOnlyList<object?[]> rows, CancellationToken cancellationToken);

    /// <summary>Whether <paramref name="exception"/> is about the data (a value that does not fit, a constraint) rather than the connection or the schema.</summary>
    bool IsDataError(Exception exception);

    /// <summary>The reason for rejecting one row that failed with a data error, naming the table, the column when it can be found, and the cause.</summary>
    ValueTask<string> DescribeDataErrorAsync(TableInfo table, SinkColumn[] columns, object?[] row, Exception exception, CancellationToken cancellationToken);
}
