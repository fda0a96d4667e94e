using System.Globalization;

namespace DataMesh.Connectors.MySql.Schema;

/// <summary>
/// Reads the DDL that changes captured tables from the statements of QUERY events: CREATE TABLE (columns, keys,
/// charsets), CREATE TABLE ... LIKE, ALTER TABLE (ADD/DROP/MODIFY/CHANGE/RENAME COLUMN, ADD/DROP PRIMARY KEY,
/// RENAME TO, CONVERT TO CHARACTER SET, DEFAULT CHARSET and the options that change no column), DROP TABLE,
/// RENAME TABLE, TRUNCATE and CREATE/ALTER/DROP DATABASE; and the tables a row change logged as a statement changes
/// (<c>DdlParser.RowChanges.cs</c>). Every other statement is recognised as not changing a table. A table statement that it cannot read throws <see cref="DdlParseException"/>: the connector never guesses
/// a column mapping.
/// </summary>
internal sealed partial class DdlParser
{
    private readonly List<SqlToken> _tokens;
    private readonly string _sql;
    private int _at;
    private TableName? _table; // the table of the CREATE TABLE or ALTER TABLE being read, for errors

    private DdlParser(string sql)
    {
        _sql = sql;
        _tokens = SqlTokenizer.Tokenize(sql);
    }

    private SqlToken Current => _tokens[_at];

    /// <summary>Parses one statement.</summary>
    /// <exception cref="DdlParseException">A statement about tables that cannot be read.</exception>
    public static DdlStatement Parse(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var parser = new DdlParser(sql);
        try
        {
            return parser.ParseStatement();
        }
        catch (DdlParseException ex)
        {
            throw new DdlParseException($"{ex.Message} in DDL statement: {Shorten(sql)}", ex) { Table = ex.Table, UnknownTable = ex.UnknownTable };
        }
    }

    /// <summary>Parses a column type as <c>information_schema.COLUMNS.COLUMN_TYPE</c> spells it (<c>decimal(10,2) unsigned</c>).</summary>
    public static MySqlColumn ParseColumnType(string name, string columnType)
    {
        var parser = new DdlParser(columnType);
        var column = parser.ParseType(name);
        if (parser.Current.Kind != SqlTokenKind.End)
        {
            throw new DdlParseException($"unexpected '{parser.Current.Text}' after the type in '{columnType}'");
        }

        return column;
    }

    private static string Shorten(string sql) => sql.Length <= 500 ? sql : string.Concat(sql.AsSpan(0, 500), "...");

    private DdlStatement ParseStatement()
    {
        if (Accept("CREATE"))
        {
            var orReplace = false;
            if (Accept("OR"))
            {
                Expect("REPLACE");
                orReplace = true;
            }

            var temporary = Accept("TEMPORARY");
            if (Accept("TABLE"))
            {
                return temporary ? new IgnoredStatement("temporary table") : ParseCreateTable(orReplace);
            }

            if (Current.Is("DATABASE") || Current.Is("SCHEMA"))
            {
                Next();
                AcceptIfExists("NOT");
                var name = ReadName();
                return new DatabaseStatement(name, false, ReadCharsetOptions());
            }

            return new IgnoredStatement("CREATE of something other than a table");
        }

        if (Accept("ALTER"))
        {
            Accept("ONLINE");
            Accept("IGNORE");
            if (Accept("TABLE"))
            {
                return ParseAlterTable();
            }

            if (Current.Is("DATABASE") || Current.Is("SCHEMA"))
            {
                Next();
                var name = Current.IsName && !IsCharsetKeyword(Current) ? ReadName() : string.Empty;
                return name.Length == 0 ? new IgnoredStatement("ALTER DATABASE of the default database") : new DatabaseStatement(name, false, ReadCharsetOptions());
            }

            return new IgnoredStatement("ALTER of something other than a table");
        }

        if (Accept("DROP"))
        {
            var temporary = Accept("TEMPORARY");
            if (Accept("TABLE") || Accept("TABLES"))
            {
                AcceptIfExists("EXISTS");
                var tables = new List<TableName> { ReadTableName() };
                while (AcceptSymbol(','))
                {
                    tables.Add(ReadTableName());
                }

                return temporary ? new IgnoredStatement("temporary table") : new DropTablesStatement(tables);
            }

            if (Current.Is("DATABASE") || Current.Is("SCHEMA"))
            {
                Next();
                AcceptIfExists("EXISTS");
                return new DatabaseStatement(ReadName(), true, null);
            }

            if (!temporary && Accept("INDEX"))
            {
                // DROP INDEX [IF EXISTS] `PRIMARY` ON t drops the primary key; another index changes no column.
                AcceptIfExists("EXISTS");
                if (!IsPrimaryName(Current))
                {
                    return new IgnoredStatement("DROP INDEX of an index other than the primary key");
                }

                Next();
                Expect("ON");
                return new AlterTableStatement(ReadTableName(), [new DropPrimaryKeyAction()]);
            }

            return new IgnoredStatement("DROP of something other than a table");
        }

        if (Accept("RENAME"))
        {
            if (!Accept("TABLE") && !Accept("TABLES"))
            {
                return new IgnoredStatement("RENAME of something other than a table");
            }

            // MariaDB: RENAME TABLE [IF EXISTS] t [WAIT n | NOWAIT] TO t2 [, ...]; with IF EXISTS a missing table is passed over.
            var ifExists = AcceptIfExists("EXISTS");
            var renames = new List<(TableName, TableName)>();
            do
            {
                var from = ReadTableName();
                if (Accept("WAIT"))
                {
                    Next();
                }
                else
                {
                    Accept("NOWAIT");
                }

                Expect("TO");
                renames.Add((from, ReadTableName()));
            }
            while (AcceptSymbol(','));
            return new RenameTablesStatement(renames, ifExists);
        }

        if (Accept("TRUNCATE"))
        {
            Accept("TABLE");
            return new TruncateTableStatement(ReadTableName());
        }

        if (Current.Is("WITH"))
        {
            return ParseWithRowChange();
        }

        if (Current.Is("INSERT") || Current.Is("REPLACE") || Current.Is("UPDATE") || Current.Is("DELETE") || Current.Is("LOAD"))
        {
            return ParseRowChange();
        }

        return new IgnoredStatement("not DDL about tables");
    }

    private DdlStatement ParseCreateTable(bool orReplace)
    {
        var ifNotExists = AcceptIfExists("NOT");
        var table = ReadTableName();
        _table = table;
        if (Accept("LIKE"))
        {
            return new CreateTableLikeStatement(table, ReadTableName(), ifNotExists);
        }

        if (Current.IsSymbol('(') && _tokens[_at + 1].Is("LIKE"))
        {
            Next();
            Next();
            var source = ReadTableName();
            ExpectSymbol(')');
            return new CreateTableLikeStatement(table, source, ifNotExists);
        }

        if (!AcceptSymbol('('))
        {
            throw Error("CREATE TABLE without a column list (CREATE TABLE ... SELECT) cannot be read; the server logs such tables with their columns in row-based replication");
        }

        var columns = new List<ColumnDefinition>();
        var primaryKey = new List<string>();
        do
        {
            if (TryReadKeyDefinition(out var keyColumns, out var isPrimary))
            {
                if (isPrimary)
                {
                    primaryKey.Clear();
                    primaryKey.AddRange(keyColumns);
                }

                continue;
            }

            var definition = ParseColumnDefinition();
            columns.Add(definition);
            if (definition.InlinePrimaryKey)
            {
                primaryKey.Clear();
                primaryKey.Add(definition.Column.Name);
            }
        }
        while (AcceptSymbol(','));
        ExpectSymbol(')');
        var charset = ReadCharsetOptions();
        return new CreateTableStatement(table, columns, primaryKey, charset, ifNotExists, orReplace);
    }

    private AlterTableStatement ParseAlterTable()
    {
        var table = ReadTableName();
        _table = table;
        var actions = new List<AlterAction>();
        if (Current.Kind == SqlTokenKind.End)
        {
            return new AlterTableStatement(table, actions);
        }

        do
        {
            ParseAlterSpecification(actions);
        }
        while (AcceptSymbol(','));
        if (Current.Kind != SqlTokenKind.End && !Current.IsSymbol(';'))
        {
            // Partition clauses may follow the specifications without a comma; they change no column.
            if (!Current.Is("PARTITION") && !Current.Is("REMOVE"))
            {
                throw Error($"unexpected '{Current.Text}' in ALTER TABLE");
            }
        }

        return new AlterTableStatement(table, actions);
    }

    private void ParseAlterSpecification(List<AlterAction> actions)
    {
        if (Accept("ADD"))
        {
            if (TryReadKeyDefinition(out var keyColumns, out var isPrimary))
            {
                if (isPrimary)
                {
                    actions.Add(new AddPrimaryKeyAction(keyColumns));
                }

                return;
            }

            if (Current.Is("PARTITION") || Current.Is("PERIOD") || Current.Is("SYSTEM"))
            {
                SkipToSpecificationEnd();
                return;
            }

            Accept("COLUMN");
            var ifNotExists = AcceptIfExists("NOT");
            if (AcceptSymbol('('))
            {
                do
                {
                    actions.Add(new AddColumnAction(ParseColumnDefinition(), new ColumnPlacement(false, null), ifNotExists));
                }
                while (AcceptSymbol(','));
                ExpectSymbol(')');
                return;
            }

            var definition = ParseColumnDefinition();
            actions.Add(new AddColumnAction(definition, ReadPlacement(), ifNotExists));
            return;
        }

        if (Accept("DROP"))
        {
            if (Accept("PRIMARY"))
            {
                Expect("KEY");
                actions.Add(new DropPrimaryKeyAction());
                return;
            }

            if (Current.Is("INDEX") || Current.Is("KEY") || Current.Is("CONSTRAINT"))
            {
                // DROP INDEX|KEY|CONSTRAINT [IF EXISTS] `PRIMARY` drops the primary key (its index is named PRIMARY).
                Next();
                AcceptIfExists("EXISTS");
                if (IsPrimaryName(Current))
                {
                    actions.Add(new DropPrimaryKeyAction());
                }

                SkipToSpecificationEnd();
                return;
            }

            if (Current.Is("FOREIGN") || Current.Is("CHECK") || Current.Is("PARTITION") || Current.Is("SYSTEM") || Current.Is("PERIOD"))
            {
                SkipToSpecificationEnd();
                return;
            }

            Accept("COLUMN");
            var ifExists = AcceptIfExists("EXISTS");
            var name = ReadName();
            Accept("RESTRICT");
            Accept("CASCADE");
            actions.Add(new DropColumnAction(name, ifExists));
            return;
        }

        if (Accept("MODIFY"))
        {
            Accept("COLUMN");
            var ifExists = AcceptIfExists("EXISTS");
            var definition = ParseColumnDefinition();
            actions.Add(new ChangeColumnAction(definition.Column.Name, definition, ReadPlacement(), ifExists));
            return;
        }

        if (Accept("CHANGE"))
        {
            Accept("COLUMN");
            var ifExists = AcceptIfExists("EXISTS");
            var oldName = ReadName();
            var definition = ParseColumnDefinition();
            actions.Add(new ChangeColumnAction(oldName, definition, ReadPlacement(), ifExists));
            return;
        }

        if (Accept("RENAME"))
        {
            if (Accept("COLUMN"))
            {
                var oldName = ReadName();
                Expect("TO");
                actions.Add(new RenameColumnAction(oldName, ReadName()));
                return;
            }

            if (Current.Is("INDEX") || Current.Is("KEY"))
            {
                SkipToSpecificationEnd();
                return;
            }

            if (!Accept("TO"))
            {
                Accept("AS");
            }

            actions.Add(new RenameTableAction(ReadTableName()));
            return;
        }

        if (Accept("CONVERT"))
        {
            Expect("TO");
            if (!Accept("CHARSET"))
            {
                Expect("CHARACTER");
                Expect("SET");
            }

            var charset = ReadName();
            if (Accept("COLLATE"))
            {
                AcceptSymbol('=');
                ReadName();
            }

            actions.Add(new ConvertCharsetAction(charset.ToLowerInvariant() == "default" ? "utf8mb4" : charset.ToLowerInvariant()));
            return;
        }

        if (Current.Is("DEFAULT") || IsCharsetKeyword(Current) || Current.Is("COLLATE"))
        {
            var charset = ReadCharsetOptions();
            if (charset is not null)
            {
                actions.Add(new DefaultCharsetAction(charset));
            }

            return;
        }

        if (Accept("ALTER"))
        {
            // ALTER [COLUMN] c SET DEFAULT / DROP DEFAULT / SET [IN]VISIBLE, ALTER INDEX ... : no column mapping changes.
            SkipToSpecificationEnd();
            return;
        }

        if (Current.Kind == SqlTokenKind.Word && IsTableOption(Current.Text))
        {
            SkipToSpecificationEnd();
            return;
        }

        throw Error($"ALTER TABLE specification '{Current.Text}' is not understood");
    }

    private static bool IsTableOption(string word) => word.ToUpperInvariant() is "ENGINE" or "ALGORITHM" or "LOCK" or "FORCE" or "ORDER" or "AUTO_INCREMENT"
        or "COMMENT" or "ROW_FORMAT" or "KEY_BLOCK_SIZE" or "AVG_ROW_LENGTH" or "MAX_ROWS" or "MIN_ROWS" or "CHECKSUM" or "PACK_KEYS"
        or "STATS_PERSISTENT" or "STATS_AUTO_RECALC" or "STATS_SAMPLE_PAGES" or "DELAY_KEY_WRITE" or "ENABLE" or "DISABLE" or "DISCARD"
        or "IMPORT" or "COALESCE" or "REORGANIZE" or "EXCHANGE" or "ANALYZE" or "CHECK" or "OPTIMIZE" or "REBUILD" or "REPAIR"
        or "TRUNCATE" or "REMOVE" or "PARTITION" or "PAGE_CHECKSUM" or "PAGE_COMPRESSED" or "PAGE_COMPRESSION_LEVEL" or "TRANSACTIONAL"
        or "ENCRYPTED" or "ENCRYPTION_KEY_ID" or "IETF_QUOTES" or "SEQUENCE" or "UNION" or "INSERT_METHOD" or "DATA" or "INDEX"
        or "CONNECTION" or "PASSWORD" or "COMPRESSION" or "TABLESPACE" or "STORAGE" or "WITH" or "WITHOUT" or "NOWAIT" or "WAIT";

    private static bool IsCharsetKeyword(SqlToken token) => token.Is("CHARACTER") || token.Is("CHARSET");

    /// <summary>Reads a key or constraint definition of CREATE TABLE or ALTER TABLE ADD; false when a column definition follows.</summary>
    private bool TryReadKeyDefinition(out IReadOnlyList<string> columns, out bool isPrimary)
    {
        columns = [];
        isPrimary = false;
        var start = _at;
        if (Accept("CONSTRAINT"))
        {
            if (!Current.Is("PRIMARY") && !Current.Is("UNIQUE") && !Current.Is("FOREIGN") && !Current.Is("CHECK"))
            {
                ReadName();
            }
        }

        if (Accept("PRIMARY"))
        {
            Expect("KEY");
            isPrimary = true;
            SkipIndexName();
            columns = ReadKeyParts();
            SkipToSpecificationEnd();
            return true;
        }

        if (Current.Is("UNIQUE") || Current.Is("INDEX") || Current.Is("KEY") || Current.Is("FULLTEXT") || Current.Is("SPATIAL")
            || Current.Is("FOREIGN") || Current.Is("CHECK") || Current.Is("PERIOD"))
        {
            // "KEY" and "INDEX" are never column names here unless quoted; a column named like that is back-quoted.
            SkipToSpecificationEnd();
            return true;
        }

        _at = start;
        return false;
    }

    private void SkipIndexName()
    {
        while (!Current.IsSymbol('(') && Current.Kind != SqlTokenKind.End)
        {
            Next();
        }
    }

    private List<string> ReadKeyParts()
    {
        ExpectSymbol('(');
        var names = new List<string>();
        do
        {
            names.Add(ReadName());
            if (AcceptSymbol('('))
            {
                SkipBalanced();
            }

            Accept("ASC");
            Accept("DESC");
        }
        while (AcceptSymbol(','));
        ExpectSymbol(')');
        return names;
    }

    private ColumnDefinition ParseColumnDefinition()
    {
        var name = ReadName();
        // SERIAL is BIGINT UNSIGNED NOT NULL AUTO_INCREMENT UNIQUE.
        var serial = Current.Is("SERIAL");
        var column = ParseType(name);
        var nullable = column.Nullable;
        var primary = false;
        string? charset = column.Charset;
        string? collation = null;
        ColumnDefaultLiteral? defaultLiteral = null;
        var hasDefault = false;
        var computed = serial;

        while (!Current.IsSymbol(',') && !Current.IsSymbol(')') && Current.Kind != SqlTokenKind.End && !IsPlacementKeyword(Current))
        {
            if (Accept("NOT"))
            {
                Expect("NULL");
                nullable = false;
            }
            else if (Accept("NULL"))
            {
                nullable = true;
            }
            else if (Accept("PRIMARY"))
            {
                Expect("KEY");
                primary = true;
                nullable = false;
            }
            else if (Accept("KEY"))
            {
                primary = true;
                nullable = false;
            }
            else if (Accept("UNIQUE"))
            {
                Accept("KEY");
            }
            else if (IsCharsetKeyword(Current))
            {
                if (Accept("CHARACTER"))
                {
                    Expect("SET");
                }
                else
                {
                    Next();
                }

                charset = ReadName().ToLowerInvariant();
            }
            else if (Accept("COLLATE"))
            {
                collation = ReadName().ToLowerInvariant();
            }
            else if (Accept("DEFAULT"))
            {
                hasDefault = true;
                defaultLiteral = ReadDefault();
            }
            else if (Accept("ON"))
            {
                Expect("UPDATE");
                SkipExpression();
            }
            else if (Accept("COMMENT"))
            {
                Next();
            }
            else if (AcceptSymbol('('))
            {
                SkipBalanced();
            }
            else if (Accept("REFERENCES"))
            {
                ReadTableName();
                while (!Current.IsSymbol(',') && !Current.IsSymbol(')') && Current.Kind != SqlTokenKind.End)
                {
                    if (AcceptSymbol('('))
                    {
                        SkipBalanced();
                    }
                    else
                    {
                        Next();
                    }
                }
            }
            else
            {
                // AUTO_INCREMENT, GENERATED ALWAYS AS (...), VIRTUAL, STORED, INVISIBLE, COLUMN_FORMAT x, CHECK (...),
                // BINARY (a _bin collation), ASCII/UNICODE shorthands: none changes the mapping but the last two. The rows a
                // column is added to get no one value from the first two.
                if (Current.Is("AUTO_INCREMENT") || Current.Is("GENERATED") || Current.Is("AS"))
                {
                    computed = true;
                }

                if (Current.Is("ASCII"))
                {
                    charset = "latin1";
                }
                else if (Current.Is("UNICODE"))
                {
                    charset = "ucs2";
                }

                Next();
            }
        }

        if (column.TypeName is "binary" or "varbinary" or "tinyblob" or "blob" or "mediumblob" or "longblob")
        {
            charset = "binary";
        }
        else if (charset is null && collation is not null)
        {
            charset = CharsetOfCollation(collation);
        }

        // The value the table's existing rows get when the column is added: its constant DEFAULT, or a NOT NULL column's
        // implicit default (0, '', the first ENUM label ...) when it has no DEFAULT clause.
        var added = computed ? null : hasDefault ? defaultLiteral : nullable ? null : ColumnDefaultLiteral.Implicit;
        return new ColumnDefinition(column with { Nullable = nullable, Charset = charset, Default = added }, primary, collation);
    }

    /// <summary>Reads a DEFAULT clause's value after the keyword: a constant (a number, a string, <c>x'..'</c>, <c>b'..'</c>,
    /// TRUE, FALSE), or null for NULL and anything evaluated per row (<c>CURRENT_TIMESTAMP</c>, a function, an
    /// expression in parentheses).</summary>
    private ColumnDefaultLiteral? ReadDefault()
    {
        var negative = AcceptSymbol('-');
        if (!negative)
        {
            AcceptSymbol('+');
        }

        if (AcceptSymbol('('))
        {
            SkipBalanced();
            return null;
        }

        var token = Next();
        if (AcceptSymbol('('))
        {
            SkipBalanced();
            return null;
        }

        var sign = negative ? "-" : string.Empty;
        switch (token.Kind)
        {
            case SqlTokenKind.Number:
                return new ColumnDefaultLiteral(DefaultLiteralKind.Number, sign + token.Text);
            case SqlTokenKind.String when token.Escaped:
                // Under NO_BACKSLASH_ESCAPES (the statement's sql_mode, not read here) a backslash is a character.
                return null;
            case SqlTokenKind.String when !negative && Current.Kind != SqlTokenKind.String:
                return new ColumnDefaultLiteral(DefaultLiteralKind.String, token.Text);
            case SqlTokenKind.Word when Current.Kind == SqlTokenKind.String && !negative:
                // x'1F', b'101', a charset introducer (_utf8mb4'a') or N'a'.
                var quoted = Next();
                var literal = quoted.Text;
                if (quoted.Escaped || Current.Kind == SqlTokenKind.String)
                {
                    // An escape (see above), or strings written one after another (the server joins them).
                    return null;
                }

                if (token.Text is "x" or "X")
                {
                    return new ColumnDefaultLiteral(DefaultLiteralKind.Hex, literal);
                }

                if (token.Text is "b" or "B")
                {
                    return new ColumnDefaultLiteral(DefaultLiteralKind.Bits, literal);
                }

                return token.Text.StartsWith('_') || token.Text is "N" or "n" ? new ColumnDefaultLiteral(DefaultLiteralKind.String, literal) : null;
            case SqlTokenKind.Word when token.Text.Length > 2 && token.Text[0] == '0' && token.Text[1] is 'x' or 'b' && !negative:
                return new ColumnDefaultLiteral(token.Text[1] == 'x' ? DefaultLiteralKind.Hex : DefaultLiteralKind.Bits, token.Text[2..]);
            case SqlTokenKind.Word when token.Is("TRUE") || token.Is("FALSE"):
                return new ColumnDefaultLiteral(DefaultLiteralKind.Number, sign + (token.Is("TRUE") ? "1" : "0"));
            case SqlTokenKind.Word when token.Text.Length > 0 && char.IsAsciiDigit(token.Text[0])
                && double.TryParse(token.Text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _):
                // 1e3, 1.5E2
                return new ColumnDefaultLiteral(DefaultLiteralKind.Number, sign + token.Text);
            default:
                // NULL, CURRENT_TIMESTAMP, LOCALTIME, a string followed by another (concatenated) ...
                return null;
        }
    }

    /// <summary>The charset a collation belongs to: its name up to the first underscore (<c>utf8mb4_bin</c> → <c>utf8mb4</c>).</summary>
    public static string CharsetOfCollation(string collation)
    {
        var underscore = collation.IndexOf('_', StringComparison.Ordinal);
        return (underscore < 0 ? collation : collation[..underscore]).ToLowerInvariant();
    }

    private static bool IsPlacementKeyword(SqlToken token) => token.Is("FIRST") || token.Is("AFTER");

    private ColumnPlacement ReadPlacement()
    {
        if (Accept("FIRST"))
        {
            return new ColumnPlacement(true, null);
        }

        if (Accept("AFTER"))
        {
            return new ColumnPlacement(false, ReadName());
        }

        return new ColumnPlacement(false, null);
    }

    /// <summary>Reads a data type: its name, parameters and UNSIGNED/SIGNED/ZEROFILL.</summary>
    private MySqlColumn ParseType(string name)
    {
        if (Current.Kind != SqlTokenKind.Word)
        {
            throw Error($"expected the type of column '{name}', found '{Current.Text}'");
        }

        var word = Next().Text.ToLowerInvariant();
        string? charset = null;
        switch (word)
        {
            case "national":
                word = Next().Text.ToLowerInvariant();
                if (Accept("VARYING"))
                {
                    word = "varchar";
                }

                charset = "utf8mb3";
                break;
            case "nchar" or "nvarchar":
                charset = "utf8mb3";
                word = word == "nchar" ? (Accept("VARYING") ? "varchar" : "char") : "varchar";
                break;
            case "character" or "char":
                if (Accept("VARYING"))
                {
                    word = "varchar";
                }

                break;
            case "double":
                Accept("PRECISION");
                break;
            case "long":
                if (Accept("VARBINARY"))
                {
                    word = "mediumblob";
                }
                else
                {
                    if (!Accept("VARCHAR"))
                    {
                        Accept("CHARACTER");
                        Accept("VARYING");
                    }

                    word = "mediumtext";
                }

                break;
        }

        var canonical = word switch
        {
            "integer" or "int4" => "int",
            "int1" => "tinyint",
            "int2" => "smallint",
            "int3" or "middleint" => "mediumint",
            "int8" => "bigint",
            "bool" or "boolean" => "tinyint",
            "dec" or "numeric" or "fixed" => "decimal",
            "real" or "float8" => "double",
            "float4" => "float",
            "character" => "char",
            "serial" => "bigint",
            _ => word,
        };
        var arguments = new List<string>();
        if (AcceptSymbol('('))
        {
            do
            {
                if (Current.Kind is SqlTokenKind.Number or SqlTokenKind.String)
                {
                    arguments.Add(Next().Text);
                }
                else
                {
                    throw Error($"unexpected '{Current.Text}' in the parameters of type {word}");
                }
            }
            while (AcceptSymbol(','));
            ExpectSymbol(')');
        }

        var unsigned = word == "serial";
        while (true)
        {
            if (Accept("UNSIGNED"))
            {
                unsigned = true;
            }
            else if (!Accept("SIGNED") && !Accept("ZEROFILL"))
            {
                break;
            }
        }

        int Argument(int index, int fallback) =>
            index < arguments.Count ? int.Parse(arguments[index], NumberStyles.None, CultureInfo.InvariantCulture) : fallback;

        try
        {
            var column = new MySqlColumn { Name = name, TypeName = canonical, Unsigned = unsigned, Charset = charset };
            switch (canonical)
            {
                case "tinyint" or "smallint" or "mediumint" or "int" or "bigint":
                    return column with { Length = word is "bool" or "boolean" ? 1 : 0, Nullable = word != "serial" };
                case "decimal":
                    return column with { Precision = Argument(0, 10), Scale = Argument(1, 0) };
                case "float":
                    // FLOAT(p) with p > 24 is a DOUBLE; FLOAT(m,d) stays a FLOAT (whose values the server rounds to d digits).
                    return arguments.Count == 1 && Argument(0, 0) > 24 ? column with { TypeName = "double" }
                        : arguments.Count == 2 ? column with { Precision = Argument(0, 0), Scale = Argument(1, 0) } : column;
                case "double":
                    return arguments.Count == 2 ? column with { Precision = Argument(0, 0), Scale = Argument(1, 0) } : column;
                case "bit":
                    return column with { Length = Argument(0, 1) };
                case "char" or "binary":
                    return column with { Length = Argument(0, 1) };
                case "varchar" or "varbinary":
                    return arguments.Count == 1 ? column with { Length = Argument(0, 0) } : throw Error($"{canonical} needs a length");
                case "time" or "datetime" or "timestamp":
                    return column with { Fsp = Argument(0, 0) };
                case "year" or "date" or "json" or "tinytext" or "text" or "mediumtext" or "longtext" or "tinyblob" or "blob" or "mediumblob" or "longblob":
                    return column;
                case "enum" or "set":
                    return column with { Labels = arguments };
                case "uuid" or "inet6" or "inet4":
                    // MariaDB's fixed-size binary types (10.5+, UUID 10.7+): BINARY(16) or BINARY(4) in the binlog.
                    return column with { Length = canonical == "inet4" ? 4 : 16, Charset = "binary" };
                default:
                    if (column.IsGeometry)
                    {
                        return column;
                    }

                    throw Error($"type '{word}' of column '{name}' is not supported");
            }
        }
        catch (FormatException ex) when (ex is not DdlParseException)
        {
            throw Error($"the parameters of type {word} of column '{name}' are not numbers");
        }
    }

    private string? ReadCharsetOptions()
    {
        string? charset = null;
        string? collation = null;
        while (Current.Kind != SqlTokenKind.End && !Current.IsSymbol(';') && !Current.IsSymbol(','))
        {
            if (Accept("DEFAULT"))
            {
                continue;
            }

            if (IsCharsetKeyword(Current))
            {
                if (Accept("CHARACTER"))
                {
                    Expect("SET");
                }
                else
                {
                    Next();
                }

                AcceptSymbol('=');
                charset = ReadName().ToLowerInvariant();
                continue;
            }

            if (Accept("COLLATE"))
            {
                AcceptSymbol('=');
                collation = ReadName().ToLowerInvariant();
                continue;
            }

            if (Current.Is("PARTITION"))
            {
                break;
            }

            if (AcceptSymbol('('))
            {
                SkipBalanced();
                continue;
            }

            if (Current.Is("AS") || Current.Is("SELECT") || Current.Is("IGNORE") || Current.Is("REPLACE"))
            {
                break;
            }

            Next();
        }

        return charset is "default" ? null : charset ?? (collation is null ? null : CharsetOfCollation(collation));
    }

    private void SkipExpression()
    {
        Accept("-");
        if (AcceptSymbol('-') || AcceptSymbol('+'))
        {
            // a signed number
        }

        if (AcceptSymbol('('))
        {
            SkipBalanced();
            return;
        }

        Next();
        if (AcceptSymbol('('))
        {
            SkipBalanced();
        }
    }

    private void SkipToSpecificationEnd()
    {
        while (!Current.IsSymbol(',') && !Current.IsSymbol(')') && !Current.IsSymbol(';') && Current.Kind != SqlTokenKind.End)
        {
            if (AcceptSymbol('('))
            {
                SkipBalanced();
            }
            else
            {
                Next();
            }
        }
    }

    /// <summary>Skips to the ')' that closes the '(' just read.</summary>
    private void SkipBalanced()
    {
        var depth = 1;
        while (depth > 0)
        {
            var token = Next();
            if (token.Kind == SqlTokenKind.End)
            {
                throw Error("unbalanced parentheses");
            }

            if (token.IsSymbol('('))
            {
                depth++;
            }
            else if (token.IsSymbol(')'))
            {
                depth--;
            }
        }
    }

    private TableName ReadTableName()
    {
        var first = ReadName();
        if (AcceptSymbol('.'))
        {
            return new TableName(first, ReadName());
        }

        return new TableName(null, first);
    }

    private string ReadName()
    {
        if (!Current.IsName && Current.Kind != SqlTokenKind.String)
        {
            throw Error($"expected a name, found '{(Current.Kind == SqlTokenKind.End ? "the end" : Current.Text)}'");
        }

        return Next().Text;
    }

    /// <summary>Whether the token names the primary key's index (<c>PRIMARY</c>, quoted or not, in any case).</summary>
    private static bool IsPrimaryName(SqlToken token) =>
        (token.IsName || token.Kind == SqlTokenKind.String) && string.Equals(token.Text, "PRIMARY", StringComparison.OrdinalIgnoreCase);

    private bool AcceptIfExists(string notOrExists)
    {
        if (!Current.Is("IF"))
        {
            return false;
        }

        Next();
        if (notOrExists == "NOT")
        {
            Expect("NOT");
        }

        Expect("EXISTS");
        return true;
    }

    private SqlToken Next()
    {
        var token = _tokens[_at];
        if (token.Kind != SqlTokenKind.End)
        {
            _at++;
        }

        return token;
    }

    private bool Accept(string keyword)
    {
        if (Current.Is(keyword) || (Current.Kind == SqlTokenKind.Symbol && Current.Text == keyword))
        {
            _at++;
            return true;
        }

        return false;
    }

    private bool AcceptSymbol(char symbol)
    {
        if (Current.IsSymbol(symbol))
        {
            _at++;
            return true;
        }

        return false;
    }

    private void Expect(string keyword)
    {
        if (!Accept(keyword))
        {
            throw Error($"expected {keyword}, found '{(Current.Kind == SqlTokenKind.End ? "the end" : Current.Text)}'");
        }
    }

    private void ExpectSymbol(char symbol)
    {
        if (!AcceptSymbol(symbol))
        {
            throw Error($"expected '{symbol}', found '{(Current.Kind == SqlTokenKind.End ? "the end" : Current.Text)}'");
        }
    }

    private DdlParseException Error(string message) => new($"{message} (at offset {Current.Offset} of {_sql.Length})") { Table = _table };
}
