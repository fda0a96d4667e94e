namespace DataMesh.Pipelines.Transforms;

/// <summary>One record cannot be transformed (a value that does not cast, malformed bytes); the pipeline dead-letters it.</summary>
public sealed class TransformException : Exception
{
    /// <summary>Creates an exception.</summary>
    public TransformException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">The reason.</param>
    public TransformException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">The reason.</param>
    /// <param name="innerException">The cause.</param>
    public TransformException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The name of the transform that rejected the record, when known.</summary>
    public string? Stage { get; init; }
}
