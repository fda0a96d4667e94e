using System.Text;

namespace DataMesh.Connectors.MySql.Schema;

/// <summary>The kinds of SQL tokens the DDL parser sees.</summary>
internal enum SqlTokenKind
{
    /// <summary>A bare word: a keyword or an unquoted identifier.</summary>
    Word,

    /// <summary>A back-quoted identifier, unescaped.</summary>
    QuotedIdentifier,

    /// <summary>A string literal ('...' or "..."), unescaped.</summary>
    String,

    /// <summary>A number.</summary>
    Number,

    /// <summary>A punctuation character or operator.</summary>
    Symbol,

    /// <summary>The end of the statement.</summary>
    End,
}

/// <summary>One token; <see cref="Offset"/> is its place in the statement, for error messages.</summary>
/// <param name="Kind">What the token is.</param>
/// <param name="Text">Its text; a string literal's unescaped.</param>
/// <param name="Offset">Its place in the statement.</param>
/// <param name="Escaped">A string literal that held a backslash escape.</param>
internal readonly record struct SqlToken(SqlTokenKind Kind, string Text, int Offset, bool Escaped = false)
{
    public bool Is(string keyword) => Kind == SqlTokenKind.Word && string.Equals(Text, keyword, StringComparison.OrdinalIgnoreCase);

    public bool IsSymbol(char symbol) => Kind == SqlTokenKind.Symbol && Text.Length == 1 && Text[0] == symbol;

    /// <summary>Whether the token can name something (a bare word or a quoted identifier).</summary>
    public bool IsName => Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier;
}

/// <summary>
/// Splits a MySQL/MariaDB statement into tokens: comments dropped (<c>-- </c>, <c>#</c>, <c>/* */</c>) except the
/// versioned ones (<c>/*!50100 ... */</c>, <c>/*M!100100 ... */</c>), whose text is read as SQL.
/// </summary>
internal static class SqlTokenizer
{
    public static List<SqlToken> Tokenize(string sql)
    {
        var tokens = new List<SqlToken>();
        var i = 0;
        var inVersioned = false;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (c == '#' || (c == '-' && i + 2 <= sql.Length && Peek(sql, i + 1) == '-' && (i + 2 == sql.Length || char.IsWhiteSpace(sql[i + 2]) || char.IsControl(sql[i + 2]))))
            {
                while (i < sql.Length && sql[i] != '\n')
                {
                    i++;
                }

                continue;
            }

            if (c == '/' && Peek(sql, i + 1) == '*')
            {
                var start = i + 2;
                if (Peek(sql, start) == 'M' && Peek(sql, start + 1) == '!')
                {
                    start++;
                }

                if (Peek(sql, start) == '!')
                {
                    i = start + 1;
                    while (i < sql.Length && char.IsAsciiDigit(sql[i]))
                    {
                        i++;
                    }

                    inVersioned = true;
                    continue;
                }

                var end = sql.IndexOf("*/", start, StringComparison.Ordinal);
                i = end < 0 ? sql.Length : end + 2;
                continue;
            }

            if (inVersioned && c == '*' && Peek(sql, i + 1) == '/')
            {
                inVersioned = false;
                i += 2;
                continue;
            }

            if (c == '`')
            {
                var text = new StringBuilder();
                var start = i++;
                while (true)
                {
                    if (i >= sql.Length)
                    {
                        throw new DdlParseException($"unterminated quoted identifier at offset {start}");
                    }

                    if (sql[i] == '`')
                    {
                        if (Peek(sql, i + 1) == '`')
                        {
                            text.Append('`');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    text.Append(sql[i++]);
                }

                tokens.Add(new SqlToken(SqlTokenKind.QuotedIdentifier, text.ToString(), start));
                continue;
            }

            if (c is '\'' or '"')
            {
                var start = i;
                var text = ReadString(sql, ref i, c, out var escaped);
                tokens.Add(new SqlToken(SqlTokenKind.String, text, start, escaped));
                continue;
            }

            if (char.IsAsciiDigit(c) || (c == '.' && char.IsAsciiDigit(Peek(sql, i + 1))))
            {
                var start = i;
                while (i < sql.Length && (char.IsAsciiLetterOrDigit(sql[i]) || sql[i] == '.'))
                {
                    i++;
                }

                var number = sql[start..i];
                // 1e10, 0x1F and identifiers that start with digits (allowed in MySQL) all read as one token.
                tokens.Add(new SqlToken(number.All(ch => char.IsAsciiDigit(ch) || ch == '.') ? SqlTokenKind.Number : SqlTokenKind.Word, number, start));
                continue;
            }

            if (char.IsLetter(c) || c is '_' or '$' || c > 127)
            {
                var start = i;
                while (i < sql.Length && (char.IsLetterOrDigit(sql[i]) || sql[i] is '_' or '$' || sql[i] > 127))
                {
                    i++;
                }

                tokens.Add(new SqlToken(SqlTokenKind.Word, sql[start..i], start));
                continue;
            }

            tokens.Add(new SqlToken(SqlTokenKind.Symbol, c.ToString(), i));
            i++;
        }

        tokens.Add(new SqlToken(SqlTokenKind.End, string.Empty, sql.Length));
        return tokens;
    }

    private static char Peek(string sql, int index) => index < sql.Length ? sql[index] : '\0';

    private static string ReadString(string sql, ref int i, char quote, out bool escaped)
    {
        escaped = false;
        var start = i++;
        var text = new StringBuilder();
        while (true)
        {
            if (i >= sql.Length)
            {
                throw new DdlParseException($"unterminated string literal at offset {start}");
            }

            var c = sql[i];
            if (c == quote)
            {
                if (Peek(sql, i + 1) == quote)
                {
                    text.Append(quote);
                    i += 2;
                    continue;
                }

                i++;
                return text.ToString();
            }

            if (c == '\\' && i + 1 < sql.Length)
            {
                escaped = true;
                var next = sql[i + 1];
                if (next is '%' or '_')
                {
                    // \% and \_ keep their backslash (they are for LIKE patterns).
                    text.Append(c).Append(next);
                    i += 2;
                    continue;
                }

                text.Append(next switch
                {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    'b' => '\b',
                    'Z' => '\u001A',
                    _ => next,
                });
                i += 2;
                continue;
            }

            text.Append(c);
            i++;
        }
    }
}

/// <summary>A DDL statement the parser cannot read; the connector stops with the statement and its position.</summary>
internal sealed class DdlParseException : FormatException
{
    /// <summary>The table the statement changes that the tracked schema does not have, when that is the problem.</summary>
    public TableName? UnknownTable { get; init; }

    /// <summary>The table a CREATE TABLE or ALTER TABLE that could not be read was about, when the parser got that far.</summary>
    public TableName? Table { get; init; }

    public DdlParseException()
    {
    }

    public DdlParseException(string message)
        : base(message)
    {
    }

    public DdlParseException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
