namespace DataMesh.Pipelines.Transforms;

/// <summary>How a mask transform hides values.</summary>
public enum MaskMode
{
    /// <summary>Strings become <see cref="MaskOptions.Replacement"/>; values of other nullable types become null.</summary>
    Redact,

    /// <summary>Values become the HMAC-SHA256 of their bytes under <see cref="MaskOptions.HashKey"/>, as text: equal values keep equal hashes, so joins still work.</summary>
    Hash,
}

/// <summary>How a keyed hash is written.</summary>
public enum HashFormat
{
    /// <summary>64 lowercase hexadecimal digits.</summary>
    Hex,

    /// <summary>44 characters of standard base64.</summary>
    Base64,
}

/// <summary>Settings of a mask transform.</summary>
public sealed class MaskOptions
{
    /// <summary>Redact or hash; <see cref="MaskMode.Redact"/> by default.</summary>
    public MaskMode Mode { get; init; }

    /// <summary>The text that replaces redacted strings; <c>***</c> by default.</summary>
    public string Replacement { get; init; } = "***";

    /// <summary>
    /// The secret key of the keyed hash (at least 16 bytes); required for <see cref="MaskMode.Hash"/>. Keep it out of source
    /// code. Under <see cref="MaskMode.Redact"/> it is needed when a redacted column is part of the Kafka key: the key's column
    /// is then replaced by its keyed hash, so that records keep distinct keys (and their partitions).
    /// </summary>
    public ReadOnlyMemory<byte>? HashKey { get; init; }

    /// <summary>How hashes are written; hex by default.</summary>
    public HashFormat HashFormat { get; init; }

    internal void Validate()
    {
        if (Mode == MaskMode.Hash && (HashKey is not { } key || key.Length < 16))
        {
            throw new ArgumentException("MaskOptions.HashKey must hold a secret of at least 16 bytes for MaskMode.Hash.");
        }

        if (HashKey is { Length: < 16 })
        {
            throw new ArgumentException("MaskOptions.HashKey must hold a secret of at least 16 bytes, or be left unset.");
        }

        ArgumentNullException.ThrowIfNull(Replacement);
    }
}
