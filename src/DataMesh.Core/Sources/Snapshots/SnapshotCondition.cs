namespace DataMesh.Sources;

/// <summary>How a database's SQL quotes text, for <see cref="SnapshotCondition.Problem"/>.</summary>
/// <param name="BackslashEscapes">A backslash escapes the next character inside quotes (MySQL and MariaDB by default).</param>
/// <param name="PostgresStrings">The database has PostgreSQL's other strings, dollar-quoted (<c>$tag$...$tag$</c>) and with
/// escapes (<c>E'...'</c>): they are refused.</param>
/// <param name="HashComments">A <c>#</c> starts a comment (MySQL and MariaDB); elsewhere it is an operator.</param>
public readonly record struct SqlQuoting(bool BackslashEscapes, bool PostgresStrings, bool HashComments);

/// <summary>
/// Checks a snapshot's SQL condition before it is put inside a chunk's query as <c>AND (condition)</c>: the condition
/// must stay inside its parentheses, or it would change which rows the keyset read takes (<c>id &lt; 0) OR (1=1</c> makes
/// every chunk read the first rows again, for ever). Its parentheses must balance outside quoted text, and it holds no
/// statement end (<c>;</c>) or comment (which would hide the rest of the query). This is a check of shape, not of
/// meaning: the database still refuses what it cannot run, which ends that table's snapshot with an error.
/// </summary>
internal static class SnapshotCondition
{
    /// <summary>What is wrong with <paramref name="condition"/>, or null when it may be used.</summary>
    /// <param name="condition">The condition.</param>
    /// <param name="quoting">The database's quoting.</param>
    public static string? Problem(string condition, SqlQuoting quoting)
    {
        ArgumentNullException.ThrowIfNull(condition);
        if (condition.Trim().Length == 0)
        {
            return "it is empty";
        }

        var depth = 0;
        for (var i = 0; i < condition.Length; i++)
        {
            var c = condition[i];
            switch (c)
            {
                case '\'' when quoting.PostgresStrings && i > 0 && condition[i - 1] is 'E' or 'e' && (i == 1 || !(char.IsLetterOrDigit(condition[i - 2]) || condition[i - 2] == '_')):
                    return $"it holds an escape string E'...' at character {i}; write the text in standard quotes ('it''s')";
                case '\'' or '"' or '`':
                    var end = EndOfQuoted(condition, i, quoting.BackslashEscapes);
                    if (end < 0)
                    {
                        return $"its quoted text starting at character {i + 1} ({c}) is not closed";
                    }

                    i = end;
                    break;
                case '(':
                    depth++;
                    break;
                case ')' when depth == 0:
                    return $"its ')' at character {i + 1} closes a parenthesis it did not open: a condition stays inside its own parentheses";
                case ')':
                    depth--;
                    break;
                case ';':
                    return $"it holds ';' at character {i + 1}: a condition is one expression, not statements";
                case '-' when i + 1 < condition.Length && condition[i + 1] == '-':
                case '/' when i + 1 < condition.Length && condition[i + 1] == '*':
                case '#' when quoting.HashComments:
                    return $"it holds a comment at character {i + 1}, which would hide the rest of the chunk's query";
                case '$' when quoting.PostgresStrings && IsDollarQuote(condition, i):
                    return $"it holds a dollar-quoted string at character {i + 1}; write the text in single quotes";
            }
        }

        return depth == 0 ? null : $"it opens {depth} parenthes{(depth == 1 ? "is" : "es")} it does not close";
    }

    /// <summary>The index of the quote that closes the quoted text opened at <paramref name="start"/>, or -1. A doubled
    /// quote stands for one; with <paramref name="backslashEscapes"/>, a backslash escapes the next character.</summary>
    private static int EndOfQuoted(string text, int start, bool backslashEscapes)
    {
        var quote = text[start];
        for (var i = start + 1; i < text.Length; i++)
        {
            if (backslashEscapes && quote != '`' && text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == quote)
            {
                if (i + 1 < text.Length && text[i + 1] == quote)
                {
                    i++;
                }
                else
                {
                    return i;
                }
            }
        }

        return -1;
    }

    /// <summary>Whether a <c>$</c> starts a dollar quote (<c>$$</c> or <c>$tag$</c>), not a parameter (<c>$1</c>).</summary>
    private static bool IsDollarQuote(string text, int start)
    {
        for (var i = start + 1; i < text.Length; i++)
        {
            if (text[i] == '$')
            {
                return true;
            }

            // PostgreSQL's lexer: a tag is letters, _, any byte from 0x80 (any non-ASCII character), digits after the first.
            if (!(char.IsAsciiLetter(text[i]) || text[i] == '_' || text[i] >= '\u0080' || (i > start + 1 && char.IsAsciiDigit(text[i]))))
            {
                return false;
            }
        }

        return false;
    }
}
