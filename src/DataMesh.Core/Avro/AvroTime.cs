using System.Globalization;
using System.Runtime.CompilerServices;

namespace DataMesh.Avro;

/// <summary>Epoch arithmetic for Avro's date and time logical types.</summary>
internal static class AvroTime
{
    /// <summary><see cref="DateTime.UnixEpoch"/> in ticks.</summary>
    public const long EpochTicks = 621_355_968_000_000_000;

    /// <summary>The <see cref="DateOnly.DayNumber"/> of 1970-01-01.</summary>
    public const int EpochDayNumber = 719_162;

    public static long UtcTicks(DateTime value) =>
        value.Kind == DateTimeKind.Local ? value.ToUniversalTime().Ticks : value.Ticks;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long ExactDivide(long ticks, long ticksPerUnit, string paramName)
    {
        var quotient = ticks / ticksPerUnit;
        var remainder = ticks - (quotient * ticksPerUnit);
        if (remainder != 0)
        {
            ThrowFraction(remainder, ticksPerUnit, paramName);
        }

        return quotient;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowFraction(long remainder, long ticksPerUnit, string paramName)
    {
        var unit = ticksPerUnit == TimeSpan.TicksPerMillisecond ? "millisecond" : "microsecond";
        throw new ArgumentException(
            string.Create(CultureInfo.InvariantCulture, $"The value has a fraction of a {unit} ({remainder} ticks) that the Avro type cannot hold; truncate it explicitly or use a finer type."),
            paramName);
    }

    /// <summary>Converts a count of units since the epoch to ticks; <see langword="false"/> outside <see cref="DateTime"/>'s range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryToTicks(long units, long ticksPerUnit, out long ticks)
    {
        const long MinOffset = -EpochTicks;
        const long MaxOffset = 3_155_378_975_999_999_999 - EpochTicks;
        if (units < MinOffset / ticksPerUnit || units > MaxOffset / ticksPerUnit)
        {
            ticks = 0;
            return false;
        }

        ticks = EpochTicks + (units * ticksPerUnit);
        return true;
    }
}
