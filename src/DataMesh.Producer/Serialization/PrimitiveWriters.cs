using DataMesh.Avro;

namespace DataMesh.Producer.Serialization;

internal sealed class BooleanWriter : AvroValueWriter<bool>
{
    public override void Write(ref AvroWriter writer, bool value) => writer.WriteBoolean(value);
}

internal sealed class ByteWriter : AvroValueWriter<byte>
{
    public override void Write(ref AvroWriter writer, byte value) => writer.WriteInt(value);
}

internal sealed class SByteWriter : AvroValueWriter<sbyte>
{
    public override void Write(ref AvroWriter writer, sbyte value) => writer.WriteInt(value);
}

internal sealed class Int16Writer : AvroValueWriter<short>
{
    public override void Write(ref AvroWriter writer, short value) => writer.WriteInt(value);
}

internal sealed class UInt16Writer : AvroValueWriter<ushort>
{
    public override void Write(ref AvroWriter writer, ushort value) => writer.WriteInt(value);
}

internal sealed class Int32Writer : AvroValueWriter<int>
{
    public override void Write(ref AvroWriter writer, int value) => writer.WriteInt(value);
}

internal sealed class UInt32Writer : AvroValueWriter<uint>
{
    public override void Write(ref AvroWriter writer, uint value) => writer.WriteLong(value);
}

internal sealed class Int64Writer : AvroValueWriter<long>
{
    public override void Write(ref AvroWriter writer, long value) => writer.WriteLong(value);
}

/// <summary>A <see cref="ulong"/> as <c>decimal(20, 0)</c>: Avro's long cannot hold the upper half of its range.</summary>
internal sealed class UInt64Writer : AvroValueWriter<ulong>
{
    public override void Write(ref AvroWriter writer, ulong value) => writer.WriteDecimal(value, 20, 0);
}

internal sealed class SingleWriter : AvroValueWriter<float>
{
    public override void Write(ref AvroWriter writer, float value) => writer.WriteFloat(value);
}

internal sealed class DoubleWriter : AvroValueWriter<double>
{
    public override void Write(ref AvroWriter writer, double value) => writer.WriteDouble(value);
}

internal sealed class CharWriter(string path) : AvroValueWriter<char>
{
    public override void Write(ref AvroWriter writer, char value)
    {
        if (char.IsSurrogate(value))
        {
            throw new ArgumentException($"'{path}' is a lone surrogate (U+{(int)value:X4}), which UTF-8 cannot encode.");
        }

        writer.WriteString(new ReadOnlySpan<char>(in value));
    }
}

internal sealed class StringWriter(string path) : AvroValueWriter<string>
{
    public override void Write(ref AvroWriter writer, string value)
    {
        try
        {
            writer.WriteString(value);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"'{path}': {ex.Message}", ex);
        }
    }
}

internal sealed class BytesWriter : AvroValueWriter<byte[]>
{
    public override void Write(ref AvroWriter writer, byte[] value) => writer.WriteBytes(value);
}

internal sealed class GuidWriter : AvroValueWriter<Guid>
{
    public override void Write(ref AvroWriter writer, Guid value) => writer.WriteUuid(value);
}

/// <summary>
/// <c>timestamp-micros</c>. <see cref="DateTimeKind.Local"/> is converted to UTC, <see cref="DateTimeKind.Unspecified"/>
/// is taken as UTC; the last digit of the 100 ns tick (below Avro's microsecond) is truncated, as documented.
/// </summary>
internal sealed class DateTimeWriter : AvroValueWriter<DateTime>
{
    public override void Write(ref AvroWriter writer, DateTime value) =>
        writer.WriteTimestampMicros(Time.MicrosSinceEpoch(value.Kind == DateTimeKind.Local ? value.ToUniversalTime().Ticks : value.Ticks));
}

/// <summary><c>timestamp-micros</c> of the instant (the offset is not kept; the instant is).</summary>
internal sealed class DateTimeOffsetWriter : AvroValueWriter<DateTimeOffset>
{
    public override void Write(ref AvroWriter writer, DateTimeOffset value) => writer.WriteTimestampMicros(Time.MicrosSinceEpoch(value.UtcTicks));
}

internal sealed class DateOnlyWriter : AvroValueWriter<DateOnly>
{
    public override void Write(ref AvroWriter writer, DateOnly value) => writer.WriteDate(value);
}

/// <summary><c>time-micros</c>; the 100 ns digit is truncated.</summary>
internal sealed class TimeOnlyWriter : AvroValueWriter<TimeOnly>
{
    public override void Write(ref AvroWriter writer, TimeOnly value) => writer.WriteTimeMicros(value.Ticks / TimeSpan.TicksPerMicrosecond);
}

internal sealed class DecimalWriter(int precision, int scale, string path) : AvroValueWriter<decimal>
{
    public override void Write(ref AvroWriter writer, decimal value)
    {
        try
        {
            writer.WriteDecimal(value, precision, scale);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"'{path}' is {value}, which does not fit decimal({precision}, {scale}): {ex.Message}", ex);
        }
    }
}

internal sealed class EnumWriter<TEnum>(Dictionary<TEnum, int> indexes, string path) : AvroValueWriter<TEnum>
    where TEnum : struct, Enum
{
    public override void Write(ref AvroWriter writer, TEnum value)
    {
        if (!indexes.TryGetValue(value, out var index))
        {
            throw new ArgumentException($"'{path}' is {value}, which is not a named member of {typeof(TEnum).Name}; Avro enums carry names only.");
        }

        writer.WriteEnum(index);
    }
}

internal static class Time
{
    private const long EpochTicks = 621_355_968_000_000_000;

    /// <summary>Microseconds since the Unix epoch, rounded towards negative infinity (so that a pre-1970 instant is not moved later).</summary>
    public static long MicrosSinceEpoch(long utcTicks)
    {
        var ticks = utcTicks - EpochTicks;
        var micros = ticks / TimeSpan.TicksPerMicrosecond;
        return ticks % TimeSpan.TicksPerMicrosecond < 0 ? micros - 1 : micros;
    }
}
