using System.Globalization;
using BenchmarkDotNet.Running;

namespace DataMesh.Benchmarks;

/// <summary>The Avro codec suite: our span codec against Apache.Avro's GenericRecord path on a 20-field change-event row.</summary>
internal sealed class AvroSuite : IBenchmarkSuite
{
    public string Name => "avro";

    public int Run(string[] args)
    {
        var summary = BenchmarkRunner.Run<AvroCodecBenchmarks>(BenchmarkConfig.Short(), args);
        double? ours = null;
        double? peer = null;
        foreach (var report in summary.Reports)
        {
            var mean = report.ResultStatistics?.Mean;
            switch (report.BenchmarkCase.Descriptor.WorkloadMethod.Name)
            {
                case nameof(AvroCodecBenchmarks.DataMeshEncodeDecode):
                    ours = mean;
                    break;
                case nameof(AvroCodecBenchmarks.ApacheAvroEncodeDecode):
                    peer = mean;
                    break;
            }
        }

        if (ours is not { } oursNs || peer is not { } peerNs)
        {
            Console.WriteLine("avro: benchmark failed; see the BenchmarkDotNet log above");
            return 1;
        }

        var oursRate = 1e9 / oursNs;
        var peerRate = 1e9 / peerNs;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"avro: ours={oursRate:F0} records/s peer={peerRate:F0} records/s ratio={oursRate / peerRate:F2}"));
        return 0;
    }
}
