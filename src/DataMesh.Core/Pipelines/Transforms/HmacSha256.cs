using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// HMAC-SHA256 (RFC 2104, FIPS 180-4) for one key, with the SHA-256 states after the inner and outer key blocks computed
/// once, so that hashing a short value costs two or three compressions. A compression runs through OpenSSL's
/// <c>SHA256_Transform</c> (the CPU's SHA instructions) when <see cref="NativeSha256"/> is available, else in managed
/// code. Values up to 119 bytes take this path; longer ones use
/// <see cref="HMACSHA256.HashData(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/>.
/// Both give the same result (the tests check it against the framework for every length from 0 to 300 bytes).
/// </summary>
internal sealed class HmacSha256
{
    private const int BlockSize = 64;
    private const int MaxFastLength = 55 + BlockSize;

    private static readonly uint[] Initial = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

    private readonly byte[] _key;
    private readonly uint[] _inner = new uint[8];
    private readonly uint[] _outer = new uint[8];
    private readonly bool _native;

    /// <summary>Prepares the HMAC of one key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="native">Whether compressions go through OpenSSL; null (the default) when it is available.</param>
    public HmacSha256(byte[] key, bool? native = null)
    {
        _key = key;
        _native = native ?? NativeSha256.IsAvailable;
        if (_native && !NativeSha256.IsAvailable)
        {
            throw new PlatformNotSupportedException("OpenSSL's SHA256_Transform (libcrypto.so.3) is not available here.");
        }

        Span<byte> block = stackalloc byte[BlockSize];
        block.Clear();
        if (key.Length > BlockSize)
        {
            SHA256.HashData(key, block);
        }
        else
        {
            key.CopyTo(block);
        }

        Span<byte> pad = stackalloc byte[BlockSize];
        for (var i = 0; i < BlockSize; i++)
        {
            pad[i] = (byte)(block[i] ^ 0x36);
        }

        Initial.CopyTo(_inner, 0);
        Compress(_inner, pad, false);
        for (var i = 0; i < BlockSize; i++)
        {
            pad[i] = (byte)(block[i] ^ 0x5c);
        }

        Initial.CopyTo(_outer, 0);
        Compress(_outer, pad, false);
    }

    /// <summary>Writes the 32-byte HMAC of <paramref name="message"/> to <paramref name="destination"/>.</summary>
    [SkipLocalsInit]
    public void Hash(ReadOnlySpan<byte> message, Span<byte> destination)
    {
        if (message.Length > MaxFastLength)
        {
            HMACSHA256.HashData(_key, message, destination);
            return;
        }

        Span<uint> state = stackalloc uint[8];
        _inner.CopyTo(state);
        Span<byte> block = stackalloc byte[BlockSize * 2];
        block.Clear();
        message.CopyTo(block);
        block[message.Length] = 0x80;
        var blocks = message.Length <= 55 ? 1 : 2;
        BinaryPrimitives.WriteUInt64BigEndian(block.Slice((blocks * BlockSize) - 8, 8), (ulong)(BlockSize + message.Length) * 8);
        Compress(state, block[..BlockSize], _native);
        if (blocks == 2)
        {
            Compress(state, block.Slice(BlockSize, BlockSize), _native);
        }

        block[..BlockSize].Clear();
        for (var i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(block.Slice(i * 4, 4), state[i]);
        }

        block[32] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(block.Slice(56, 8), (BlockSize + 32) * 8);
        _outer.CopyTo(state);
        Compress(state, block[..BlockSize], _native);
        for (var i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(i * 4, 4), state[i]);
        }
    }

    private static void Compress(Span<uint> state, ReadOnlySpan<byte> block, bool native)
    {
        if (native)
        {
            NativeSha256.Compress(state, block);
        }
        else
        {
            Compress(state, block);
        }
    }

    /// <summary>One SHA-256 compression of a 64-byte block into <paramref name="state"/>, unrolled, with the message schedule in 16 locals.</summary>
    internal static void Compress(Span<uint> state, ReadOnlySpan<byte> block)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(block.Length, BlockSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(state.Length, 8);
        ref var input = ref MemoryMarshal.GetReference(block);
        var w0 = Load(ref input, 0);
        var w1 = Load(ref input, 4);
        var w2 = Load(ref input, 8);
        var w3 = Load(ref input, 12);
        var w4 = Load(ref input, 16);
        var w5 = Load(ref input, 20);
        var w6 = Load(ref input, 24);
        var w7 = Load(ref input, 28);
        var w8 = Load(ref input, 32);
        var w9 = Load(ref input, 36);
        var w10 = Load(ref input, 40);
        var w11 = Load(ref input, 44);
        var w12 = Load(ref input, 48);
        var w13 = Load(ref input, 52);
        var w14 = Load(ref input, 56);
        var w15 = Load(ref input, 60);
        uint a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
        h += BigSigma1(e) + (g ^ (e & (f ^ g))) + 0x428a2f98u + w0;
        d += h;
        h += BigSigma0(a) + ((a & b) | (c & (a | b)));
        g += BigSigma1(d) + (f ^ (d & (e ^ f))) + 0x71374491u + w1;
        c += g;
        g += BigSigma0(h) + ((h & a) | (b & (h | a)));
        f += BigSigma1(c) + (e ^ (c & (d ^ e))) + 0xb5c0fbcfu + w2;
        b += f;
        f += BigSigma0(g) + ((g & h) | (a & (g | h)));
        e += BigSigma1(b) + (d ^ (b & (c ^ d))) + 0xe9b5dba5u + w3;
        a += e;
        e += BigSigma0(f) + ((f & g) | (h & (f | g)));
        d += BigSigma1(a) + (c ^ (a & (b ^ c))) + 0x3956c25bu + w4;
        h += d;
        d += BigSigma0(e) + ((e & f) | (g & (e | f)));
        c += BigSigma1(h) + (b ^ (h & (a ^ b))) + 0x59f111f1u + w5;
        g += c;
        c += BigSigma0(d) + ((d & e) | (f & (d | e)));
        b += BigSigma1(g) + (a ^ (g & (h ^ a))) + 0x923f82a4u + w6;
        f += b;
        b += BigSigma0(c) + ((c & d) | (e & (c | d)));
        a += BigSigma1(f) + (h ^ (f & (g ^ h))) + 0xab1c5ed5u + w7;
        e += a;
        a += BigSigma0(b) + ((b & c) | (d & (b | c)));
        h += BigSigma1(e) + (g ^ (e & (f ^ g))) + 0xd807aa98u + w8;
        d += h;
        h += BigSigma0(a) + ((a & b) | (c & (a | b)));
        g += BigSigma1(d) + (f ^ (d & (e ^ f))) + 0x12835b01u + w9;
        c += g;
        g += BigSigma0(h) + ((h & a) | (b & (h | a)));
        f += BigSigma1(c) + (e ^ (c & (d ^ e))) + 0x243185beu + w10;
        b += f;
        f += BigSigma0(g) + ((g & h) | (a & (g | h)));
        e += BigSigma1(b) + (d ^ (b & (c ^ d))) + 0x550c7dc3u + w11;
        a += e;
        e += BigSigma0(f) + ((f & g) | (h & (f | g)));
        d += BigSigma1(a) + (c ^ (a & (b ^ c))) + 0x72be5d74u + w12;
        h += d;
        d += BigSigma0(e) + ((e & f) | (g & (e | f)));
        c += BigSigma1(h) + (b ^ (h & (a ^ b))) + 0x80deb1feu + w13;
        g += c;
        c += BigSigma0(d) + ((d & e) | (f & (d | e)));
        b += BigSigma1(g) + (a ^ (g & (h ^ a))) + 0x9bdc06a7u + w14;
        f += b;
        b += BigSigma0(c) + ((c & d) | (e & (c | d)));
        a += BigSigma1(f) + (h ^ (f & (g ^ h))) + 0xc19bf174u + w15;
        e += a;
        a += BigSigma0(b) + ((b & c) | (d & (b | c)));
        w0 += Sigma1(w14) + w9 + Sigma0(w1);
        h += BigSigma1(e) + (g ^ (e & (f ^ g))) + 0xe49b69c1u + w0;
        d += h;
        h += BigSigma0(a) + ((a & b) | (c & (a | b)));
        w1 += Sigma1(w15) + w10 + Sigma0(w2);
        g += BigSigma1(d) + (f ^ (d & (e ^ f))) + 0xefbe4786u + w1;
        c += g;
        g += BigSigma0(h) + ((h & a) | (b & (h | a)));
        w2 += Sigma1(w0) + w11 + Sigma0(w3);
        f += BigSigma1(c) + (e ^ (c & (d ^ e))) + 0x0fc19dc6u + w2;
        b += f;
        f += BigSigma0(g) + ((g & h) | (a & (g | h)));
        w3 += Sigma1(w1) + w12 + Sigma0(w4);
        e += BigSigma1(b) + (d ^ (b & (c ^ d))) + 0x240ca1ccu + w3;
        a += e;
        e += BigSigma0(f) + ((f & g) | (h & (f | g)));
        w4 += Sigma1(w2) + w13 + Sigma0(w5);
        d += BigSigma1(a) + (c ^ (a & (b ^ c))) + 0x2de92c6fu + w4;
        h += d;
        d += BigSigma0(e) + ((e & f) | (g & (e | f)));
        w5 += Sigma1(w3) + w14 + Sigma0(w6);
        c += BigSigma1(h) + (b ^ (h & (a ^ b))) + 0x4a7484aau + w5;
        g += c;
        c += BigSigma0(d) + ((d & e) | (f & (d | e)));
        w6 += Sigma1(w4) + w15 + Sigma0(w7);
        b += BigSigma1(g) + (a ^ (g & (h ^ a))) + 0x5cb0a9dcu + w6;
        f += b;
        b += BigSigma0(c) + ((c & d) | (e & (c | d)));
        w7 += Sigma1(w5) + w0 + Sigma0(w8);
        a += BigSigma1(f) + (h ^ (f & (g ^ h))) + 0x76f988dau + w7;
        e += a;
        a += BigSigma0(b) + ((b & c) | (d & (b | c)));
        w8 += Sigma1(w6) + w1 + Sigma0(w9);
        h += BigSigma1(e) + (g ^ (e & (f ^ g))) + 0x983e5152u + w8;
        d += h;
        h += BigSigma0(a) + ((a & b) | (c & (a | b)));
        w9 += Sigma1(w7) + w2 + Sigma0(w10);
        g += BigSigma1(d) + (f ^ (d & (e ^ f))) + 0xa831c66du + w9;
        c += g;
        g += BigSigma0(h) + ((h & a) | (b & (h | a)));
        w10 += Sigma1(w8) + w3 + Sigma0(w11);
        f += BigSigma1(c) + (e ^ (c & (d ^ e))) + 0xb00327c8u + w10;
        b += f;
        f += BigSigma0(g) + ((g & h) | (a & (g | h)));
        w11 += Sigma1(w9) + w4 + Sigma0(w12);
        e += BigSigma1(b) + (d ^ (b & (c ^ d))) + 0xbf597fc7u + w11;
        a += e;
        e += BigSigma0(f) + ((f & g) | (h & (f | g)));
        w12 += Sigma1(w10) + w5 + Sigma0(w13);
        d += BigSigma1(a) + (c ^ (a & (b ^ c))) + 0xc6e00bf3u + w12;
        h += d;
        d += BigSigma0(e) + ((e & f) | (g & (e | f)));
        w13 += Sigma1(w11) + w6 + Sigma0(w14);
        c += BigSigma1(h) + (b ^ (h & (a ^ b))) + 0xd5a79147u + w13;
        g += c;
        c += BigSigma0(d) + ((d & e) | (f & (d | e)));
        w14 += Sigma1(w12) + w7 + Sigma0(w15);
        b += BigSigma1(g) + (a ^ (g & (h ^ a))) + 0x06ca6351u + w14;
        f += b;
        b += BigSigma0(c) + ((c & d) | (e & (c | d)));
        w15 += Sigma1(w13) + w8 + Sigma0(w0);
        a += BigSigma1(f) + (h ^ (f & (g ^ h))) + 0x14292967u + w15;
        e += a;
        a += BigSigma0(b) + ((b & c) | (d & (b | c)));
        w0 += Sigma1(w14) + w9 + Sigma0(w1);
        h += BigSigma1(e) + (g ^ (e & (f ^ g))) + 0x27b70a85u + w0;
        d += h;
        h += BigSigma0(a) + ((a & b) | (c & (a | b)));
        w1 += Sigma1(w15) + w10 + Sigma0(w2);
        g += BigSigma1(d) + (f ^ (d & (e ^ f))) + 0x2e1b2138u + w1;
        c += g;
        g += BigSigma0(h) + ((h & a) | (b & (h | a)));
        w2 += Sigma1(w0) + w11 + Sigma0(w3);
        f += BigSigma1(c) + (e ^ (c & (d ^ e))) + 0x4d2c6dfcu + w2;
        b += f;
        f += BigSigma0(g) + ((g & h) | (a & (g | h)));
        w3 += Sigma1(w1) + w12 + Sigma0(w4);
        e += BigSigma1(b) + (d ^ (b & (c ^ d))) + 0x53380d13u + w3;
        a += e;
        e += BigSigma0(f) + ((f & g) | (h & (f | g)));
        w4 += Sigma1(w2) + w13 + Sigma0(w5);
        d += BigSigma1(a) + (c ^ (a & (b ^ c))) + 0x650a7354u + w4;
        h += d;
        d += BigSigma0(e) + ((e & f) | (g & (e | f)));
        w5 += Sigma1(w3) + w14 + Sigma0(w6);
        c += BigSigma1(h) + (b ^ (h & (a ^ b))) + 0x766a0abbu + w5;
        g += c;
        c += BigSigma0(d) + ((d & e) | (f & (d | e)));
        w6 += Sigma1(w4) + w15 + Sigma0(w7);
        b += BigSigma1(g) + (a ^ (g & (h ^ a))) + 0x81c2c92eu + w6;
        f += b;
        b += BigSigma0(c) + ((c & d) | (e & (c | d)));
        w7 += Sigma1(w5) + w0 + Sigma0(w8);
        a += BigSigma1(f) + (h ^ (f & (g ^ h))) + 0x92722c85u + w7;
        e += a;
        a += BigSigma0(b) + ((b & c) | (d & (b | c)));
        w8 += Sigma1(w6) + w1 + Sigma0(w9);
        h += BigSigma1(e) + (g ^ (e & (f ^ g))) + 0xa2bfe8a1u + w8;
        d += h;
        h += BigSigma0(a) + ((a & b) | (c & (a | b)));
        w9 += Sigma1(w7) + w2 + Sigma0(w10);
        g += BigSigma1(d) + (f ^ (d & (e ^ f))) + 0xa81a664bu + w9;
        c += g;
        g += BigSigma0(h) + ((h & a) | (b & (h | a)));
        w10 += Sigma1(w8) + w3 + Sigma0(w11);
        f += BigSigma1(c) + (e ^ (c & (d ^ e))) + 0xc24b8b70u + w10;
        b += f;
        f += BigSigma0(g) + ((g & h) | (a & (g | h)));
        w11 += Sigma1(w9) + w4 + Sigma0(w12);
        e += BigSigma1(b) + (d ^ (b & (c ^ d))) + 0xc76c51a3u + w11;
        a += e;
        e += BigSigma0(f) + ((f & g) | (h & (f | g)));
        w12 += Sigma1(w10) + w5 + Sigma0(w13);
        d += BigSigma1(a) + (c ^ (a & (b ^ c))) + 0xd192e819u + w12;
        h += d;
        d += BigSigma0(e) + ((e & f) | (g & (e | f)));
        w13 += Sigma1(w11) + w6 + Sigma0(w14);
        c += BigSigma1(h) + (b ^ (h & (a ^ b))) + 0xd6990624u + w13;
        g += c;
        c += BigSigma0(d) + ((d & e) | (f & (d | e)));
        w14 += Sigma1(w12) + w7 + Sigma0(w15);
        b += BigSigma1(g) + (a ^ (g & (h ^ a))) + 0xf40e3585u + w14;
        f += b;
        b += BigSigma0(c) + ((c & d) | (e & (c | d)));
        w15 += Sigma1(w13) + w8 + Sigma0(w0);
        a += BigSigma1(f) + (h ^ (f & (g ^ h))) + 0x106aa070u + w15;
        e += a;
        a += BigSigma0(b) + ((b & c) | (d & (b | c)));
        w0 += Sigma1(w14) + w9 + Sigma0(w1);
        h += BigSigma1(e) + (g ^ (e & (f ^ g))) + 0x19a4c116u + w0;
        d += h;
        h += BigSigma0(a) + ((a & b) | (c & (a | b)));
        w1 += Sigma1(w15) + w10 + Sigma0(w2);
        g += BigSigma1(d) + (f ^ (d & (e ^ f))) + 0x1e376c08u + w1;
        c += g;
        g += BigSigma0(h) + ((h & a) | (b & (h | a)));
        w2 += Sigma1(w0) + w11 + Sigma0(w3);
        f += BigSigma1(c) + (e ^ (c & (d ^ e))) + 0x2748774cu + w2;
        b += f;
        f += BigSigma0(g) + ((g & h) | (a & (g | h)));
        w3 += Sigma1(w1) + w12 + Sigma0(w4);
        e += BigSigma1(b) + (d ^ (b & (c ^ d))) + 0x34b0bcb5u + w3;
        a += e;
        e += BigSigma0(f) + ((f & g) | (h & (f | g)));
        w4 += Sigma1(w2) + w13 + Sigma0(w5);
        d += BigSigma1(a) + (c ^ (a & (b ^ c))) + 0x391c0cb3u + w4;
        h += d;
        d += BigSigma0(e) + ((e & f) | (g & (e | f)));
        w5 += Sigma1(w3) + w14 + Sigma0(w6);
        c += BigSigma1(h) + (b ^ (h & (a ^ b))) + 0x4ed8aa4au + w5;
        g += c;
        c += BigSigma0(d) + ((d & e) | (f & (d | e)));
        w6 += Sigma1(w4) + w15 + Sigma0(w7);
        b += BigSigma1(g) + (a ^ (g & (h ^ a))) + 0x5b9cca4fu + w6;
        f += b;
        b += BigSigma0(c) + ((c & d) | (e & (c | d)));
        w7 += Sigma1(w5) + w0 + Sigma0(w8);
        a += BigSigma1(f) + (h ^ (f & (g ^ h))) + 0x682e6ff3u + w7;
        e += a;
        a += BigSigma0(b) + ((b & c) | (d & (b | c)));
        w8 += Sigma1(w6) + w1 + Sigma0(w9);
        h += BigSigma1(e) + (g ^ (e & (f ^ g))) + 0x748f82eeu + w8;
        d += h;
        h += BigSigma0(a) + ((a & b) | (c & (a | b)));
        w9 += Sigma1(w7) + w2 + Sigma0(w10);
        g += BigSigma1(d) + (f ^ (d & (e ^ f))) + 0x78a5636fu + w9;
        c += g;
        g += BigSigma0(h) + ((h & a) | (b & (h | a)));
        w10 += Sigma1(w8) + w3 + Sigma0(w11);
        f += BigSigma1(c) + (e ^ (c & (d ^ e))) + 0x84c87814u + w10;
        b += f;
        f += BigSigma0(g) + ((g & h) | (a & (g | h)));
        w11 += Sigma1(w9) + w4 + Sigma0(w12);
        e += BigSigma1(b) + (d ^ (b & (c ^ d))) + 0x8cc70208u + w11;
        a += e;
        e += BigSigma0(f) + ((f & g) | (h & (f | g)));
        w12 += Sigma1(w10) + w5 + Sigma0(w13);
        d += BigSigma1(a) + (c ^ (a & (b ^ c))) + 0x90befffau + w12;
        h += d;
        d += BigSigma0(e) + ((e & f) | (g & (e | f)));
        w13 += Sigma1(w11) + w6 + Sigma0(w14);
        c += BigSigma1(h) + (b ^ (h & (a ^ b))) + 0xa4506cebu + w13;
        g += c;
        c += BigSigma0(d) + ((d & e) | (f & (d | e)));
        w14 += Sigma1(w12) + w7 + Sigma0(w15);
        b += BigSigma1(g) + (a ^ (g & (h ^ a))) + 0xbef9a3f7u + w14;
        f += b;
        b += BigSigma0(c) + ((c & d) | (e & (c | d)));
        w15 += Sigma1(w13) + w8 + Sigma0(w0);
        a += BigSigma1(f) + (h ^ (f & (g ^ h))) + 0xc67178f2u + w15;
        e += a;
        a += BigSigma0(b) + ((b & c) | (d & (b | c)));
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Load(ref byte input, int offset)
    {
        var value = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref input, offset));
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Sigma0(uint x) => BitOperations.RotateRight(x, 7) ^ BitOperations.RotateRight(x, 18) ^ (x >> 3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Sigma1(uint x) => BitOperations.RotateRight(x, 17) ^ BitOperations.RotateRight(x, 19) ^ (x >> 10);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint BigSigma0(uint x) => BitOperations.RotateRight(x, 2) ^ BitOperations.RotateRight(x, 13) ^ BitOperations.RotateRight(x, 22);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint BigSigma1(uint x) => BitOperations.RotateRight(x, 6) ^ BitOperations.RotateRight(x, 11) ^ BitOperations.RotateRight(x, 25);
}
