namespace DataMesh.Avro;

/// <summary>
/// Thrown when Avro binary data (or its Confluent wire-format header) is malformed: truncated, out of range,
/// not valid UTF-8, or otherwise not a datum of the expected schema.
/// </summary>
/// <remarks>
/// The message names the byte offset (relative to the span that was being read) and, when the data was walked
/// with a schema plan, the path of the field being read, for example
/// <c>Invalid Avro data at byte 17 (field 'after.price'): string length 4000000 exceeds the 12 bytes remaining</c>.
/// </remarks>
public sealed class AvroFormatException : FormatException
{
    private string _fieldPath;

    /// <summary>Creates an exception for malformed data at byte 0 with no field path.</summary>
    public AvroFormatException()
        : this("malformed Avro data", 0, string.Empty)
    {
    }

    /// <summary>Creates an exception for malformed data at byte 0 with no field path.</summary>
    /// <param name="reason">What was wrong with the data.</param>
    public AvroFormatException(string reason)
        : this(reason, 0, string.Empty)
    {
    }

    /// <summary>Creates an exception for malformed data at byte 0 with no field path and an inner exception.</summary>
    /// <param name="reason">What was wrong with the data.</param>
    /// <param name="innerException">The exception that revealed the problem.</param>
    public AvroFormatException(string reason, Exception? innerException)
        : base(reason, innerException)
    {
        Reason = reason ?? string.Empty;
        _fieldPath = string.Empty;
    }

    /// <summary>Creates an exception for malformed data at <paramref name="offset"/>.</summary>
    /// <param name="reason">What was wrong with the data, without the offset or path.</param>
    /// <param name="offset">The byte offset, relative to the start of the span being read, where the problem was found.</param>
    /// <param name="fieldPath">The path of the field being read (for example <c>after.tags[3]</c>), or empty.</param>
    public AvroFormatException(string reason, long offset, string? fieldPath)
        : base(reason)
    {
        Reason = reason ?? string.Empty;
        Offset = offset;
        _fieldPath = fieldPath ?? string.Empty;
    }

    /// <summary>The byte offset, relative to the start of the span being read, where the problem was found.</summary>
    public long Offset { get; }

    /// <summary>The path of the field being read when the problem was found (for example <c>after.tags[3]</c>); empty at primitive level.</summary>
    public string FieldPath => _fieldPath;

    /// <summary>What was wrong with the data, without the offset and field path.</summary>
    public string Reason { get; }

    /// <inheritdoc />
    public override string Message => _fieldPath.Length == 0
        ? $"Invalid Avro data at byte {Offset}: {Reason}"
        : $"Invalid Avro data at byte {Offset} (field '{_fieldPath}'): {Reason}";

    /// <summary>Prefixes the field path with an enclosing segment while the exception unwinds through a schema walk.</summary>
    internal void PrependPath(string segment)
    {
        if (_fieldPath.Length == 0)
        {
            _fieldPath = segment;
        }
        else if (_fieldPath[0] == '[')
        {
            _fieldPath = segment + _fieldPath;
        }
        else
        {
            _fieldPath = segment + "." + _fieldPath;
        }
    }
}
