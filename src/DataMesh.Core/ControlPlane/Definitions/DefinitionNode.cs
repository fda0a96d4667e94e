namespace DataMesh.ControlPlane.Definitions;

/// <summary>A node of a definition file as read (YAML or JSON), with its 1-based line and column.</summary>
internal abstract record DefinitionNode(int Line, int Column)
{
    /// <summary>What the node is, for messages: "a mapping", "a list", "a string".</summary>
    public abstract string Describe();
}

/// <summary>A mapping, its entries in the file's order (duplicate keys are kept, and reported by the validator).</summary>
internal sealed record MappingNode(IReadOnlyList<MappingEntry> Entries, int Line, int Column) : DefinitionNode(Line, Column)
{
    public override string Describe() => "a mapping";

    public MappingEntry? Find(string key) => Entries.FirstOrDefault(e => e.Key == key);
}

/// <summary>One key and its value; <see cref="Line"/> and <see cref="Column"/> are the key's.</summary>
internal sealed record MappingEntry(string Key, int Line, int Column, DefinitionNode Value);

/// <summary>A list.</summary>
internal sealed record SequenceNode(IReadOnlyList<DefinitionNode> Items, int Line, int Column) : DefinitionNode(Line, Column)
{
    public override string Describe() => "a list";
}

/// <summary>
/// A scalar; <see cref="Plain"/> when it was written without quotes (so <c>null</c>, <c>true</c> and numbers are typed).
/// <see cref="TextColumn"/> is the column of the text's first character when the scalar is written on one line (after an
/// opening quote), else 0: a position inside the text (a filter expression's column) then maps to the file's column.
/// </summary>
internal sealed record ScalarNode(string Text, bool Plain, int Line, int Column, int TextColumn = 0) : DefinitionNode(Line, Column)
{
    /// <summary>Whether the scalar is YAML's (or JSON's) null: <c>null</c>, <c>~</c> or nothing, unquoted.</summary>
    public bool IsNull => Plain && Text is "" or "~" or "null" or "Null" or "NULL";

    public override string Describe() => IsNull ? "null" : "a value";
}
