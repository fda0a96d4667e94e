using BenchmarkDotNet.Running;

namespace DataMesh.Benchmarks;

/// <summary>The Avro codec suite: our span codec against Apache.Avro's GenericRecord and SpecificRecord paths on a 20-field
/// change-event row (<see cref="AvroCodecBenchmarks"/>), 3 launches; per launch the median of its iterations, paired by launch.
/// The result lines are <c>avro-specific: …</c> (the SpecificRecord peer), then <c>avro: …</c> (the GenericRecord peer).</summary>
internal sealed class AvroSuite : IBenchmarkSuite
{
    public string Name => "avro";

    public int Run(string[] args)
    {
        BenchHarness.PrintMachine("avro", "start");
        var summary = BenchmarkRunner.Run<AvroCodecBenchmarks>(BenchmarkConfig.Short(), args);
        BenchHarness.PrintMachine("avro", "end");
        var specific = BenchHarness.FromSummary(summary, "avro-specific", nameof(AvroCodecBenchmarks.DataMeshEncodeDecode), nameof(AvroCodecBenchmarks.ApacheAvroSpecificEncodeDecode));
        var generic = BenchHarness.FromSummary(summary, "avro", nameof(AvroCodecBenchmarks.DataMeshEncodeDecode), nameof(AvroCodecBenchmarks.ApacheAvroGenericEncodeDecode));
        BenchHarness.PrintResults(specific, generic);
        return 0;
    }
}
