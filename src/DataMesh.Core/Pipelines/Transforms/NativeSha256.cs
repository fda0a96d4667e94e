using System.Runtime.InteropServices;

namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// One SHA-256 compression through OpenSSL's <c>SHA256_Transform</c> (libcrypto 3, the library .NET's own cryptography
/// uses on Linux), which runs on the CPU's SHA instructions when it has them — several times faster than the managed
/// compression. Used only when the library and the function load and a known-answer check passes at first use;
/// otherwise <see cref="IsAvailable"/> is false and <see cref="HmacSha256"/> compresses in managed code.
/// </summary>
internal static unsafe class NativeSha256
{
    private static readonly delegate* unmanaged[Cdecl]<uint*, byte*, void> Transform = Load();

    /// <summary>Whether the native compression can be used here.</summary>
    public static bool IsAvailable => Transform != null;

    /// <summary>Compresses one 64-byte block into <paramref name="state"/> (8 words).</summary>
    public static void Compress(Span<uint> state, ReadOnlySpan<byte> block)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(block.Length, 64);
        ArgumentOutOfRangeException.ThrowIfLessThan(state.Length, 8);

        // OpenSSL's SHA256_CTX: h[8], Nl, Nh, data[16], num, md_len (112 bytes); the transform reads and writes h only.
        var context = stackalloc uint[28];
        fixed (uint* words = state)
        fixed (byte* bytes = block)
        {
            Buffer.MemoryCopy(words, context, 32, 32);
            Transform(context, bytes);
            Buffer.MemoryCopy(context, words, 32, 32);
        }
    }

    private static delegate* unmanaged[Cdecl]<uint*, byte*, void> Load()
    {
        if (!OperatingSystem.IsLinux()
            || !NativeLibrary.TryLoad("libcrypto.so.3", typeof(NativeSha256).Assembly, null, out var library)
            || !NativeLibrary.TryGetExport(library, "SHA256_Transform", out var export))
        {
            return null;
        }

        var transform = (delegate* unmanaged[Cdecl]<uint*, byte*, void>)export;

        // Known answer: SHA-256("abc") is one compression of the padded block from the initial state.
        var context = stackalloc uint[28];
        uint[] initial = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
        for (var i = 0; i < 8; i++)
        {
            context[i] = initial[i];
        }

        var block = stackalloc byte[64];
        new Span<byte>(block, 64).Clear();
        block[0] = (byte)'a';
        block[1] = (byte)'b';
        block[2] = (byte)'c';
        block[3] = 0x80;
        block[63] = 24;
        transform(context, block);
        return context[0] == 0xba7816bf && context[7] == 0xf20015ad ? transform : null;
    }
}
