using DataMesh.Connectors.MySql;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>
/// Random and mutated real events through the whole parser (framing, CRC, every event type, TABLE_MAP binding, rows
/// of every column type): the only exceptions allowed are the documented ones (<see cref="BinlogFormatException"/>,
/// <see cref="MySqlSchemaException"/>). Bounded in the suite; set DATAMESH_FUZZ_ITERATIONS for a longer run.
/// </summary>
public sealed class BinlogFuzzTests
{
    private static readonly int Iterations = int.TryParse(Environment.GetEnvironmentVariable("DATAMESH_FUZZ_ITERATIONS"), out var n) ? n : 3000;

    [Fact]
    public void Mutated_real_events_give_only_documented_errors()
    {
        var events = BinlogEvents.Workload();
        var random = new Random(20240601);
        var failures = 0;
        for (var iteration = 0; iteration < Iterations; iteration++)
        {
            var processor = BinlogEvents.Processor(new RecordingHandler());
            var target = random.Next(1, events.Count);
            var checksumOff = random.Next(2) == 0;
            for (var i = 0; i < events.Count; i++)
            {
                var data = events[i];
                if (i == target)
                {
                    data = Mutate(data, random);
                    if (checksumOff && data.Length >= 23)
                    {
                        // Re-frame with a valid CRC so the mutation reaches the event parsers instead of stopping at the checksum.
                        data = MalformedBinlogTests.Reframe(data.AsSpan(0, data.Length - 4).ToArray());
                    }
                }

                try
                {
                    processor.Process(data);
                }
                catch (Exception ex) when (ex is BinlogFormatException or MySqlSchemaException)
                {
                    failures++;
                    break;
                }
                catch (Exception ex)
                {
                    Assert.Fail($"iteration {iteration}, event {i} (type {data.ElementAtOrDefault(4)}): {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
                }
            }
        }

        Assert.True(failures > Iterations / 10, $"only {failures} of {Iterations} mutations were detected");
    }

    [Fact]
    public void Random_bytes_give_only_documented_errors()
    {
        var random = new Random(7);
        var events = BinlogEvents.Workload();
        for (var iteration = 0; iteration < Iterations; iteration++)
        {
            var processor = BinlogEvents.Processor(new RecordingHandler());
            processor.Process(events[0]);
            var length = random.Next(0, 200);
            var data = new byte[length];
            random.NextBytes(data);
            if (length >= 23 && random.Next(2) == 0)
            {
                data[4] = (byte)random.Next(0, 40);
                data = MalformedBinlogTests.Reframe(data.AsSpan(0, length - 4).ToArray());
            }

            try
            {
                processor.Process(data);
            }
            catch (Exception ex) when (ex is BinlogFormatException or MySqlSchemaException)
            {
            }
        }
    }

    private static byte[] Mutate(byte[] data, Random random)
    {
        var copy = (byte[])data.Clone();
        switch (random.Next(4))
        {
            case 0:
                for (var i = random.Next(1, 4); i > 0; i--)
                {
                    copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
                }

                return copy;
            case 1:
                return copy.AsSpan(0, random.Next(copy.Length)).ToArray();
            case 2:
                copy[random.Next(19, Math.Max(20, copy.Length))] = (byte)random.Next(256);
                return copy;
            default:
                var extra = new byte[random.Next(1, 16)];
                random.NextBytes(extra);
                return [.. copy, .. extra];
        }
    }
}
