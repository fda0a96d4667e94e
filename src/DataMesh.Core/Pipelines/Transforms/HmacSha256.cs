using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// HMAC-SHA256 (RFC 2104, FIPS 180-4) for one key, with the SHA-256 states after the inner and outer key blocks computed
/// once, so that hashing a short value costs two or three compressions and no native call. Values up to 55 bytes take
/// this path; longer ones use <see cref="HMACSHA256.HashData(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/>.
/// Both give the same result (the tests check it against the framework for every length from 0 to 300 bytes).
/// </summary>
internal sealed class HmacSha256
{
    private const int BlockSize = 64;
    private const int MaxFastLength = 55 + BlockSize;

    private static readonly uint[] K =
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    private static readonly uint[] Initial = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

    private readonly byte[] _key;
    private readonly uint[] _inner = new uint[8];
    private readonly uint[] _outer = new uint[8];

    public HmacSha256(byte[] key)
    {
        _key = key;
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
        Compress(_inner, pad);
        for (var i = 0; i < BlockSize; i++)
        {
            pad[i] = (byte)(block[i] ^ 0x5c);
        }

        Initial.CopyTo(_outer, 0);
        Compress(_outer, pad);
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
        Compress(state, block[..BlockSize]);
        if (blocks == 2)
        {
            Compress(state, block.Slice(BlockSize, BlockSize));
        }

        block[..BlockSize].Clear();
        for (var i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(block.Slice(i * 4, 4), state[i]);
        }

        block[32] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(block.Slice(56, 8), (BlockSize + 32) * 8);
        _outer.CopyTo(state);
        Compress(state, block[..BlockSize]);
        for (var i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(i * 4, 4), state[i]);
        }
    }

    [SkipLocalsInit]
    private static unsafe void Compress(Span<uint> state, ReadOnlySpan<byte> block)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(block.Length, BlockSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(state.Length, 8);
        var w = stackalloc uint[64];
        fixed (byte* input = block)
        fixed (uint* k = K)
        fixed (uint* st = state)
        {
            for (var i = 0; i < 16; i++)
            {
                w[i] = BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(input + (i * 4)));
            }

            for (var i = 16; i < 64; i++)
            {
                var x = w[i - 15];
                var y = w[i - 2];
                var s0 = BitOperations.RotateRight(x, 7) ^ BitOperations.RotateRight(x, 18) ^ (x >> 3);
                var s1 = BitOperations.RotateRight(y, 17) ^ BitOperations.RotateRight(y, 19) ^ (y >> 10);
                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
            }

            uint a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
            for (var i = 0; i < 64; i++)
            {
                var t1 = h + (BitOperations.RotateRight(e, 6) ^ BitOperations.RotateRight(e, 11) ^ BitOperations.RotateRight(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
                var t2 = (BitOperations.RotateRight(a, 2) ^ BitOperations.RotateRight(a, 13) ^ BitOperations.RotateRight(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
                h = g;
                g = f;
                f = e;
                e = d + t1;
                d = c;
                c = b;
                b = a;
                a = t1 + t2;
            }

            st[0] += a;
            st[1] += b;
            st[2] += c;
            st[3] += d;
            st[4] += e;
            st[5] += f;
            st[6] += g;
            st[7] += h;
        }
    }
}
