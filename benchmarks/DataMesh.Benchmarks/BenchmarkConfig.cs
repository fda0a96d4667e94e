using BenchmarkDotNet.Configs;
using Perfolizer.Horology;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace DataMesh.Benchmarks;

/// <summary>The shared short configuration: in-process (no generated project to build), 3 launches (the suites take the median of each launch's iterations, and the median of those), few iterations, artifacts in the temp folder.</summary>
internal static class BenchmarkConfig
{
    public static IConfig Short() =>
        DefaultConfig.Instance
            .AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithLaunchCount(3)
                .WithWarmupCount(3)
                .WithIterationCount(10)
                .WithIterationTime(TimeInterval.FromMilliseconds(250))
                .WithId("Short"))
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "datamesh-benchmarks"))
            .WithOptions(ConfigOptions.JoinSummary);
}
