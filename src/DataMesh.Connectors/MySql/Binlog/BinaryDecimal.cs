using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// MySQL's binary DECIMAL(p,s): the integer and fraction digits in groups of nine, each group a 4-byte big-endian
/// number, a leading or trailing partial group in 1 to 4 bytes; the first bit flipped, and every byte inverted for
/// negative values. Decoded exactly to the unscaled integer (value × 10^s).
/// </summary>
internal static class BinaryDecimal
{
    private const int DigitsPerGroup = 9;
    private static readonly int[] DigitBytes = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    private static readonly uint[] Powers = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

    /// <summary>The size in bytes of a DECIMAL(precision, scale) value.</summary>
    public static int Size(int precision, int scale)
    {
        var integral = precision - scale;
        return ((integral / DigitsPerGroup) * 4) + DigitBytes[integral % DigitsPerGroup] + ((scale / DigitsPerGroup) * 4) + DigitBytes[scale % DigitsPerGroup];
    }

    /// <summary>Decodes a value of precision 38 or less into its unscaled integer.</summary>
    /// <returns>False when a group holds more digits than it may (corrupt bytes).</returns>
    public static bool TryDecode(ReadOnlySpan<byte> cell, int precision, int scale, out Int128 unscaled)
    {
        unscaled = 0;
        var negative = (cell[0] & 0x80) == 0;
        var mask = negative ? (byte)0xFF : (byte)0;
        var integral = precision - scale;
        var offset = 0;
        var ok = true;
        Int128 value = 0;
        var leading = integral % DigitsPerGroup;
        if (leading > 0)
        {
            value = ReadGroup(cell, ref offset, DigitBytes[leading], mask, leading, ref ok);
        }

        for (var i = 0; i < integral / DigitsPerGroup; i++)
        {
            value = (value * 1_000_000_000) + ReadGroup(cell, ref offset, 4, mask, DigitsPerGroup, ref ok);
        }

        for (var i = 0; i < scale / DigitsPerGroup; i++)
        {
            value = (value * 1_000_000_000) + ReadGroup(cell, ref offset, 4, mask, DigitsPerGroup, ref ok);
        }

        var trailing = scale % DigitsPerGroup;
        if (trailing > 0)
        {
            value = (value * Powers[trailing]) + ReadGroup(cell, ref offset, DigitBytes[trailing], mask, trailing, ref ok);
        }

        unscaled = negative ? -value : value;
        return ok;
    }

    /// <summary>Decodes a value of any precision (up to 65 digits) into its unscaled integer.</summary>
    /// <exception cref="FormatException">A group holds more digits than it may.</exception>
    public static BigInteger DecodeBig(ReadOnlySpan<byte> cell, int precision, int scale)
    {
        var negative = (cell[0] & 0x80) == 0;
        var mask = negative ? (byte)0xFF : (byte)0;
        var integral = precision - scale;
        var offset = 0;
        var ok = true;
        BigInteger value = BigInteger.Zero;
        var leading = integral % DigitsPerGroup;
        if (leading > 0)
        {
            value = ReadGroup(cell, ref offset, DigitBytes[leading], mask, leading, ref ok);
        }

        for (var i = 0; i < (integral / DigitsPerGroup) + (scale / DigitsPerGroup); i++)
        {
            value = (value * 1_000_000_000) + ReadGroup(cell, ref offset, 4, mask, DigitsPerGroup, ref ok);
        }

        var trailing = scale % DigitsPerGroup;
        if (trailing > 0)
        {
            value = (value * Powers[trailing]) + ReadGroup(cell, ref offset, DigitBytes[trailing], mask, trailing, ref ok);
        }

        if (!ok)
        {
            throw new FormatException("a DECIMAL digit group holds more digits than its size allows");
        }

        return negative ? -value : value;
    }

    /// <summary>Writes the plain text of an unscaled value at a scale (<c>-12.3400</c>) into <paramref name="destination"/>.</summary>
    /// <returns>The number of characters written.</returns>
    public static int FormatText(Int128 unscaled, int scale, Span<char> destination)
    {
        var negative = unscaled < 0;
        var magnitude = negative ? (UInt128)(-unscaled) : (UInt128)unscaled;
        Span<char> digits = stackalloc char[48];
        var count = 0;
        do
        {
            digits[count++] = (char)('0' + (int)(magnitude % 10));
            magnitude /= 10;
        }
        while (magnitude != 0);

        while (count <= scale)
        {
            digits[count++] = '0';
        }

        var at = 0;
        if (negative)
        {
            destination[at++] = '-';
        }

        for (var i = count - 1; i >= 0; i--)
        {
            destination[at++] = digits[i];
            if (i == scale && scale > 0)
            {
                destination[at++] = '.';
            }
        }

        return at;
    }

    /// <summary>The plain text of an unscaled value at a scale, for any precision.</summary>
    public static string FormatText(BigInteger unscaled, int scale)
    {
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        var text = scale == 0 ? digits : string.Concat(digits.AsSpan(0, digits.Length - scale), ".", digits.AsSpan(digits.Length - scale));
        return unscaled.Sign < 0 ? "-" + text : text;
    }

    private static uint ReadGroup(ReadOnlySpan<byte> cell, ref int offset, int bytes, byte mask, int digits, ref bool ok)
    {
        uint value = 0;
        for (var i = 0; i < bytes; i++)
        {
            var b = (byte)(cell[offset + i] ^ mask);
            if (offset + i == 0)
            {
                b ^= 0x80;
            }

            value = (value << 8) | b;
        }

        offset += bytes;
        if (value >= Powers[digits])
        {
            ok = false;
        }

        return value;
    }

    /// <summary>Reads a big-endian unsigned integer of 1 to 8 bytes.</summary>
    public static ulong ReadBigEndian(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 8)
        {
            return BinaryPrimitives.ReadUInt64BigEndian(bytes);
        }

        ulong value = 0;
        foreach (var b in bytes)
        {
            value = (value << 8) | b;
        }

        return value;
    }
}
