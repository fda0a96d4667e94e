using System.Text;

namespace DataMesh.Connectors.Cassandra.Native;

/// <summary>One column of a ROWS result.</summary>
internal sealed record CqlColumn(string Keyspace, string Table, string Name, CqlColumnType Type);

/// <summary>
/// One page of a ROWS result (spec section 4.2.5.2): the column metadata, the rows as decoded values
/// (<see cref="CqlValueCodec"/>) and the paging state of the next page (null on the last page).
/// </summary>
internal sealed class CqlRowsPage
{
    private const int GlobalTablesSpec = 0x0001;
    private const int HasMorePages = 0x0002;
    private const int NoMetadata = 0x0004;

    private CqlRowsPage(IReadOnlyList<CqlColumn> columns, IReadOnlyList<object?[]> rows, byte[]? pagingState)
    {
        Columns = columns;
        Rows = rows;
        PagingState = pagingState;
    }

    public IReadOnlyList<CqlColumn> Columns { get; }

    public IReadOnlyList<object?[]> Rows { get; }

    /// <summary>The paging state to ask for the next page with, or null when this is the last page.</summary>
    public byte[]? PagingState { get; }

    /// <summary>Reads a ROWS result's body after its kind.</summary>
    /// <exception cref="CqlProtocolException">A field that runs past the body, a value that does not fit its type; the
    /// message names the field.</exception>
    public static CqlRowsPage Create(ref CqlBodyReader reader)
    {
        var flags = reader.ReadInt("metadata flags");
        var count = reader.ReadInt("column count");
        if (count < 0 || count > reader.Remaining)
        {
            throw reader.Error("column count", $"{count} columns cannot fit in the {reader.Remaining} bytes left");
        }

        byte[]? pagingState = null;
        if ((flags & HasMorePages) != 0)
        {
            var state = reader.ReadBytes("paging state", out var isNull);
            pagingState = isNull ? null : state.ToArray();
        }

        if ((flags & NoMetadata) != 0)
        {
            throw reader.Error("metadata flags", "a ROWS result without metadata (this client never asks to skip it)");
        }

        string? keyspace = null, table = null;
        if ((flags & GlobalTablesSpec) != 0)
        {
            keyspace = reader.ReadString("keyspace");
            table = reader.ReadString("table");
        }

        var columns = new CqlColumn[count];
        for (var i = 0; i < count; i++)
        {
            var columnKeyspace = keyspace ?? reader.ReadString("column keyspace");
            var columnTable = table ?? reader.ReadString("column table");
            var name = reader.ReadString("column name");
            columns[i] = new CqlColumn(columnKeyspace, columnTable, name, CqlValueCodec.ReadType(ref reader, $"type of column '{name}'"));
        }

        var rowCount = reader.ReadInt("row count");
        if (rowCount < 0 || (count > 0 && rowCount > reader.Remaining / (4 * count)))
        {
            throw reader.Error("row count", $"{rowCount} rows of {count} columns cannot fit in the {reader.Remaining} bytes left");
        }

        var rows = new List<object?[]>(rowCount);
        for (var r = 0; r < rowCount; r++)
        {
            var row = new object?[count];
            for (var c = 0; c < count; c++)
            {
                var value = reader.ReadBytes($"row {r} column '{columns[c].Name}'", out var isNull);
                try
                {
                    row[c] = isNull ? null : CqlValueCodec.Decode(columns[c].Type, value, columns[c].Name);
                }
                catch (DecoderFallbackException ex)
                {
                    throw new CqlProtocolException($"row {r} column '{columns[c].Name}': text that is not UTF-8", ex);
                }
            }

            rows.Add(row);
        }

        return new CqlRowsPage(columns, rows, pagingState);
    }
}

/// <summary>All the rows of a query (every page), with its columns; values are looked up by column name.</summary>
internal sealed class CqlRows
{
    private readonly Dictionary<string, int> _index;

    public CqlRows(IReadOnlyList<CqlColumn> columns, IReadOnlyList<object?[]> rows, int pages)
    {
        Columns = columns;
        Rows = rows;
        Pages = pages;
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < columns.Count; i++)
        {
            _index[columns[i].Name] = i;
        }
    }

    public IReadOnlyList<CqlColumn> Columns { get; }

    public IReadOnlyList<object?[]> Rows { get; }

    /// <summary>How many pages the server sent.</summary>
    public int Pages { get; }

    /// <summary>Whether the result has a column of that name.</summary>
    public bool Has(string column) => _index.ContainsKey(column);

    /// <summary>The value of <paramref name="column"/> in <paramref name="row"/>, as <typeparamref name="T"/>, or default
    /// when null.</summary>
    /// <exception cref="CqlProtocolException">No such column, or a value of another type.</exception>
    public T? Get<T>(object?[] row, string column)
    {
        if (!_index.TryGetValue(column, out var i))
        {
            throw new CqlProtocolException($"the result has no column '{column}' (it has {string.Join(", ", Columns.Select(c => c.Name))})");
        }

        return row[i] switch
        {
            null => default,
            T value => value,
            var other => throw new CqlProtocolException($"column '{column}' is {Columns[i].Type}, not {typeof(T).Name} ({other.GetType().Name})"),
        };
    }
}
