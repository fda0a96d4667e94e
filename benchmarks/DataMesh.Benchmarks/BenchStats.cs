using System.Globalization;
using Microsoft.Extensions.Logging;

namespace DataMesh.Benchmarks;

/// <summary>What every scripted suite prints and computes the same way: medians, percentiles and ranges, the machine's CPU
/// model and load average, and the id in a record's key.</summary>
internal static class BenchStats
{
    /// <summary>The median (the mean of the two middle values for an even count), or NaN when empty.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>The nearest-rank percentile <paramref name="p"/> (0 to 100) of sorted values, or NaN when empty.</summary>
    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];

    /// <summary><c>min-max</c> of the values, with <paramref name="format"/>.</summary>
    public static string Range(IEnumerable<double> values, string format = "F0")
    {
        var list = values.ToList();
        return list.Min().ToString(format, CultureInfo.InvariantCulture) + "-" + list.Max().ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>The 1-minute load average now.</summary>
    public static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    /// <summary>The CPU model, from /proc/cpuinfo.</summary>
    public static string CpuModel() => File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
        : "unknown";

    /// <summary>The id of a record whose key is one Avro <c>long</c> in the Confluent wire format (the key of a table whose
    /// primary key is one bigint).</summary>
    public static long ReadKeyId(byte[] key)
    {
        var bytes = key.AsSpan(DataMesh.Avro.ConfluentWireFormat.HeaderLength);
        ulong value = 0;
        for (var i = 0; i < 10 && i < bytes.Length; i++)
        {
            value |= (ulong)(bytes[i] & 0x7F) << (7 * i);
            if ((bytes[i] & 0x80) == 0)
            {
                return (long)(value >> 1) ^ -(long)(value & 1);
            }
        }

        throw new FormatException("a key that is not an Avro long");
    }
}

/// <summary>Warnings and errors of a source measured in process, to stderr.</summary>
internal sealed class StderrLogger : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Console.Error.WriteLine($"[{logLevel}] {formatter(state, exception)}{(exception is null ? string.Empty : " " + exception.Message)}");
        }
    }
}
