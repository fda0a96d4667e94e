using System.Text;

namespace DataMesh.Connectors.Cassandra.Schema;

/// <summary>A table declared by a <c>CREATE TABLE</c> statement: what the commit-log reader needs, and whether CDC is on.</summary>
/// <param name="Table">The table (id, key, clustering, static and regular columns, dropped columns).</param>
/// <param name="Cdc">Whether the statement says <c>WITH cdc = true</c>.</param>
/// <param name="CompactStorage">Whether the statement says <c>WITH COMPACT STORAGE</c>.</param>
internal sealed record CqlTableDefinition(CassandraTable Table, bool Cdc, bool CompactStorage)
{
    /// <summary>Per clustering column, whether <c>CLUSTERING ORDER BY</c> says <c>DESC</c>.</summary>
    public IReadOnlyList<bool> Descending => Table.ClusteringDescending;
}

/// <summary>
/// A small, strict parser of the CQL statements that describe tables, as <c>DESCRIBE TABLE … WITH INTERNALS</c> prints
/// them: <c>CREATE TYPE</c>, <c>CREATE TABLE</c> (every CQL type, <c>frozen</c>, collections, tuples, UDTs, <c>STATIC</c>,
/// <c>PRIMARY KEY ((pk, …), ck, …)</c> or a column's own <c>PRIMARY KEY</c>, <c>WITH id = …</c>, <c>cdc = true</c>,
/// <c>CLUSTERING ORDER BY (…)</c>, <c>COMPACT STORAGE</c>; other options are skipped), and <c>ALTER TABLE … ADD</c> /
/// <c>ALTER TABLE … DROP … [USING TIMESTAMP n]</c>, which is how dropped columns are named (a dropped column keeps its type
/// so that older mutations that still carry its cells can be read past).
/// </summary>
/// <remarks>Identifiers follow CQL: unquoted ones are case-insensitive (lower-cased), double-quoted ones keep their case.
/// Every table needs its keyspace (<c>keyspace.table</c>) and its id (<c>WITH id = …</c>: a commit log names tables by
/// id). Errors are <see cref="FormatException"/>s that name the statement (its number and first words) and the character
/// offset in the text.</remarks>
internal static class CqlSchemaParser
{
    /// <summary>Parses statements separated by <c>;</c>, in order (a type before the tables that use it; <c>ALTER</c>
    /// after its <c>CREATE TABLE</c>).</summary>
    /// <param name="statements">The statements; each entry may hold several.</param>
    /// <returns>The tables, in the order declared.</returns>
    /// <exception cref="FormatException">A statement that is not valid; the message names it and the offset.</exception>
    public static IReadOnlyList<CqlTableDefinition> Parse(IEnumerable<string> statements)
    {
        var state = new State();
        var entryNumber = 0;
        foreach (var entry in statements)
        {
            entryNumber++;
            var tokens = Tokenize(entry, entryNumber);
            var start = 0;
            for (var i = 0; i <= tokens.Count; i++)
            {
                if (i == tokens.Count || tokens[i].Is(";"))
                {
                    if (i > start)
                    {
                        state.Statement(entry, entryNumber, tokens.GetRange(start, i - start));
                    }

                    start = i + 1;
                }
            }
        }

        return state.Build();
    }

    private enum TokenKind
    {
        Word,
        Quoted,
        String,
        Symbol,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Offset)
    {
        public bool Is(string symbolOrKeyword) => Kind is TokenKind.Symbol or TokenKind.Word && string.Equals(Text, symbolOrKeyword, StringComparison.OrdinalIgnoreCase);

        /// <summary>The identifier it names: unquoted lower-cased, quoted as written.</summary>
        public string Identifier => Kind == TokenKind.Quoted ? Text : Text.ToLowerInvariant();
    }

    private static List<Token> Tokenize(string text, int entry)
    {
        List<Token> tokens = [];
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if ((c == '-' && At(text, i + 1) == '-') || (c == '/' && At(text, i + 1) == '/'))
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }
            }
            else if (c == '/' && At(text, i + 1) == '*')
            {
                var end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? throw new FormatException($"CQL entry {entry}, offset {i}: a comment '/*' is not closed") : end + 2;
            }
            else if (c is '"' or '\'')
            {
                var start = i++;
                var value = new StringBuilder();
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new FormatException($"CQL entry {entry}, offset {start}: {(c == '"' ? "a quoted identifier" : "a string")} is not closed");
                    }

                    if (text[i] == c)
                    {
                        if (At(text, i + 1) == c)
                        {
                            value.Append(c);
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    value.Append(text[i++]);
                }

                tokens.Add(new Token(c == '"' ? TokenKind.Quoted : TokenKind.String, value.ToString(), start));
            }
            else if (char.IsAsciiLetterOrDigit(c) || c == '_' || (c == '-' && char.IsAsciiDigit(At(text, i + 1))))
            {
                // A word, a number (-1, 0.01, 1e-5) or a UUID (hex runs joined by dashes).
                var start = i++;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'
                    || (text[i] == '-' && char.IsAsciiHexDigit(At(text, i + 1)) && IsHex(text, start, i))
                    || (text[i] == '.' && char.IsAsciiDigit(text[start]) && char.IsAsciiDigit(At(text, i + 1)))
                    || (text[i] is '-' or '+' && text[i - 1] is 'e' or 'E' && char.IsAsciiDigit(text[start]))))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Word, text[start..i], start));
            }
            else if ("(),;<>=.{}:[]".Contains(c, StringComparison.Ordinal))
            {
                tokens.Add(new Token(TokenKind.Symbol, c.ToString(), i++));
            }
            else
            {
                throw new FormatException($"CQL entry {entry}, offset {i}: unexpected character '{c}'");
            }
        }

        return tokens;
    }

    private static bool IsHex(string text, int start, int end)
    {
        for (var i = start; i < end; i++)
        {
            if (!char.IsAsciiHexDigit(text[i]) && text[i] != '-')
            {
                return false;
            }
        }

        return true;
    }

    private static char At(string text, int index) => index < text.Length ? text[index] : '\0';

    /// <summary>The tables and types declared so far.</summary>
    private sealed class State
    {
        private readonly Dictionary<string, Dictionary<string, CqlType>> _types = new(StringComparer.Ordinal);
        private readonly List<TableDraft> _tables = [];

        public void Statement(string text, int entry, List<Token> tokens)
        {
            var parser = new StatementParser(text, entry, tokens);
            if (parser.Accept("CREATE"))
            {
                if (parser.Accept("TYPE"))
                {
                    CreateType(parser);
                }
                else if (parser.Accept("TABLE") || parser.Accept("COLUMNFAMILY"))
                {
                    _tables.Add(CreateTable(parser));
                }
                else
                {
                    throw parser.Error("expected TYPE or TABLE after CREATE (only tables and types describe a commit log's mutations)");
                }
            }
            else if (parser.Accept("ALTER"))
            {
                parser.Expect("TABLE");
                AlterTable(parser);
            }
            else
            {
                throw parser.Error("expected CREATE TABLE, CREATE TYPE or ALTER TABLE");
            }
        }

        public IReadOnlyList<CqlTableDefinition> Build()
        {
            List<CqlTableDefinition> tables = [];
            foreach (var draft in _tables)
            {
                CassandraTable table;
                try
                {
                    table = new CassandraTable(draft.Id, draft.Keyspace, draft.Name, draft.Columns.Select(c => (c.Name, c.Type, c.Kind)), TypesOf(draft.Keyspace), draft.Dropped.Select(d => (d.Name, d.Type)), draft.Descending);
                }
                catch (FormatException ex)
                {
                    throw new FormatException($"{draft.Statement}: {ex.Message}", ex);
                }

                tables.Add(new CqlTableDefinition(table, draft.Cdc, draft.CompactStorage));
            }

            return tables;
        }

        private Dictionary<string, CqlType> TypesOf(string keyspace)
        {
            if (!_types.TryGetValue(keyspace, out var types))
            {
                _types[keyspace] = types = new Dictionary<string, CqlType>(StringComparer.Ordinal);
            }

            return types;
        }

        private void CreateType(StatementParser parser)
        {
            parser.IfNotExists();
            var (keyspace, name, _) = parser.QualifiedName("type");
            var types = TypesOf(keyspace);
            parser.Expect("(");
            List<(string Name, CqlType Type)> fields = [];
            do
            {
                var field = parser.Identifier("field name");
                var (typeText, at) = parser.TypeText();
                fields.Add((field, parser.ParseType(typeText, at, types)));
            }
            while (parser.Accept(","));

            parser.Expect(")");
            parser.End();
            var udt = CqlType.UserDefined(name, fields, frozen: false);
            types[name.ToLowerInvariant()] = udt;
            types[$"{keyspace}.{name}".ToLowerInvariant()] = udt;
        }

        private TableDraft CreateTable(StatementParser parser)
        {
            parser.IfNotExists();
            var (keyspace, name, nameAt) = parser.QualifiedName("table");
            if (_tables.Any(t => t.Keyspace == keyspace && t.Name == name))
            {
                throw parser.Error($"table {keyspace}.{name} is declared twice", nameAt);
            }

            var types = TypesOf(keyspace);
            var draft = new TableDraft(keyspace, name, parser.Describe());
            List<(string Name, int At)> partitionKey = [];
            List<(string Name, int At)> clustering = [];
            var keyDeclared = false;
            parser.Expect("(");
            do
            {
                if (parser.Accept("PRIMARY"))
                {
                    var at = parser.Previous;
                    parser.Expect("KEY");
                    if (keyDeclared)
                    {
                        throw parser.Error("the primary key is declared twice", at);
                    }

                    keyDeclared = true;
                    parser.Expect("(");
                    if (parser.Accept("("))
                    {
                        do
                        {
                            partitionKey.Add(parser.IdentifierAt("partition key column"));
                        }
                        while (parser.Accept(","));

                        parser.Expect(")");
                    }
                    else
                    {
                        partitionKey.Add(parser.IdentifierAt("partition key column"));
                    }

                    while (parser.Accept(","))
                    {
                        clustering.Add(parser.IdentifierAt("clustering column"));
                    }

                    parser.Expect(")");
                    continue;
                }

                var (column, columnAt) = parser.IdentifierAt("column name");
                if (draft.Columns.Any(c => c.Name == column))
                {
                    throw parser.Error($"column '{column}' is declared twice", columnAt);
                }

                var (typeText, typeAt) = parser.TypeText();
                parser.ParseType(typeText, typeAt, types);
                var kind = CassandraColumnKind.Regular;
                if (parser.Accept("STATIC"))
                {
                    kind = CassandraColumnKind.Static;
                }

                if (parser.Accept("PRIMARY"))
                {
                    var at = parser.Previous;
                    parser.Expect("KEY");
                    if (keyDeclared)
                    {
                        throw parser.Error("the primary key is declared twice", at);
                    }

                    keyDeclared = true;
                    partitionKey.Add((column, columnAt));
                }

                draft.Columns.Add(new ColumnDraft(column, typeText, kind, columnAt));
            }
            while (parser.Accept(","));

            parser.Expect(")");
            if (!keyDeclared)
            {
                throw parser.Error($"table {keyspace}.{name} has no PRIMARY KEY", nameAt);
            }

            // Key columns: partition key, then clustering, in key order, before the other columns.
            List<ColumnDraft> ordered = [];
            foreach (var (key, kind) in partitionKey.Select(k => (k, CassandraColumnKind.PartitionKey)).Concat(clustering.Select(k => (k, CassandraColumnKind.Clustering))))
            {
                var column = draft.Columns.FirstOrDefault(c => c.Name == key.Name)
                    ?? throw parser.Error($"the primary key names column '{key.Name}', which table {keyspace}.{name} does not declare", key.At);
                if (column.Kind == CassandraColumnKind.Static || ordered.Contains(column))
                {
                    throw parser.Error($"column '{key.Name}' cannot be in the primary key {(column.Kind == CassandraColumnKind.Static ? "and STATIC" : "twice")}", key.At);
                }

                ordered.Add(column with { Kind = kind });
            }

            ordered.AddRange(draft.Columns.Where(c => !partitionKey.Any(k => k.Name == c.Name) && !clustering.Any(k => k.Name == c.Name)));
            draft.Columns.Clear();
            draft.Columns.AddRange(ordered);
            if (clustering.Count == 0 && draft.Columns.FirstOrDefault(c => c.Kind == CassandraColumnKind.Static) is { } staticColumn)
            {
                throw parser.Error($"static column '{staticColumn.Name}' needs clustering columns", staticColumn.At);
            }

            draft.Descending = new bool[clustering.Count];
            if (parser.Accept("WITH"))
            {
                do
                {
                    Option(parser, draft, clustering);
                }
                while (parser.Accept("AND"));
            }

            parser.End();
            if (draft.Id == Guid.Empty)
            {
                throw parser.Error($"table {keyspace}.{name} has no id: add WITH id = <its id> (a commit log names tables by id: SELECT id FROM system_schema.tables WHERE keyspace_name = '{keyspace}' AND table_name = '{name}')", nameAt);
            }

            return draft;
        }

        private static void Option(StatementParser parser, TableDraft draft, List<(string Name, int At)> clustering)
        {
            if (parser.Accept("CLUSTERING"))
            {
                parser.Expect("ORDER");
                parser.Expect("BY");
                parser.Expect("(");
                var index = 0;
                do
                {
                    var (column, at) = parser.IdentifierAt("clustering column");
                    if (index >= clustering.Count || clustering[index].Name != column)
                    {
                        throw parser.Error($"CLUSTERING ORDER BY must name the clustering columns in key order; '{column}' is not clustering column {index + 1}", at);
                    }

                    var descending = parser.Accept("DESC");
                    if (!descending)
                    {
                        parser.Accept("ASC");
                    }

                    draft.Descending[index++] = descending;
                }
                while (parser.Accept(","));

                parser.Expect(")");
                return;
            }

            if (parser.Accept("COMPACT"))
            {
                parser.Expect("STORAGE");
                draft.CompactStorage = true;
                return;
            }

            var option = parser.Identifier("table option");
            parser.Expect("=");
            switch (option)
            {
                case "id":
                {
                    var value = parser.Next("the table id");
                    if (!Guid.TryParseExact(value.Text, "D", out var id))
                    {
                        throw parser.Error($"'{value.Text}' is not a table id (a UUID such as 5a1c395e-b41f-11e5-9f22-ba0be0483c18)", value.Offset);
                    }

                    draft.Id = id;
                    break;
                }

                case "cdc":
                {
                    var value = parser.Next("true or false");
                    draft.Cdc = value.Text.ToLowerInvariant() switch
                    {
                        "true" => true,
                        "false" => false,
                        _ => throw parser.Error($"cdc must be true or false, not '{value.Text}'", value.Offset),
                    };
                    break;
                }

                default:
                    parser.SkipValue();
                    break;
            }
        }

        private void AlterTable(StatementParser parser)
        {
            var (keyspace, name, nameAt) = parser.QualifiedName("table");
            var draft = _tables.FirstOrDefault(t => t.Keyspace == keyspace && t.Name == name)
                ?? throw parser.Error($"ALTER TABLE {keyspace}.{name} before its CREATE TABLE", nameAt);
            if (parser.Accept("ADD"))
            {
                do
                {
                    var (column, at) = parser.IdentifierAt("column name");
                    var (typeText, typeAt) = parser.TypeText();
                    parser.ParseType(typeText, typeAt, TypesOf(keyspace));
                    var kind = parser.Accept("STATIC") ? CassandraColumnKind.Static : CassandraColumnKind.Regular;
                    if (draft.Columns.Any(c => c.Name == column))
                    {
                        throw parser.Error($"table {keyspace}.{name} already has column '{column}'", at);
                    }

                    draft.Columns.Add(new ColumnDraft(column, typeText, kind, at));
                }
                while (parser.Accept(","));
            }
            else if (parser.Accept("DROP"))
            {
                do
                {
                    var (column, at) = parser.IdentifierAt("column name");
                    var existing = draft.Columns.FirstOrDefault(c => c.Name == column)
                        ?? throw parser.Error($"table {keyspace}.{name} has no column '{column}' to drop (declare it in CREATE TABLE or ALTER TABLE … ADD with its type, then drop it)", at);
                    if (existing.Kind is CassandraColumnKind.PartitionKey or CassandraColumnKind.Clustering)
                    {
                        throw parser.Error($"column '{column}' is in the primary key of {keyspace}.{name} and cannot be dropped", at);
                    }

                    draft.Columns.Remove(existing);
                    draft.Dropped.RemoveAll(d => d.Name == column);
                    draft.Dropped.Add(existing);
                }
                while (parser.Accept(","));

                if (parser.Accept("USING"))
                {
                    parser.Expect("TIMESTAMP");
                    parser.Next("a timestamp");
                }
            }
            else
            {
                throw parser.Error("expected ADD or DROP (other ALTER TABLE forms do not change what a commit log holds)");
            }

            parser.End();
        }
    }

    private sealed record ColumnDraft(string Name, string Type, CassandraColumnKind Kind, int At);

    private sealed class TableDraft(string keyspace, string name, string statement)
    {
        public string Keyspace { get; } = keyspace;

        public string Name { get; } = name;

        public string Statement { get; } = statement;

        public List<ColumnDraft> Columns { get; } = [];

        public List<ColumnDraft> Dropped { get; } = [];

        public Guid Id { get; set; }

        public bool Cdc { get; set; }

        public bool CompactStorage { get; set; }

        public bool[] Descending { get; set; } = [];
    }

    /// <summary>Reads one statement's tokens.</summary>
    private sealed class StatementParser(string text, int entry, List<Token> tokens)
    {
        private int _next;

        /// <summary>The offset of the token read last.</summary>
        public int Previous => tokens[_next - 1].Offset;

        /// <summary>The statement as messages name it: its entry number, then its first words.</summary>
        public string Describe()
        {
            var start = tokens[0].Offset;
            var end = tokens.Count > 8 ? tokens[8].Offset : text.Length;
            return $"CQL entry {entry} ('{text[start..end].Trim()} …')";
        }

        public FormatException Error(string message, int? offset = null)
        {
            var at = offset ?? (_next < tokens.Count ? tokens[_next].Offset : text.Length);
            return new FormatException($"{Describe()}, offset {at}: {message}");
        }

        public bool Accept(string word)
        {
            if (_next < tokens.Count && tokens[_next].Is(word))
            {
                _next++;
                return true;
            }

            return false;
        }

        public void Expect(string word)
        {
            if (!Accept(word))
            {
                throw Error($"expected '{word}'{(_next < tokens.Count ? $", found '{tokens[_next].Text}'" : " at the end")}");
            }
        }

        public void End()
        {
            if (_next < tokens.Count)
            {
                throw Error($"unexpected '{tokens[_next].Text}'");
            }
        }

        public Token Next(string what)
        {
            if (_next >= tokens.Count)
            {
                throw Error($"expected {what} at the end");
            }

            return tokens[_next++];
        }

        public void IfNotExists()
        {
            if (Accept("IF"))
            {
                Expect("NOT");
                Expect("EXISTS");
            }
        }

        public string Identifier(string what) => IdentifierAt(what).Name;

        public (string Name, int At) IdentifierAt(string what)
        {
            var token = Next(what);
            if (token.Kind is not (TokenKind.Word or TokenKind.Quoted) || token.Text.Length == 0 || (token.Kind == TokenKind.Word && !(char.IsAsciiLetter(token.Text[0]) || token.Text[0] == '_')))
            {
                throw Error($"expected {what}, found '{token.Text}'", token.Offset);
            }

            return (token.Identifier, token.Offset);
        }

        public (string Keyspace, string Name, int At) QualifiedName(string what)
        {
            var (first, at) = IdentifierAt($"keyspace.{what}");
            if (!Accept("."))
            {
                throw Error($"{what} '{first}' needs its keyspace: write keyspace.{first}", at);
            }

            return (first, Identifier($"{what} name"), at);
        }

        /// <summary>A type's text, up to the next ',' or ')' outside angle brackets, or STATIC / PRIMARY.</summary>
        public (string Text, int At) TypeText()
        {
            if (_next >= tokens.Count)
            {
                throw Error("expected a type at the end");
            }

            var at = tokens[_next].Offset;
            var builder = new StringBuilder();
            var depth = 0;
            while (_next < tokens.Count)
            {
                var token = tokens[_next];
                if (depth == 0 && (token.Is(",") || token.Is(")") || token.Is("STATIC") || token.Is("PRIMARY")))
                {
                    break;
                }

                depth += token.Is("<") ? 1 : token.Is(">") ? -1 : 0;
                if (depth < 0)
                {
                    throw Error("unbalanced '>' in a type", token.Offset);
                }

                builder.Append(token.Kind == TokenKind.Quoted ? $"\"{token.Text}\"" : token.Text);
                _next++;
            }

            if (builder.Length == 0)
            {
                throw Error("expected a type");
            }

            return (builder.ToString(), at);
        }

        public CqlType ParseType(string type, int at, IReadOnlyDictionary<string, CqlType> userTypes)
        {
            try
            {
                return CqlType.Parse(type, userTypes);
            }
            catch (FormatException ex)
            {
                throw Error(ex.Message, at);
            }
        }

        /// <summary>Skips an option's value: a constant, a word, or a map literal.</summary>
        public void SkipValue()
        {
            var token = Next("an option value");
            if (!token.Is("{"))
            {
                return;
            }

            var depth = 1;
            while (depth > 0)
            {
                var inner = Next("'}'");
                depth += inner.Is("{") ? 1 : inner.Is("}") ? -1 : 0;
            }
        }
    }
}
