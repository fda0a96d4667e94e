using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;

namespace DataMesh.Avro;

/// <summary>
/// Confluent's wire format for schema-registry-serialized messages: a magic byte 0, the schema id as a 4-byte
/// big-endian integer, then the Avro binary datum.
/// </summary>
public static class ConfluentWireFormat
{
    /// <summary>The magic byte that starts every message.</summary>
    public const byte MagicByte = 0;

    /// <summary>The length of the header: the magic byte and the 4-byte schema id.</summary>
    public const int HeaderLength = 5;

    /// <summary>Writes the 5-byte header to <paramref name="output"/>.</summary>
    /// <param name="output">The destination; 5 bytes are written and committed.</param>
    /// <param name="schemaId">The schema registry id of the writer schema; must not be negative.</param>
    public static void WriteHeader(IBufferWriter<byte> output, int schemaId)
    {
        ArgumentNullException.ThrowIfNull(output);
        WriteHeader(output.GetSpan(HeaderLength), schemaId);
        output.Advance(HeaderLength);
    }

    /// <summary>Writes the 5-byte header to the start of <paramref name="destination"/>.</summary>
    /// <param name="destination">At least 5 bytes.</param>
    /// <param name="schemaId">The schema registry id of the writer schema; must not be negative.</param>
    /// <returns>The number of bytes written, always <see cref="HeaderLength"/>.</returns>
    public static int WriteHeader(Span<byte> destination, int schemaId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(schemaId);
        if (destination.Length < HeaderLength)
        {
            throw new ArgumentException($"The destination has {destination.Length} bytes; the header needs {HeaderLength}.", nameof(destination));
        }

        destination[0] = MagicByte;
        BinaryPrimitives.WriteInt32BigEndian(destination[1..], schemaId);
        return HeaderLength;
    }

    /// <summary>Reads the header of a message, without throwing.</summary>
    /// <param name="message">The whole message value (or key).</param>
    /// <param name="schemaId">The schema id, when the header is valid.</param>
    /// <param name="payload">The Avro datum after the header, when the header is valid.</param>
    /// <returns><see langword="true"/> if the message starts with the magic byte and has a full header.</returns>
    public static bool TryReadHeader(ReadOnlySpan<byte> message, out int schemaId, out ReadOnlySpan<byte> payload)
    {
        if (message.Length < HeaderLength || message[0] != MagicByte)
        {
            schemaId = 0;
            payload = default;
            return false;
        }

        schemaId = BinaryPrimitives.ReadInt32BigEndian(message[1..]);
        payload = message[HeaderLength..];
        return true;
    }

    /// <summary>Reads the header of a message.</summary>
    /// <param name="message">The whole message value (or key).</param>
    /// <param name="schemaId">The schema id.</param>
    /// <param name="payload">The Avro datum after the header.</param>
    /// <exception cref="AvroFormatException">The message is shorter than 5 bytes or does not start with the magic byte 0.</exception>
    public static void ReadHeader(ReadOnlySpan<byte> message, out int schemaId, out ReadOnlySpan<byte> payload)
    {
        if (TryReadHeader(message, out schemaId, out payload))
        {
            return;
        }

        if (message.Length > 0 && message[0] != MagicByte)
        {
            throw new AvroFormatException(
                string.Create(CultureInfo.InvariantCulture, $"magic byte is 0x{message[0]:X2}, not 0x00; the message is not in the Confluent wire format"),
                0,
                string.Empty);
        }

        throw new AvroFormatException(
            string.Create(CultureInfo.InvariantCulture, $"Confluent wire-format header needs {HeaderLength} bytes but the message has {message.Length}"),
            message.Length,
            string.Empty);
    }
}
