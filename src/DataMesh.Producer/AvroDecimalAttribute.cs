namespace DataMesh.Producer;

/// <summary>
/// Declares the Avro <c>decimal</c> precision and scale of a <see cref="decimal"/> property (or of the items of a
/// collection of decimals). Every <see cref="decimal"/> member needs one: a value with more fractional digits than
/// <see cref="Scale"/>, or more digits than <see cref="Precision"/>, makes the emit throw instead of being rounded.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = true)]
public sealed class AvroDecimalAttribute : Attribute
{
    /// <summary>Declares precision and scale.</summary>
    /// <param name="precision">The maximum number of digits, 1 to 38.</param>
    /// <param name="scale">The number of digits after the decimal point, 0 to <paramref name="precision"/>.</param>
    public AvroDecimalAttribute(int precision, int scale)
    {
        Precision = precision;
        Scale = scale;
    }

    /// <summary>The maximum number of digits.</summary>
    public int Precision { get; }

    /// <summary>The number of digits after the decimal point.</summary>
    public int Scale { get; }
}
