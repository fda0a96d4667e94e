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

    /// <summary>Writes the binary form of a DECIMAL(precision, scale) from its text (<c>-12.3400</c>, as the server gives it
    /// for <c>CAST(column AS BINARY)</c>): the inverse of <see cref="DecodeBig"/>, as MySQL's <c>decimal2bin</c>.</summary>
    /// <returns>The bytes written (<see cref="Size"/>).</returns>
    /// <exception cref="FormatException">Not a decimal that fits DECIMAL(precision, scale).</exception>
    public static int Encode(ReadOnlySpan<byte> text, int precision, int scale, Span<byte> cell)
    {
        var negative = text.Length > 0 && text[0] == '-';
        var digits = negative ? text[1..] : text;
        var point = digits.IndexOf((byte)'.');
        var integer = point < 0 ? digits : digits[..point];
        var fraction = point < 0 ? [] : digits[(point + 1)..];
        while (integer.Length > 0 && integer[0] == '0')
        {
            integer = integer[1..];
        }

        var integral = precision - scale;
        if (integer.Length > integral || fraction.Length > scale || integer.ContainsAnyExceptInRange((byte)'0', (byte)'9')
            || fraction.ContainsAnyExceptInRange((byte)'0', (byte)'9') || digits.Length == 0)
        {
            throw new FormatException($"'{System.Text.Encoding.ASCII.GetString(text)}' is not a DECIMAL({precision},{scale})");
        }

        // Every digit of DECIMAL(precision, scale) in order: the integral part right-aligned, the fraction left-aligned.
        Span<byte> all = stackalloc byte[precision];
        all.Clear();
        for (var i = 0; i < integer.Length; i++)
        {
            all[integral - integer.Length + i] = (byte)(integer[i] - '0');
        }

        for (var i = 0; i < fraction.Length; i++)
        {
            all[integral + i] = (byte)(fraction[i] - '0');
        }

        var size = Size(precision, scale);
        var offset = 0;
        var at = 0;
        var zero = true;
        var leading = integral % DigitsPerGroup;
        if (leading > 0)
        {
            zero &= WriteGroup(cell, ref offset, DigitBytes[leading], all, ref at, leading);
        }

        for (var i = 0; i < (integral / DigitsPerGroup) + (scale / DigitsPerGroup); i++)
        {
            zero &= WriteGroup(cell, ref offset, 4, all, ref at, DigitsPerGroup);
        }

        var trailing = scale % DigitsPerGroup;
        if (trailing > 0)
        {
            zero &= WriteGroup(cell, ref offset, DigitBytes[trailing], all, ref at, trailing);
        }

        if (negative && !zero)
        {
            for (var i = 0; i < size; i++)
            {
                cell[i] = (byte)~cell[i];
            }
        }

        cell[0] ^= 0x80;
        return size;

        static bool WriteGroup(Span<byte> cell, ref int offset, int bytes, ReadOnlySpan<byte> digits, ref int at, int count)
        {
            uint value = 0;
            for (var i = 0; i < count; i++)
            {
                value = (value * 10) + digits[at++];
            }

            for (var i = bytes - 1; i >= 0; i--)
            {
                cell[offset + i] = (byte)(value >> (8 * (bytes - 1 - i)));
            }

            offset += bytes;
            return value == 0;
        }
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
