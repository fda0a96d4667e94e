namespace DataMesh.Events;

/// <summary>The operation of a change event, written to the envelope's <c>op</c> field as one letter.</summary>
public enum ChangeOperation
{
    /// <summary>A row was inserted: <c>c</c>.</summary>
    Create,

    /// <summary>A row was updated: <c>u</c>.</summary>
    Update,

    /// <summary>A row was deleted: <c>d</c>. Followed by a tombstone unless turned off.</summary>
    Delete,

    /// <summary>A row was read by a snapshot: <c>r</c>.</summary>
    Read,

    /// <summary>A table was truncated: <c>t</c>.</summary>
    Truncate,
}

/// <summary>Conversions between <see cref="ChangeOperation"/> and the envelope's one-letter codes.</summary>
public static class ChangeOperations
{
    /// <summary>The envelope code of an operation.</summary>
    /// <param name="operation">The operation.</param>
    public static string ToCode(this ChangeOperation operation) => operation switch
    {
        ChangeOperation.Create => "c",
        ChangeOperation.Update => "u",
        ChangeOperation.Delete => "d",
        ChangeOperation.Read => "r",
        ChangeOperation.Truncate => "t",
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "Unknown change operation."),
    };

    /// <summary>The UTF-8 bytes of the envelope code of an operation, for writers that skip transcoding.</summary>
    /// <param name="operation">The operation.</param>
    public static ReadOnlySpan<byte> ToUtf8Code(this ChangeOperation operation) => operation switch
    {
        ChangeOperation.Create => "c"u8,
        ChangeOperation.Update => "u"u8,
        ChangeOperation.Delete => "d"u8,
        ChangeOperation.Read => "r"u8,
        ChangeOperation.Truncate => "t"u8,
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "Unknown change operation."),
    };

    /// <summary>Parses an envelope code.</summary>
    /// <param name="code">One of <c>c</c>, <c>u</c>, <c>d</c>, <c>r</c>, <c>t</c>.</param>
    /// <exception cref="FormatException">The code is not one of those.</exception>
    public static ChangeOperation Parse(string code) => code switch
    {
        "c" => ChangeOperation.Create,
        "u" => ChangeOperation.Update,
        "d" => ChangeOperation.Delete,
        "r" => ChangeOperation.Read,
        "t" => ChangeOperation.Truncate,
        _ => throw new FormatException($"'{code}' is not a change operation code; expected one of c, u, d, r, t."),
    };
}
