using System.Text.RegularExpressions;
using MySqlConnector;

namespace DataMesh.Connectors.MySql.Schema;

/// <summary>Reads the schema of every table (system databases aside), or of one table, and each database's default charset
/// from <c>information_schema</c>, through MySqlConnector.</summary>
internal static partial class InformationSchemaLoader
{
    /// <summary>Reads the tables' schemas.</summary>
    /// <param name="connection">An open connection (its transaction, if any, is used).</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <param name="only">One table to read (and its database), or null for every table.</param>
    /// <param name="collations">When given, receives each character column's collation.</param>
    /// <param name="captured">When given, which tables the source captures: a table it does not capture whose columns
    /// cannot be read (a type without a mapping) is left out instead of failing the load.</param>
    public static async Task<(List<MySqlTable> Tables, Dictionary<string, string> DatabaseCharsets, string ServerCharset)> LoadAsync(
        MySqlConnection connection, CancellationToken cancellationToken, (string Database, string Table)? only = null, Dictionary<(string Database, string Table, string Column), string>? collations = null,
        Func<string, string, bool>? captured = null)
    {
        const string system = "('mysql','information_schema','performance_schema','sys')";
        string Only(string schema, string? table) => only is null ? string.Empty : $" AND {schema} = @database" + (table is null ? string.Empty : $" AND {table} = @table");
        var serverCharset = (string)(await ScalarAsync(connection, "SELECT @@character_set_server", cancellationToken).ConfigureAwait(false))!;
        var databases = new Dictionary<string, string>(StringComparer.Ordinal);
        await ReadAsync(connection, $"SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN {system}{Only("SCHEMA_NAME", null)}",
            r => databases[r.GetString(0)] = r.GetString(1), cancellationToken, only).ConfigureAwait(false);

        var tableCharsets = new Dictionary<(string, string), string>();
        await ReadAsync(connection,
            "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, c.CHARACTER_SET_NAME FROM information_schema.TABLES t JOIN information_schema.COLLATIONS c ON c.COLLATION_NAME = t.TABLE_COLLATION WHERE t.TABLE_SCHEMA NOT IN " + system + Only("t.TABLE_SCHEMA", "t.TABLE_NAME")
                + (only is null ? string.Empty : " AND t.TABLE_TYPE <> 'VIEW'"),
            r => tableCharsets[(r.GetString(0), r.GetString(1))] = r.GetString(2), cancellationToken, only).ConfigureAwait(false);

        var jsonColumns = new HashSet<(string, string, string)>();
        try
        {
            await ReadAsync(connection,
                $"SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CHECK_CLAUSE LIKE 'json_valid(%' AND CONSTRAINT_SCHEMA NOT IN {system}{Only("CONSTRAINT_SCHEMA", "TABLE_NAME")}",
                r =>
                {
                    var match = JsonCheck().Match(r.GetString(2));
                    if (match.Success)
                    {
                        jsonColumns.Add((r.GetString(0), r.GetString(1), match.Groups[1].Value.Replace("``", "`", StringComparison.Ordinal)));
                    }
                },
                cancellationToken,
                only).ConfigureAwait(false);
        }
        catch (MySqlException)
        {
            // MySQL before 8.0.16 has no CHECK_CONSTRAINTS; its JSON columns say JSON themselves.
        }

        var keys = new Dictionary<(string, string), List<string>>();
        await ReadAsync(connection,
            $"SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE INDEX_NAME = 'PRIMARY' AND TABLE_SCHEMA NOT IN {system}{Only("TABLE_SCHEMA", "TABLE_NAME")} ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX",
            r =>
            {
                var key = (r.GetString(0), r.GetString(1));
                if (!keys.TryGetValue(key, out var list))
                {
                    keys[key] = list = [];
                }

                list.Add(r.GetString(2));
            },
            cancellationToken,
            only).ConfigureAwait(false);

        var columns = new Dictionary<(string, string), List<MySqlColumn>>();
        var order = new List<(string, string)>();
        var unreadable = new HashSet<(string, string)>();
        await ReadAsync(connection,
            "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.IS_NULLABLE, c.COLUMN_TYPE, c.CHARACTER_SET_NAME, c.DATA_TYPE, c.COLLATION_NAME FROM information_schema.COLUMNS c "
            // One table: looked up by name (a join with TABLES makes the server scan it); a view has no TABLES row above.
            + (only is null
                ? $"JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME WHERE t.TABLE_TYPE <> 'VIEW' AND c.TABLE_SCHEMA NOT IN {system}"
                : "WHERE c.TABLE_SCHEMA = @database AND c.TABLE_NAME = @table")
            + " ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
            r =>
            {
                var key = (r.GetString(0), r.GetString(1));
                var name = r.GetString(2);
                MySqlColumn column;
                try
                {
                    column = DdlParser.ParseColumnType(name, r.GetString(4));
                }
                catch (DdlParseException) when (captured is not null && !captured(key.Item1, key.Item2))
                {
                    // Not captured: never decoded. Left out, so a later statement that makes it a captured table stops the
                    // source as unknown rather than mapping it wrongly.
                    unreadable.Add(key);
                    return;
                }
                catch (DdlParseException ex)
                {
                    throw new MySqlSchemaException($"Column `{key.Item1}`.`{key.Item2}`.`{name}`: {ex.Message}", ex);
                }

                var charset = r.IsDBNull(5) ? null : r.GetString(5);
                if (collations is not null && !r.IsDBNull(7))
                {
                    collations[(key.Item1, key.Item2, name)] = r.GetString(7);
                }

                column = column with { Nullable = r.GetString(3) == "YES", Charset = column.Charset ?? charset };
                if (column.TypeName is "binary" or "varbinary" or "tinyblob" or "blob" or "mediumblob" or "longblob")
                {
                    column = column with { Charset = "binary" };
                }

                if (column.TypeName == "json" || (column.TypeName == "longtext" && jsonColumns.Contains((key.Item1, key.Item2, name))))
                {
                    column = column with { TypeName = "json", IsJson = true, Charset = "utf8mb4" };
                }

                if (!columns.TryGetValue(key, out var list))
                {
                    columns[key] = list = [];
                    order.Add(key);
                }

                list.Add(column);
            },
            cancellationToken,
            only).ConfigureAwait(false);

        var tables = order.Where(key => (only is null || tableCharsets.ContainsKey(key)) && !unreadable.Contains(key)).Select(key => new MySqlTable
        {
            Database = key.Item1,
            Name = key.Item2,
            Columns = columns[key],
            PrimaryKey = keys.TryGetValue(key, out var pk) ? pk : [],
            DefaultCharset = tableCharsets.GetValueOrDefault(key),
        }).ToList();
        return (tables, databases, serverCharset);
    }

    private static async Task<object?> ScalarAsync(MySqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        using var command = new MySqlCommand(sql, connection);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task ReadAsync(MySqlConnection connection, string sql, Action<MySqlDataReader> row, CancellationToken cancellationToken, (string Database, string Table)? only = null)
    {
        using var command = new MySqlCommand(sql, connection);
        if (only is { } table)
        {
            command.Parameters.AddWithValue("@database", table.Database);
            command.Parameters.AddWithValue("@table", table.Table);
        }

        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            row(reader);
        }
    }

    [GeneratedRegex(@"^json_valid\(`((?:[^`]|``)+)`\)$")]
    private static partial Regex JsonCheck();
}
