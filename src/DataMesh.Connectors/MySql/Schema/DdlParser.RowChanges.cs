namespace DataMesh.Connectors.MySql.Schema;

/// <summary>The tables a row change logged as a statement changes (see <see cref="LoggedRowChangeStatement"/>).</summary>
internal sealed partial class DdlParser
{
    /// <summary>A table reference of a multi-table UPDATE or DELETE: a table (null for a derived table, which no statement
    /// changes) and its alias.</summary>
    private readonly record struct TableReference(TableName? Table, string? Alias);

    /// <summary>INSERT, REPLACE, UPDATE, DELETE or LOAD DATA|XML: the tables it changes. A form whose tables cannot be read is
    /// a statement with unknown tables (<see cref="LoggedRowChangeStatement.Tables"/> null), never one that changes
    /// none.</summary>
    private DdlStatement ParseRowChange()
    {
        var verb = Next().Text.ToUpperInvariant();
        if (verb == "LOAD" && !Current.Is("DATA") && !Current.Is("XML"))
        {
            return new IgnoredStatement("LOAD of something other than rows (LOAD INDEX)");
        }

        try
        {
            while (Current.Is("LOW_PRIORITY") || Current.Is("DELAYED") || Current.Is("HIGH_PRIORITY") || Current.Is("QUICK") || Current.Is("IGNORE") || Current.Is("CONCURRENT") || Current.Is("LOCAL"))
            {
                Next();
            }

            switch (verb)
            {
                case "LOAD":
                    // LOAD DATA|XML ... INTO TABLE t
                    while (Current.Kind != SqlTokenKind.End && !(Current.Is("INTO") && _tokens[_at + 1].Is("TABLE")))
                    {
                        Next();
                    }

                    Expect("INTO");
                    Expect("TABLE");
                    return new LoggedRowChangeStatement(verb, [ReadTableName()]);
                case "INSERT" or "REPLACE":
                    Accept("INTO");
                    return new LoggedRowChangeStatement(verb, [ReadTableName()]);
                case "DELETE":
                    return new LoggedRowChangeStatement(verb, ReadDeleteTargets());
                default:
                    return ReadUpdateTargets();
            }
        }
        catch (DdlParseException)
        {
            return new LoggedRowChangeStatement(verb, null);
        }
    }

    /// <summary>MySQL 8's WITH [RECURSIVE] cte [(columns)] AS (...), ... UPDATE|DELETE ...: the row change after its common
    /// table expressions. Such a statement reaches the binlog only when it changes rows: one that cannot be read as an UPDATE
    /// or a DELETE has unknown tables.</summary>
    private DdlStatement ParseWithRowChange()
    {
        try
        {
            Next();
            Accept("RECURSIVE");
            do
            {
                ReadName();
                if (AcceptSymbol('('))
                {
                    SkipBalanced();
                }

                Expect("AS");
                ExpectSymbol('(');
                SkipBalanced();
            }
            while (AcceptSymbol(','));
        }
        catch (DdlParseException)
        {
            return new LoggedRowChangeStatement("WITH", null);
        }

        return Current.Is("UPDATE") || Current.Is("DELETE") ? ParseRowChange() : new LoggedRowChangeStatement("WITH", null);
    }

    /// <summary>DELETE FROM t ...; DELETE t1[.*], ... FROM refs ...; DELETE FROM t1[.*], ... USING refs ...: the tables
    /// deleted from, a target named by its alias or its table's name in the references.</summary>
    private List<TableName> ReadDeleteTargets()
    {
        var usingForm = Accept("FROM");
        var targets = new List<TableName>();
        do
        {
            // t, t.*, db.t, db.t.*
            var first = ReadName();
            if (AcceptSymbol('.') && !AcceptSymbol('*'))
            {
                targets.Add(new TableName(first, ReadName()));
                if (AcceptSymbol('.'))
                {
                    ExpectSymbol('*');
                }
            }
            else
            {
                targets.Add(new TableName(null, first));
            }
        }
        while (AcceptSymbol(','));

        if (usingForm && !Accept("USING"))
        {
            // The single-table form: its table is the target, whatever follows (PARTITION, WHERE, ORDER BY, LIMIT, RETURNING).
            return targets.Count == 1 ? targets : throw Error("a DELETE of several tables without USING");
        }

        if (!usingForm)
        {
            Expect("FROM");
        }

        var references = ReadTableReferences();
        ExpectReferencesEnd("WHERE", "ORDER", "LIMIT");
        var tables = new List<TableName>();
        foreach (var target in targets)
        {
            tables.AddRange(target.Database is null ? Resolve(target.Name, references) : [target]);
        }

        return tables;
    }

    /// <summary>UPDATE refs SET [[db.]t.]column = expression, ...: the tables of the columns set. A column written without its
    /// table, in a statement of several tables, is one of any of them: the source looks it up.</summary>
    private LoggedRowChangeStatement ReadUpdateTargets()
    {
        var references = ReadTableReferences();
        Expect("SET");
        var tables = new List<TableName>();
        var columns = new List<string>();
        do
        {
            var first = ReadName();
            if (AcceptSymbol('.'))
            {
                var second = ReadName();
                if (AcceptSymbol('.'))
                {
                    ReadName();
                    tables.Add(new TableName(first, second));
                }
                else
                {
                    tables.AddRange(Resolve(first, references));
                }
            }
            else
            {
                columns.Add(first);
            }

            ExpectSymbol('=');
            SkipAssignedValue();
        }
        while (AcceptSymbol(','));

        var candidates = references.Where(r => r.Table is not null).Select(r => r.Table!).Distinct().ToList();
        if (columns.Count == 0)
        {
            return new LoggedRowChangeStatement("UPDATE", tables);
        }

        if (candidates.Count == 1)
        {
            tables.Add(candidates[0]);
            return new LoggedRowChangeStatement("UPDATE", tables);
        }

        return new LoggedRowChangeStatement("UPDATE", tables) { Columns = columns, ColumnTables = candidates };
    }

    /// <summary>The table an alias or a table name of the references stands for. The server compares a name with the
    /// aliases and with the names of the tables without one (a table's own name is its alias) exactly under
    /// lower_case_table_names 0, ignoring case under 1 and 2: with 0, <c>DELETE t FROM u AS T, t</c> deletes from t, and
    /// <c>UPDATE t AS x, u AS X SET X.v = 1</c> changes u. So a match in the same case is the one (under 1 and 2 no other can
    /// differ from it only in case: the server refuses such aliases as not unique); without one, every alias and table name
    /// equal ignoring case, so that a doubt gives more tables, never fewer.</summary>
    private List<TableName> Resolve(string name, List<TableReference> references)
    {
        bool Names(TableReference r, StringComparison comparison) =>
            r.Alias is not null ? string.Equals(r.Alias, name, comparison) : r.Table is not null && string.Equals(r.Table.Name, name, comparison);

        var exact = references.Where(r => Names(r, StringComparison.Ordinal)).ToList();
        var matches = exact.Count > 0 ? exact : references.Where(r => Names(r, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 0 || matches.Any(m => m.Table is null))
        {
            throw Error($"'{name}' names no table of the statement");
        }

        return [.. matches.Select(m => m.Table!)];
    }

    /// <summary>Reads table references: table factors (a table with PARTITION, alias and index hints; a derived table; a
    /// parenthesised join) joined by commas and JOINs with their ON or USING conditions.</summary>
    private List<TableReference> ReadTableReferences()
    {
        var references = new List<TableReference>();
        var nesting = 0;
        while (true)
        {
            while (Current.IsSymbol('(') && !IsSubqueryStart(_tokens[_at + 1]))
            {
                Next();
                nesting++;
            }

            if (AcceptSymbol('('))
            {
                SkipBalanced();
                references.Add(new TableReference(null, ReadAlias()));
            }
            else
            {
                var table = ReadTableName();
                if (Accept("PARTITION"))
                {
                    ExpectSymbol('(');
                    SkipBalanced();
                }

                references.Add(new TableReference(table, ReadAlias()));
                SkipIndexHints();
            }

            while (true)
            {
                if (Accept("ON"))
                {
                    SkipCondition();
                }
                else if (Current.Is("USING") && _tokens[_at + 1].IsSymbol('('))
                {
                    Next();
                    Next();
                    SkipBalanced();
                }
                else if (nesting > 0 && AcceptSymbol(')'))
                {
                    nesting--;
                }
                else
                {
                    break;
                }
            }

            if (!AcceptSymbol(',') && !AcceptJoin())
            {
                return nesting == 0 ? references : throw Error("unbalanced parentheses in the table references");
            }
        }
    }

    private void ExpectReferencesEnd(params ReadOnlySpan<string> words)
    {
        foreach (var word in words)
        {
            if (Current.Is(word))
            {
                return;
            }
        }

        if (Current.Kind != SqlTokenKind.End)
        {
            throw Error($"unexpected '{Current.Text}' after the table references");
        }
    }

    private static bool IsSubqueryStart(SqlToken token) => token.Is("SELECT") || token.Is("WITH") || token.Is("VALUES") || token.Is("TABLE");

    private string? ReadAlias()
    {
        if (Accept("AS"))
        {
            return ReadName();
        }

        return Current.Kind == SqlTokenKind.QuotedIdentifier || (Current.Kind == SqlTokenKind.Word && !IsReferenceKeyword(Current)) ? Next().Text : null;
    }

    private static bool IsReferenceKeyword(SqlToken token) => token.Is("ON") || token.Is("USING") || token.Is("SET") || token.Is("WHERE") || token.Is("ORDER")
        || token.Is("LIMIT") || token.Is("RETURNING") || token.Is("JOIN") || token.Is("INNER") || token.Is("CROSS") || token.Is("LEFT") || token.Is("RIGHT")
        || token.Is("NATURAL") || token.Is("STRAIGHT_JOIN") || token.Is("FULL") || token.Is("OUTER") || token.Is("USE") || token.Is("IGNORE") || token.Is("FORCE")
        || token.Is("PARTITION") || token.Is("FROM") || token.Is("FOR") || token.Is("LOCK") || token.Is("GROUP") || token.Is("HAVING") || token.Is("WINDOW")
        || token.Is("UNION");

    /// <summary>USE|IGNORE|FORCE INDEX|KEY [FOR JOIN|ORDER BY|GROUP BY] (...), any number of them.</summary>
    private void SkipIndexHints()
    {
        while ((Current.Is("USE") || Current.Is("IGNORE") || Current.Is("FORCE")) && (_tokens[_at + 1].Is("INDEX") || _tokens[_at + 1].Is("KEY")))
        {
            Next();
            Next();
            if (Accept("FOR"))
            {
                Next();
                Accept("BY");
            }

            ExpectSymbol('(');
            SkipBalanced();
        }
    }

    /// <summary>[NATURAL] [INNER|CROSS|LEFT|RIGHT [OUTER]] JOIN, or STRAIGHT_JOIN.</summary>
    private bool AcceptJoin()
    {
        var start = _at;
        if (Accept("STRAIGHT_JOIN"))
        {
            return true;
        }

        Accept("NATURAL");
        if (Accept("INNER") || Accept("CROSS") || Accept("LEFT") || Accept("RIGHT"))
        {
            Accept("OUTER");
        }

        if (Accept("JOIN"))
        {
            return true;
        }

        _at = start;
        return false;
    }

    /// <summary>Skips a join's ON condition: to a comma, a closing parenthesis, a join or the end of the references, outside
    /// parentheses.</summary>
    private void SkipCondition()
    {
        while ((Current.Kind != SqlTokenKind.End && !Current.IsSymbol(',') && !Current.IsSymbol(')') && !IsReferenceKeyword(Current)) || IsFunctionCall())
        {
            if (Next().IsSymbol('('))
            {
                SkipBalanced();
            }
        }
    }

    /// <summary>Skips an assigned value of UPDATE's SET: to a comma or the clause after SET, outside parentheses.</summary>
    private void SkipAssignedValue()
    {
        while (Current.Kind != SqlTokenKind.End && !Current.IsSymbol(',') && !Current.Is("WHERE") && !Current.Is("ORDER") && !Current.Is("LIMIT"))
        {
            if (Next().IsSymbol('('))
            {
                SkipBalanced();
            }
        }
    }

    /// <summary>Whether the current word is a function's name (LEFT(...), RIGHT(...)) rather than a keyword.</summary>
    private bool IsFunctionCall() => Current.Kind == SqlTokenKind.Word && _tokens[_at + 1].IsSymbol('(');
}
