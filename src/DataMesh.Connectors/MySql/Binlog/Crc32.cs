using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// The CRC-32 of zlib (ISO-HDLC, reflected polynomial 0xEDB88320) that the binlog uses for event checksums
/// (<c>binlog_checksum=CRC32</c>), slicing by 8 bytes at a time.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        var table = Table;
        ref var t = ref table[0];
        while (data.Length >= 8)
        {
            var low = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            var high = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = Unsafe.Add(ref t, (7 * 256) + (int)(low & 0xFF))
                ^ Unsafe.Add(ref t, (6 * 256) + (int)((low >> 8) & 0xFF))
                ^ Unsafe.Add(ref t, (5 * 256) + (int)((low >> 16) & 0xFF))
                ^ Unsafe.Add(ref t, (4 * 256) + (int)(low >> 24))
                ^ Unsafe.Add(ref t, (3 * 256) + (int)(high & 0xFF))
                ^ Unsafe.Add(ref t, (2 * 256) + (int)((high >> 8) & 0xFF))
                ^ Unsafe.Add(ref t, 256 + (int)((high >> 16) & 0xFF))
                ^ Unsafe.Add(ref t, (int)(high >> 24));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = Unsafe.Add(ref t, (int)((crc ^ b) & 0xFF)) ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        for (var i = 0; i < 256; i++)
        {
            for (var slice = 1; slice < 8; slice++)
            {
                var previous = table[((slice - 1) * 256) + i];
                table[(slice * 256) + i] = table[previous & 0xFF] ^ (previous >> 8);
            }
        }

        return table;
    }
}
