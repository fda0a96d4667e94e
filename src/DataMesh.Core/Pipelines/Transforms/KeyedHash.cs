using System.Security.Cryptography;

namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// HMAC-SHA256 under one key, through the framework's <see cref="IncrementalHash"/>: one instance per thread, created
/// with the key at the thread's first value and reset after each hash, so that hashing a value allocates nothing. That
/// is cheaper than <see cref="HMACSHA256.HashData(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/>, which sets up
/// the key again for every value (measured: docs/benchmarks.md, "Mask hash on the BCL").
/// </summary>
/// <remarks>
/// Thread-safe: each thread hashes with its own instance. The instances hold native contexts; they are released when
/// this object and the thread's slot are collected (there is no dispose: a plan has no end of life).
/// </remarks>
internal sealed class KeyedHash
{
    private readonly byte[] _key;
    private readonly ThreadLocal<IncrementalHash> _hmac;

    /// <summary>Prepares the HMAC of one key.</summary>
    /// <param name="key">The key; copied.</param>
    public KeyedHash(ReadOnlySpan<byte> key)
    {
        _key = key.ToArray();
        _hmac = new ThreadLocal<IncrementalHash>(Create);
    }

    /// <summary>Writes the 32-byte HMAC of <paramref name="message"/> to <paramref name="destination"/>.</summary>
    public void Hash(ReadOnlySpan<byte> message, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, HMACSHA256.HashSizeInBytes, nameof(destination));
        var hmac = _hmac.Value!;
        try
        {
            hmac.AppendData(message);
            hmac.TryGetHashAndReset(destination, out _);
        }
        catch
        {
            // The instance may hold part of this message: the next value must not be hashed after it.
            hmac.Dispose();
            _hmac.Value = Create();
            throw;
        }
    }

    private IncrementalHash Create() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
}
