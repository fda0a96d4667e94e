using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace DataMesh.Avro;

/// <summary>Conversions between <see cref="decimal"/>, unscaled integers and Avro's two's-complement decimal bytes.</summary>
[SkipLocalsInit]
internal static class AvroDecimals
{
    /// <summary>The largest precision whose bound 10^p fits in <see cref="UInt128"/> with room for a sign.</summary>
    private const int MaxInt128Precision = 38;

    /// <summary>The largest precision whose bound 10^p fits a <see cref="long"/>.</summary>
    private const int MaxInt64Precision = 18;

    private static readonly UInt128[] Pow10 = CreatePow10();
    private static readonly ulong[] Pow10UInt64 = CreatePow10UInt64();
    private static readonly BigInteger[] BigPow10 = CreateBigPow10();

    public static void CheckPrecisionAndScale(int precision, int scale)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(precision);
        ArgumentOutOfRangeException.ThrowIfNegative(scale);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(scale, precision);
    }

    /// <summary>
    /// The unscaled value of <paramref name="value"/> at <paramref name="scale"/> as an <see cref="Int128"/>, checked
    /// against <paramref name="precision"/>; <see langword="false"/> when it needs more than 127 bits (use the big path).
    /// </summary>
    public static bool TryGetUnscaled(decimal value, int precision, int scale, out Int128 unscaled)
    {
        CheckPrecisionAndScale(precision, scale);
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var magnitude = ((UInt128)(uint)bits[2] << 64) | ((UInt128)(uint)bits[1] << 32) | (uint)bits[0];
        var valueScale = (bits[3] >> 16) & 0xFF;
        var negative = bits[3] < 0;

        if (valueScale > scale)
        {
            var divisor = Pow10[valueScale - scale];
            var quotient = UInt128.DivRem(magnitude, divisor);
            if (quotient.Remainder != 0)
            {
                throw WouldRound(value, scale);
            }

            magnitude = quotient.Quotient;
        }
        else if (valueScale < scale && magnitude != 0)
        {
            var k = scale - valueScale;
            if (k > MaxInt128Precision || magnitude > UInt128.MaxValue / Pow10[k])
            {
                unscaled = default;
                return false;
            }

            magnitude *= Pow10[k];
        }

        if (precision <= MaxInt128Precision)
        {
            if (magnitude >= Pow10[precision])
            {
                throw PrecisionExceeded(value.ToString(CultureInfo.InvariantCulture), precision, scale);
            }
        }
        else if (magnitude > (UInt128)Int128.MaxValue)
        {
            unscaled = default;
            return false;
        }

        unscaled = negative ? -(Int128)magnitude : (Int128)magnitude;
        return true;
    }

    /// <summary>
    /// The unscaled value of <paramref name="value"/> at <paramref name="scale"/> as a <see cref="long"/>, for the common
    /// case of a value whose scale is at most <paramref name="scale"/> and whose unscaled value fits 63 bits and the
    /// precision; <see langword="false"/> for everything else (use <see cref="TryGetUnscaled"/>, which also reports errors).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryGetUnscaledInt64(decimal value, int precision, int scale, out long unscaled)
    {
        unscaled = 0;
        if ((uint)(precision - 1) >= MaxInt64Precision || (uint)scale > (uint)precision)
        {
            return false;
        }

        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var valueScale = (bits[3] >> 16) & 0xFF;
        if (bits[2] != 0 || valueScale > scale)
        {
            return false;
        }

        var magnitude = ((ulong)(uint)bits[1] << 32) | (uint)bits[0];
        if (valueScale < scale)
        {
            var factor = Pow10UInt64[scale - valueScale];
            if (magnitude > ulong.MaxValue / factor)
            {
                return false;
            }

            magnitude *= factor;
        }

        if (magnitude >= Pow10UInt64[precision])
        {
            return false;
        }

        unscaled = bits[3] < 0 ? -(long)magnitude : (long)magnitude;
        return true;
    }

    /// <summary>The unscaled value of <paramref name="value"/> at <paramref name="scale"/> as a <see cref="BigInteger"/> (allocates; rare path).</summary>
    public static BigInteger GetUnscaledBig(decimal value, int precision, int scale)
    {
        CheckPrecisionAndScale(precision, scale);
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var magnitude = ((UInt128)(uint)bits[2] << 64) | ((UInt128)(uint)bits[1] << 32) | (uint)bits[0];
        var valueScale = (bits[3] >> 16) & 0xFF;
        var result = (BigInteger)magnitude;
        if (valueScale < scale)
        {
            result *= BigInteger.Pow(10, scale - valueScale);
        }
        else if (valueScale > scale)
        {
            result = BigInteger.DivRem(result, BigInteger.Pow(10, valueScale - scale), out var remainder);
            if (!remainder.IsZero)
            {
                throw WouldRound(value, scale);
            }
        }

        if (bits[3] < 0)
        {
            result = -result;
        }

        if (BigInteger.Abs(result) >= PowerOfTen(precision))
        {
            throw PrecisionExceeded(value.ToString(CultureInfo.InvariantCulture), precision, scale);
        }

        return result;
    }

    public static void CheckPrecision(BigInteger unscaled, int precision)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(precision);
        if (BigInteger.Abs(unscaled) >= PowerOfTen(precision))
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The unscaled decimal value {unscaled} has more digits than the precision {precision}; it cannot be written without loss."),
                nameof(unscaled));
        }
    }

    /// <summary>How many leading bytes of a big-endian two's-complement number only repeat the sign and can be dropped.</summary>
    public static int RedundantSignBytes(ReadOnlySpan<byte> bigEndian)
    {
        var i = 0;
        while (i < bigEndian.Length - 1
            && ((bigEndian[i] == 0 && (bigEndian[i + 1] & 0x80) == 0) || (bigEndian[i] == 0xFF && (bigEndian[i + 1] & 0x80) != 0)))
        {
            i++;
        }

        return i;
    }

    /// <summary>Reads big-endian two's-complement bytes as an <see cref="Int128"/>; <see langword="false"/> if the value needs more than 128 bits.</summary>
    public static bool TryReadInt128(ReadOnlySpan<byte> bigEndian, out Int128 value)
    {
        if (bigEndian.IsEmpty)
        {
            value = 0;
            return true;
        }

        var skip = RedundantSignBytes(bigEndian);
        var minimal = bigEndian[skip..];
        if (minimal.Length > 16)
        {
            value = default;
            return false;
        }

        Span<byte> buffer = stackalloc byte[16];
        buffer.Fill((minimal[0] & 0x80) != 0 ? (byte)0xFF : (byte)0);
        minimal.CopyTo(buffer[(16 - minimal.Length)..]);
        value = BinaryPrimitives.ReadInt128BigEndian(buffer);
        return true;
    }

    /// <summary>Converts an unscaled value and scale to a <see cref="decimal"/>; <see langword="false"/> if it cannot be represented exactly.</summary>
    public static bool TryToDecimal(Int128 unscaled, int scale, out decimal value)
    {
        var negative = unscaled < 0;
        var magnitude = negative ? (UInt128)(-(unscaled + 1)) + 1 : (UInt128)unscaled;
        while (scale > 28 && magnitude != 0)
        {
            var (quotient, remainder) = UInt128.DivRem(magnitude, 10);
            if (remainder != 0)
            {
                value = default;
                return false;
            }

            magnitude = quotient;
            scale--;
        }

        if (scale > 28)
        {
            scale = 0;
        }

        if (scale < 0 || magnitude >> 96 != 0)
        {
            value = default;
            return false;
        }

        value = new decimal((int)(uint)magnitude, (int)(uint)(magnitude >> 32), (int)(uint)(magnitude >> 64), negative, (byte)scale);
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ArgumentException WouldRound(decimal value, int scale) =>
        new(string.Create(CultureInfo.InvariantCulture, $"The decimal {value} has more than {scale} fractional digits; writing it at scale {scale} would round it."), nameof(value));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ArgumentException PrecisionExceeded(string value, int precision, int scale) =>
        new(string.Create(CultureInfo.InvariantCulture, $"The decimal {value} has more than {precision} digits at scale {scale}; it does not fit decimal({precision},{scale})."), nameof(value));

    private static BigInteger PowerOfTen(int exponent) =>
        exponent < BigPow10.Length ? BigPow10[exponent] : BigInteger.Pow(10, exponent);

    private static UInt128[] CreatePow10()
    {
        var table = new UInt128[MaxInt128Precision + 1];
        table[0] = 1;
        for (var i = 1; i < table.Length; i++)
        {
            table[i] = table[i - 1] * 10;
        }

        return table;
    }

    private static ulong[] CreatePow10UInt64()
    {
        var table = new ulong[20];
        table[0] = 1;
        for (var i = 1; i < table.Length; i++)
        {
            table[i] = table[i - 1] * 10;
        }

        return table;
    }

    private static BigInteger[] CreateBigPow10()
    {
        var table = new BigInteger[80];
        table[0] = BigInteger.One;
        for (var i = 1; i < table.Length; i++)
        {
            table[i] = table[i - 1] * 10;
        }

        return table;
    }
}
