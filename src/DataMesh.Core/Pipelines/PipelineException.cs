namespace DataMesh.Pipelines;

/// <summary>A pipeline stopped: a record was rejected under <see cref="ErrorHandling.Stop"/>, or the target failed.</summary>
public sealed class PipelineException : Exception
{
    /// <summary>Creates an exception.</summary>
    public PipelineException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">The reason.</param>
    public PipelineException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">The reason.</param>
    /// <param name="innerException">The cause.</param>
    public PipelineException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
