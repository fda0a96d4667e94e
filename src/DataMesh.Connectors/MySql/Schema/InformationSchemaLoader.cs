using System.Text.RegularExpressions;
using MySqlConnector;

namespace DataMesh.Connectors.MySql.Schema;

/// <summary>Reads the schema of every table (system databases aside) and each database's default charset from
/// <c>information_schema</c>, through MySqlConnector.</summary>
internal static partial class InformationSchemaLoader
{
    public static async Task<(List<MySqlTable> Tables, Dictionary<string, string> DatabaseCharsets, string ServerCharset)> LoadAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        const string system = "('mysql','information_schema','performance_schema','sys')";
        var serverCharset = (string)(await ScalarAsync(connection, "SELECT @@character_set_server", cancellationToken).ConfigureAwait(false))!;
        var databases = new Dictionary<string, string>(StringComparer.Ordinal);
        await ReadAsync(connection, $"SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN {system}",
            r => databases[r.GetString(0)] = r.GetString(1), cancellationToken).ConfigureAwait(false);

        var tableCharsets = new Dictionary<(string, string), string>();
        await ReadAsync(connection,
            "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, c.CHARACTER_SET_NAME FROM information_schema.TABLES t JOIN information_schema.COLLATIONS c ON c.COLLATION_NAME = t.TABLE_COLLATION WHERE t.TABLE_SCHEMA NOT IN " + system,
            r => tableCharsets[(r.GetString(0), r.GetString(1))] = r.GetString(2), cancellationToken).ConfigureAwait(false);

        var jsonColumns = new HashSet<(string, string, string)>();
        try
        {
            await ReadAsync(connection,
                $"SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CHECK_CLAUSE LIKE 'json_valid(%' AND CONSTRAINT_SCHEMA NOT IN {system}",
                r =>
                {
                    var match = JsonCheck().Match(r.GetString(2));
                    if (match.Success)
                    {
                        jsonColumns.Add((r.GetString(0), r.GetString(1), match.Groups[1].Value.Replace("``", "`", StringComparison.Ordinal)));
                    }
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlException)
        {
            // MySQL before 8.0.16 has no CHECK_CONSTRAINTS; its JSON columns say JSON themselves.
        }

        var keys = new Dictionary<(string, string), List<string>>();
        await ReadAsync(connection,
            $"SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE INDEX_NAME = 'PRIMARY' AND TABLE_SCHEMA NOT IN {system} ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX",
            r =>
            {
                var key = (r.GetString(0), r.GetString(1));
                if (!keys.TryGetValue(key, out var list))
                {
                    keys[key] = list = [];
                }

                list.Add(r.GetString(2));
            },
            cancellationToken).ConfigureAwait(false);

        var columns = new Dictionary<(string, string), List<MySqlColumn>>();
        var order = new List<(string, string)>();
        await ReadAsync(connection,
            "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.IS_NULLABLE, c.COLUMN_TYPE, c.CHARACTER_SET_NAME, c.DATA_TYPE FROM information_schema.COLUMNS c "
            + "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
            + $"WHERE t.TABLE_TYPE <> 'VIEW' AND c.TABLE_SCHEMA NOT IN {system} ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
            r =>
            {
                var key = (r.GetString(0), r.GetString(1));
                var name = r.GetString(2);
                MySqlColumn column;
                try
                {
                    column = DdlParser.ParseColumnType(name, r.GetString(4));
                }
                catch (DdlParseException ex)
                {
                    throw new MySqlSchemaException($"Column `{key.Item1}`.`{key.Item2}`.`{name}`: {ex.Message}", ex);
                }

                var charset = r.IsDBNull(5) ? null : r.GetString(5);
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
            cancellationToken).ConfigureAwait(false);

        var tables = order.Select(key => new MySqlTable
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

    private static async Task ReadAsync(MySqlConnection connection, string sql, Action<MySqlDataReader> row, CancellationToken cancellationToken)
    {
        using var command = new MySqlCommand(sql, connection);
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            row(reader);
        }
    }

    [GeneratedRegex(@"^json_valid\(`((?:[^`]|``)+)`\)$")]
    private static partial Regex JsonCheck();
}
