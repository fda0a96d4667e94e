namespace DataMesh.Pipelines.Transforms;

/// <summary>A transform does not apply to an input schema: a field it names is missing, or has a type it cannot handle.</summary>
public sealed class TransformPlanException : Exception
{
    /// <summary>Creates an exception.</summary>
    public TransformPlanException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">The reason.</param>
    public TransformPlanException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">The reason.</param>
    /// <param name="innerException">The cause.</param>
    public TransformPlanException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
