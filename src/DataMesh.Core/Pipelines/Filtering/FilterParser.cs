using System.Globalization;
using System.Text;

namespace DataMesh.Pipelines.Filtering;

/// <summary>
/// A recursive-descent parser of filter expressions:
/// <code>
/// or      := and ("or" and)*
/// and     := unary ("and" unary)*
/// unary   := "not" unary | primary
/// primary := "(" or ")" | "true" | "false" | path [test]
/// test    := cmp literal | "is" ["not"] "null" | ["not"] "in" "(" literal ("," literal)* ")"
/// cmp     := "=" | "==" | "!=" | "&lt;&gt;" | "&lt;" | "&lt;=" | "&gt;" | "&gt;=" | "startswith" | "endswith" | "contains"
/// path    := name ("." name)*
/// literal := number | 'string' | true | false | null
/// </code>
/// Keywords are case-insensitive; strings use single quotes, with <c>''</c> for a quote. A chain of <c>and</c> (or
/// <c>or</c>) terms becomes one node with every term, so that planning and evaluation recurse only as deep as the
/// parentheses and <c>not</c>s, which <see cref="FilterExpression.MaxDepth"/> bounds; <see cref="FilterExpression.MaxLength"/>
/// bounds the text. Hostile input is refused with a <see cref="FilterExpressionException"/>, never a stack overflow.
/// </summary>
internal sealed class FilterParser
{
    private readonly string _text;
    private readonly List<Token> _tokens;
    private int _next;
    private int _depth;

    private FilterParser(string text)
    {
        _text = text;
        _tokens = Tokenize(text);
    }

    public static FilterNode Parse(string text)
    {
        if (text.Length > FilterExpression.MaxLength)
        {
            throw new FilterExpressionException(
                string.Create(CultureInfo.InvariantCulture, $"the expression is {text.Length:N0} characters long, longer than FilterExpression.MaxLength ({FilterExpression.MaxLength:N0} characters); filter on fewer values, or split it into several filters"),
                FilterExpression.MaxLength + 1,
                text);
        }

        var parser = new FilterParser(text);
        if (parser.Peek.Kind == TokenKind.End)
        {
            throw parser.Error("the expression is empty", parser.Peek.Column);
        }

        var node = parser.ParseOr();
        if (parser.Peek.Kind != TokenKind.End)
        {
            throw parser.Error($"unexpected {parser.Peek.Describe()}; expected 'and', 'or' or the end", parser.Peek.Column);
        }

        return node;
    }

    private Token Peek => _tokens[_next];

    private Token Take() => _tokens[_next++];

    private bool TakeKeyword(string keyword)
    {
        if (Peek.IsKeyword(keyword))
        {
            _next++;
            return true;
        }

        return false;
    }

    private FilterNode ParseOr()
    {
        var first = ParseAnd();
        if (!Peek.IsKeyword("or"))
        {
            return first;
        }

        var terms = new List<FilterNode> { first };
        while (TakeKeyword("or"))
        {
            terms.Add(ParseAnd());
        }

        return new OrNode(terms);
    }

    private FilterNode ParseAnd()
    {
        var first = ParseUnary();
        if (!Peek.IsKeyword("and"))
        {
            return first;
        }

        var terms = new List<FilterNode> { first };
        while (TakeKeyword("and"))
        {
            terms.Add(ParseUnary());
        }

        return new AndNode(terms);
    }

    private FilterNode ParseUnary()
    {
        // A loop, not a recursion: each 'not' is one level of depth.
        var nots = 0;
        while (Peek.IsKeyword("not"))
        {
            Enter(Peek.Column);
            _next++;
            nots++;
        }

        var node = ParsePrimary();
        _depth -= nots;
        for (var i = 0; i < nots; i++)
        {
            node = new NotNode(node);
        }

        return node;
    }

    /// <summary>Goes one level deeper (a parenthesis or a 'not' at <paramref name="column"/>), refusing to pass <see cref="FilterExpression.MaxDepth"/>.</summary>
    private void Enter(int column)
    {
        if (++_depth > FilterExpression.MaxDepth)
        {
            throw Error(
                string.Create(CultureInfo.InvariantCulture, $"the expression nests deeper than FilterExpression.MaxDepth ({FilterExpression.MaxDepth}) levels of parentheses and 'not'; write it with fewer levels"),
                column);
        }
    }

    private FilterNode ParsePrimary()
    {
        var token = Peek;
        if (token.Kind == TokenKind.LeftParen)
        {
            Enter(token.Column);
            _next++;
            var inner = ParseOr();
            Expect(TokenKind.RightParen, "')'");
            _depth--;
            return inner;
        }

        if (token.IsKeyword("true") || token.IsKeyword("false"))
        {
            _next++;
            return new ConstantNode(token.IsKeyword("true"));
        }

        if (token.Kind != TokenKind.Name || token.IsReserved)
        {
            throw Error($"expected a field name, 'not' or '(' but found {token.Describe()}", token.Column);
        }

        var path = ParsePath();
        var next = Peek;
        if (next.Kind == TokenKind.Operator)
        {
            _next++;
            var op = next.Text switch
            {
                "=" or "==" => CompareOp.Eq,
                "!=" or "<>" => CompareOp.Ne,
                "<" => CompareOp.Lt,
                "<=" => CompareOp.Le,
                ">" => CompareOp.Gt,
                _ => CompareOp.Ge,
            };
            return new CompareNode(path, op, ParseLiteral(), next.Column);
        }

        if (next.IsKeyword("startswith") || next.IsKeyword("endswith") || next.IsKeyword("contains"))
        {
            _next++;
            var op = next.IsKeyword("startswith") ? CompareOp.StartsWith : next.IsKeyword("endswith") ? CompareOp.EndsWith : CompareOp.Contains;
            var literal = ParseLiteral();
            if (literal.Kind != LiteralKind.String)
            {
                throw Error($"'{next.Text}' needs a 'string', not {literal.Text}", literal.Column);
            }

            return new CompareNode(path, op, literal, next.Column);
        }

        if (TakeKeyword("is"))
        {
            var negated = TakeKeyword("not");
            if (!TakeKeyword("null"))
            {
                throw Error($"expected 'null' after 'is{(negated ? " not" : string.Empty)}' but found {Peek.Describe()}", Peek.Column);
            }

            return new IsNullNode(path, negated);
        }

        if (next.IsKeyword("not") || next.IsKeyword("in"))
        {
            var negated = TakeKeyword("not");
            if (!TakeKeyword("in"))
            {
                throw Error($"expected 'in' after 'not' but found {Peek.Describe()}", Peek.Column);
            }

            Expect(TokenKind.LeftParen, "'(' after 'in'");
            var values = new List<Literal> { ParseLiteral() };
            while (Peek.Kind == TokenKind.Comma)
            {
                _next++;
                values.Add(ParseLiteral());
            }

            Expect(TokenKind.RightParen, "',' or ')' in the 'in' list");
            return new InNode(path, values, negated);
        }

        return new FieldTestNode(path);
    }

    private FieldPath ParsePath()
    {
        var first = Take();
        var steps = new List<string> { first.Text };
        while (Peek.Kind == TokenKind.Dot)
        {
            _next++;
            var step = Peek;
            if (step.Kind != TokenKind.Name)
            {
                throw Error($"expected a field name after '.' but found {step.Describe()}", step.Column);
            }

            _next++;
            steps.Add(step.Text);
        }

        return new FieldPath(steps, first.Column);
    }

    private Literal ParseLiteral()
    {
        var token = Take();
        switch (token.Kind)
        {
            case TokenKind.Number:
                return new Literal(LiteralKind.Number, token.Text, token.Column);
            case TokenKind.String:
                return new Literal(LiteralKind.String, token.Text, token.Column);
            case TokenKind.Name when token.IsKeyword("null"):
                return new Literal(LiteralKind.Null, "null", token.Column);
            case TokenKind.Name when token.IsKeyword("true") || token.IsKeyword("false"):
                return new Literal(LiteralKind.Boolean, token.Text.ToLowerInvariant(), token.Column);
            default:
                throw Error($"expected a number, a 'string', true, false or null but found {token.Describe()}", token.Column);
        }
    }

    private void Expect(TokenKind kind, string what)
    {
        var token = Take();
        if (token.Kind != kind)
        {
            throw Error($"expected {what} but found {token.Describe()}", token.Column);
        }
    }

    private FilterExpressionException Error(string reason, int column) => new(reason, column, _text);

    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (i >= text.Length)
            {
                tokens.Add(new Token(TokenKind.End, string.Empty, i + 1));
                return tokens;
            }

            var start = i;
            var c = text[i];
            if (char.IsAsciiLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Name, text[start..i], start + 1));
            }
            else if (char.IsAsciiDigit(c) || ((c == '-' || c == '+') && i + 1 < text.Length && (char.IsAsciiDigit(text[i + 1]) || text[i + 1] == '.')) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                i++;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '.' || ((text[i] == '-' || text[i] == '+') && (text[i - 1] == 'e' || text[i - 1] == 'E'))))
                {
                    i++;
                }

                var number = text[start..i];
                if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
                {
                    throw new FilterExpressionException($"'{number}' is not a number", start + 1, text);
                }

                tokens.Add(new Token(TokenKind.Number, number, start + 1));
            }
            else if (c == '\'')
            {
                var value = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new FilterExpressionException("the string is not closed with a quote (')", start + 1, text);
                    }

                    if (text[i] == '\'')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '\'')
                        {
                            value.Append('\'');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    value.Append(text[i++]);
                }

                tokens.Add(new Token(TokenKind.String, value.ToString(), start + 1));
            }
            else
            {
                var two = i + 1 < text.Length ? text.Substring(i, 2) : string.Empty;
                if (two is "==" or "!=" or "<>" or "<=" or ">=")
                {
                    tokens.Add(new Token(TokenKind.Operator, two, start + 1));
                    i += 2;
                    continue;
                }

                var kind = c switch
                {
                    '=' or '<' or '>' => TokenKind.Operator,
                    '(' => TokenKind.LeftParen,
                    ')' => TokenKind.RightParen,
                    ',' => TokenKind.Comma,
                    '.' => TokenKind.Dot,
                    '"' => throw new FilterExpressionException("strings use single quotes ('text')", start + 1, text),
                    _ => throw new FilterExpressionException($"unexpected character '{c}'", start + 1, text),
                };
                tokens.Add(new Token(kind, c.ToString(), start + 1));
                i++;
            }
        }
    }

    private enum TokenKind
    {
        Name,
        Number,
        String,
        Operator,
        LeftParen,
        RightParen,
        Comma,
        Dot,
        End,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Column)
    {
        private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
        {
            "and", "or", "not", "is", "null", "in", "true", "false", "startswith", "endswith", "contains",
        };

        public bool IsReserved => Kind == TokenKind.Name && Reserved.Contains(Text);

        public bool IsKeyword(string keyword) => Kind == TokenKind.Name && string.Equals(Text, keyword, StringComparison.OrdinalIgnoreCase);

        public string Describe() => Kind switch
        {
            TokenKind.End => "the end of the expression",
            TokenKind.String => $"the string '{Text}'",
            _ => $"'{Text}'",
        };
    }
}
