using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// One SHA-256 compression through OpenSSL's <c>SHA256_Transform</c> (libcrypto 3, the library .NET's own cryptography
/// uses on Linux), which runs on the CPU's SHA instructions when it has them — several times faster than the managed
/// compression. Used only when the library and the function load and a known-answer check passes at first use;
/// otherwise <see cref="IsAvailable"/> is false and <see cref="HmacSha256"/> compresses in managed code.
/// </summary>
internal static unsafe partial class NativeSha256
{
    private const string Library = "libcrypto.so.3";

    /// <summary>Whether the native compression can be used here.</summary>
    public static bool IsAvailable { get; } = Load();

    /// <summary>Compresses one 64-byte block into <paramref name="state"/> (8 words).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Compress(Span<uint> state, ReadOnlySpan<byte> block)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(block.Length, 64);
        ArgumentOutOfRangeException.ThrowIfLessThan(state.Length, 8);

        // OpenSSL's SHA256_CTX: h[8], Nl, Nh, data[16], num, md_len (112 bytes); the transform reads and writes h only.
        var context = stackalloc uint[28];
        fixed (uint* words = state)
        fixed (byte* bytes = block)
        {
            // 256-bit loads and stores on purpose: in a method that uses 256-bit vectors the JIT clears the upper vector
            // state (vzeroupper) before a P/Invoke, and OpenSSL's SHA instructions are legacy SSE, which run about three
            // times slower while that state is dirty (measured: one HMAC ~150 ns clean against ~450 ns).
            Vector256.Store(Vector256.Load(words), context);
            Transform(context, bytes);
            Vector256.Store(Vector256.Load(context), words);
        }
    }

    // A plain P/Invoke (not a function pointer, not [SuppressGCTransition]): only then did the JIT clear the upper vector
    // state before the call (see Compress), measured in the pipeline benchmark.
    [LibraryImport(Library, EntryPoint = "SHA256_Transform")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static partial void Transform(uint* context, byte* block);

    private static bool Load()
    {
        if (!OperatingSystem.IsLinux()
            || !NativeLibrary.TryLoad(Library, typeof(NativeSha256).Assembly, null, out var library)
            || !NativeLibrary.TryGetExport(library, "SHA256_Transform", out _))
        {
            return false;
        }

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
        Transform(context, block);
        return context[0] == 0xba7816bf && context[7] == 0xf20015ad;
    }
}
