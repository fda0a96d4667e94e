using DataMesh.Benchmarks;

// Dispatches to one benchmark suite by name: `dotnet run -c Release --project benchmarks/DataMesh.Benchmarks -- avro`.
// A suite is one class implementing IBenchmarkSuite, registered here; arguments after the name go to the suite.
var suites = new Dictionary<string, IBenchmarkSuite>(StringComparer.OrdinalIgnoreCase);
foreach (var suite in new IBenchmarkSuite[] { new AvroSuite(), new PgSuite(), new ProducerSuite(), new MySqlSuite(), new PipelineSuite(), new SnapshotSuite(), new LatencySuite(), new RegistrySuite(), new CockroachDbSuite(), new CassandraSuite(), new RunnerSuite(), new SourcePathSuite(), new CurvesSuite(), new FirstAckSuite() })
{
    suites.Add(suite.Name, suite);
}

if (args.Length == 0 || !suites.TryGetValue(args[0], out var selected))
{
    Console.Error.WriteLine($"usage: DataMesh.Benchmarks <suite> [options]; suites: {string.Join(", ", suites.Keys.Order(StringComparer.Ordinal))}");
    return 2;
}

return selected.Run(args[1..]);
