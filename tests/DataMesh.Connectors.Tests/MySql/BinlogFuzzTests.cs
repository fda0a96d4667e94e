using DataMesh.Connectors.MySql;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>
/// Random and mutated real events through the whole parser (framing, CRC, every event type, TABLE_MAP binding, rows
/// of every column type), with the shared harness (<see cref="Fuzz"/>): the only exceptions allowed are the documented
/// ones (<see cref="BinlogFormatException"/>, <see cref="MySqlSchemaException"/>).
/// </summary>
public sealed class BinlogFuzzTests
{
    private static readonly Type[] Documented = [typeof(BinlogFormatException), typeof(MySqlSchemaException)];

    [Fact]
    public void Mutated_real_events_give_only_documented_errors()
    {
        var events = BinlogEvents.Workload();
        var run = Fuzz.Run(
            "binlog events",
            seed: 20240601,
            iterations: 3000,
            random =>
            {
                var target = random.Next(1, events.Count);
                var data = Fuzz.Mutate(events[target], random);
                if (random.Next(2) == 0 && data.Length >= 23)
                {
                    // Re-frame with a valid CRC so the mutation reaches the event parsers instead of stopping at the checksum.
                    data = MalformedBinlogTests.Reframe(data.AsSpan(0, data.Length - 4).ToArray());
                }

                return (Target: target, Data: data);
            },
            input =>
            {
                var processor = BinlogEvents.Processor(new RecordingHandler());
                for (var i = 0; i < events.Count; i++)
                {
                    processor.Process(i == input.Target ? input.Data : events[i]);
                }
            },
            input => $"event {input.Target} (type {input.Data.ElementAtOrDefault(4)}): {Convert.ToHexString(input.Data)}",
            Documented);

        Assert.True(run.Refused > run.Iterations / 10, $"only {run.Refused} of {run.Iterations} mutations were detected");
    }

    [Fact]
    public void Random_bytes_give_only_documented_errors()
    {
        var events = BinlogEvents.Workload();
        Fuzz.Bytes(
            "random binlog events",
            seed: 7,
            iterations: 3000,
            random =>
            {
                var data = new byte[random.Next(0, 200)];
                random.NextBytes(data);
                if (data.Length >= 23 && random.Next(2) == 0)
                {
                    data[4] = (byte)random.Next(0, 40);
                    data = MalformedBinlogTests.Reframe(data.AsSpan(0, data.Length - 4).ToArray());
                }

                return data;
            },
            data =>
            {
                var processor = BinlogEvents.Processor(new RecordingHandler());
                processor.Process(events[0]);
                processor.Process(data);
            },
            Documented);
    }
}
