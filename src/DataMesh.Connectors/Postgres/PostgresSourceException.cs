using DataMesh.Sources;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// A PostgreSQL source cannot go on: a setting, a permission or the database's configuration is wrong, or a value
/// cannot be carried. The message says what and how to fix it; retrying would not help, unless
/// <see cref="SourceException.IsTransient"/>.
/// </summary>
public sealed class PostgresSourceException : SourceException
{
    /// <summary>Creates an exception.</summary>
    public PostgresSourceException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What is wrong and how to fix it.</param>
    public PostgresSourceException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">What is wrong and how to fix it.</param>
    /// <param name="innerException">The cause.</param>
    public PostgresSourceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal PostgresSourceException(string message, bool isTransient)
        : base(message, isTransient)
    {
    }
}
