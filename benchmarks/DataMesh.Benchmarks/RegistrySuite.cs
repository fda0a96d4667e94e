using System.Diagnostics;
using System.Globalization;
using System.Net;
using DataMesh.Kafka;
using DataMesh.Schemas;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DataMesh.Benchmarks;

/// <summary>
/// The Schema Registry API's <c>GET /schemas/ids/{id}</c> (what every consumer's deserializer calls for a schema id it has
/// not cached) on Kestrel at 127.0.0.1, over a <see cref="KafkaSchemaStore"/> on the embedded cluster holding 100 schemas.
/// A closed loop of <c>--concurrency C</c> clients (default 16; each sends its next request when its last one is answered,
/// over keep-alive connections, ids in turn) for <c>--seconds S</c> (default 5) after a 2-second warm-up, <c>--runs R</c>
/// times (default 5). The load generator runs in the same process, on the same cores as the server. Prints each run,
/// then the medians with min and max; the last line is the result.
/// </summary>
internal sealed class RegistrySuite : IBenchmarkSuite
{
    public string Name => "registry";

    public int Run(string[] args)
    {
        var concurrency = 16;
        var seconds = 5.0;
        var runs = 5;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--concurrency": concurrency = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"registry: unknown option '{args[i]}'; options: --concurrency C, --seconds S, --runs R");
                    return 2;
            }
        }

        return RunAsync(concurrency, TimeSpan.FromSeconds(seconds), runs).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int concurrency, TimeSpan duration, int runs)
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = cluster, Topic = "_schemas-bench" });
        var ids = new List<int>();
        for (var i = 0; i < 100; i++)
        {
            var fields = string.Join(",", Enumerable.Range(0, 10).Select(f => $$"""{"name":"f{{f}}","type":["null","string"],"default":null}"""));
            ids.Add(await store.RegisterAsync($"bench{i}-value", global::Avro.Schema.Parse($$"""{"type":"record","name":"R{{i}}","namespace":"bench","fields":[{"name":"id","type":"long"},{{fields}}]}""")));
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<ISchemaStore>(store);
        builder.Services.AddDataMeshServer();
        await using var app = builder.Build();
        app.MapDataMesh();
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, UseProxy = false }) { BaseAddress = new Uri(url) };
        var paths = ids.Select(id => "/schemas/ids/" + id.ToString(CultureInfo.InvariantCulture)).ToArray();

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"registry: GET /schemas/ids/{{id}} at {url}, {ids.Count} schemas, {concurrency} concurrent clients, {duration.TotalSeconds:F0} s per run, {runs} runs, {Environment.ProcessorCount} cores"));
        await LoadAsync(http, paths, concurrency, TimeSpan.FromSeconds(2));
        var rates = new List<double>();
        var p99s = new List<double>();
        var p50s = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            var (count, latencies) = await LoadAsync(http, paths, concurrency, duration);
            latencies.Sort();
            var rate = count / duration.TotalSeconds;
            var p50 = Percentile(latencies, 0.50);
            var p99 = Percentile(latencies, 0.99);
            rates.Add(rate);
            p50s.Add(p50);
            p99s.Add(p99);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"registry: run {run}: {rate:F0} requests/s, p50 {p50:F3} ms, p99 {p99:F3} ms, max {latencies[^1]:F3} ms"));
        }

        await app.StopAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"registry: GET /schemas/ids/{{id}}, {concurrency} concurrent, {runs} runs: {Median(rates):F0} requests/s (min {rates.Min():F0}, max {rates.Max():F0}), " +
            $"p50 {Median(p50s):F3} ms, p99 {Median(p99s):F3} ms (min {p99s.Min():F3}, max {p99s.Max():F3})"));
        return 0;
    }

    /// <summary>A closed loop: each client sends its next request when its last is answered, until the time is up.</summary>
    private static async Task<(long Count, List<double> LatenciesMs)> LoadAsync(HttpClient http, string[] paths, int concurrency, TimeSpan duration)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var latencies = new List<double>(100_000);
            var next = worker;
            while (Stopwatch.GetTimestamp() < end)
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await http.GetAsync(paths[next++ % paths.Length], HttpCompletionOption.ResponseContentRead).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw new InvalidOperationException($"GET {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}");
                }

                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }

            return latencies;
        })).ToArray();
        var all = (await Task.WhenAll(workers).ConfigureAwait(false)).SelectMany(l => l).ToList();
        return (all.Count, all);
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
