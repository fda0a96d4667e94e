namespace DataMesh.Pipelines.Filtering;

/// <summary>The comparison operators of filter expressions.</summary>
internal enum CompareOp
{
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    StartsWith,
    EndsWith,
    Contains,
}

/// <summary>The kinds of literal.</summary>
internal enum LiteralKind
{
    Null,
    Boolean,
    Number,
    String,
}

/// <summary>A literal value and where it stands in the text.</summary>
internal sealed record Literal(LiteralKind Kind, string Text, int Column)
{
    public bool BooleanValue => Kind == LiteralKind.Boolean && Text == "true";
}

/// <summary>A field path such as <c>op</c>, <c>source.table</c>, <c>after.amount</c> or a bare column name.</summary>
internal sealed record FieldPath(IReadOnlyList<string> Steps, int Column)
{
    public override string ToString() => string.Join('.', Steps);
}

/// <summary>A node of a parsed filter expression.</summary>
internal abstract record FilterNode;

/// <summary>Two or more terms joined by <c>and</c>.</summary>
internal sealed record AndNode(IReadOnlyList<FilterNode> Terms) : FilterNode;

/// <summary>Two or more terms joined by <c>or</c>.</summary>
internal sealed record OrNode(IReadOnlyList<FilterNode> Terms) : FilterNode;

internal sealed record NotNode(FilterNode Operand) : FilterNode;

/// <summary><c>path op literal</c>.</summary>
internal sealed record CompareNode(FieldPath Path, CompareOp Op, Literal Value, int OperatorColumn) : FilterNode;

/// <summary><c>path is [not] null</c>.</summary>
internal sealed record IsNullNode(FieldPath Path, bool Negated) : FilterNode;

/// <summary><c>path [not] in (literal, ...)</c>.</summary>
internal sealed record InNode(FieldPath Path, IReadOnlyList<Literal> Values, bool Negated) : FilterNode;

/// <summary>A boolean field used as a condition.</summary>
internal sealed record FieldTestNode(FieldPath Path) : FilterNode;

/// <summary><c>true</c> or <c>false</c> as a whole condition.</summary>
internal sealed record ConstantNode(bool Value) : FilterNode;
