using System.Diagnostics;
using System.Globalization;
using System.Text;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using static System.FormattableString;
using static DataMesh.Benchmarks.BenchStats;

namespace DataMesh.Benchmarks;

/// <summary>
/// Scaling curves of the PostgreSQL source, or with <c>--source mariadb</c> the MySQL source on MariaDB, end to end
/// (issue 16, part 5): rows/s against row width, value size, transaction size and the topic's partitions, and the
/// connector's peak memory against transaction size.
/// <para>
/// A point is a table <c>curve (id bigint PRIMARY KEY, c1 text, …)</c> of <c>columns - 1</c> text columns of
/// <c>value</c> characters each (hex of md5 sums: PostgreSQL's pglz does not shrink them), written by one server-side
/// loop that commits every <c>transaction</c> rows (PostgreSQL: a <c>DO</c> block, after the slot was made; MariaDB: a
/// <c>BEGIN NOT ATOMIC</c> block, <c>MEDIUMTEXT</c> columns, after the binlog's position was read). Each of <c>--runs N</c>
/// runs (default 3) starts the connector (<c>tests/tools/DataMesh.ConnectorHost</c>, a process of its own, the product's
/// defaults) into a fresh embedded cluster whose table topic has <c>partitions</c> partitions, reading the point's rows and
/// no others (PostgreSQL: on a copy of that slot; MariaDB: from that position and the schema there, stored in the cluster
/// as the source's first start stores them; see <see cref="ICurveDatabase"/>), and ends when the topic's high watermarks
/// sum to the rows written (every row acknowledged); then they must equal them.
/// </para>
/// <para>
/// Two rates per run: from the first acknowledged row to the last (the curve: the connector's start-up, about a second
/// that no parameter moves, is left out) and from launch. Memory is the connector process's peak resident set
/// (<c>VmHWM</c>, the peak working set; the embedded Kafka runs in this process, not the connector's). The CPU time beside
/// the connector's is the slot's walsender (PostgreSQL) or the whole <c>mariadbd</c> (its binlog dump thread is not told
/// apart).
/// </para>
/// <para>
/// Row counts follow a byte budget (64 MiB of estimated Kafka records per point, 200,000 rows and 30,000 transactions
/// at most, two whole transactions at least), so that a table
/// topic of 32 partitions stays under the embedded cluster's 5 MB per partition; a point expected to fit checks that the
/// topic still holds every row (low watermarks 0). The partitions curve writes the baseline's rows at every point, so
/// below 16 partitions the cluster drops the oldest records after acknowledging them: its count check is the high
/// watermarks, which that retention does not lower, and the records still held are printed.
/// </para>
/// Options: <c>--source postgres|mariadb</c> (default postgres), <c>--quick</c> (a tenth of the rows, one run),
/// <c>--scale F</c> (the rows times F), <c>--runs N</c>, <c>--only width,value,transaction,partitions</c>,
/// <c>--out DIR</c> (default <c>docs/img</c> of the repository; <c>--quick</c>: a folder under /tmp). MariaDB's result
/// lines, PNGs and tables are named <c>curves-mariadb-*</c> and <c>curve-mariadb-*.png</c>, beside PostgreSQL's. Needs
/// DATAMESH_PG_CONNECTION or DATAMESH_MARIADB_CONNECTION, which <c>./build.sh bench curves</c> sets.
/// </summary>
internal sealed class CurvesSuite : IBenchmarkSuite
{
    private const int BaselineColumns = 3;
    private const int BaselineValue = 100;
    private const int BaselineTransaction = 100;
    private const int BaselinePartitions = 32;
    private const long ByteBudget = 64L * 1024 * 1024;
    private const int MaxRows = 200_000;
    private const int MaxFailures = 2;
    private const int MaxTransactions = 30_000; // the writer commits about 2,000 one-row transactions a second here
    private const long FitsPerPartition = 4L * 1024 * 1024; // under the embedded cluster's 5 MB, with room for the estimate's error

    public string Name => "curves";

    public int Run(string[] args) => RunAsync(args).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var runs = Math.Max(1, BenchHarness.Option(args, "--runs", quick ? 1 : 3));
        var scale = Value(args, "--scale") is { } factor ? double.Parse(factor, CultureInfo.InvariantCulture) : quick ? 0.1 : 1.0;
        var only = Value(args, "--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var output = Value(args, "--out") ?? (quick ? Path.Combine(Path.GetTempPath(), "datamesh-curves-quick") : Path.Combine(RepositoryRoot(), "docs", "img"));
        var source = Value(args, "--source") ?? "postgres";
        if (source is not ("postgres" or "mariadb"))
        {
            Console.Error.WriteLine($"curves: --source {source} is neither postgres nor mariadb");
            return 2;
        }

        ICurveDatabase database = source == "postgres"
            ? new PgCurveDatabase(Environment.GetEnvironmentVariable("DATAMESH_PG_CONNECTION") ?? throw new InvalidOperationException("DATAMESH_PG_CONNECTION is not set: run ./build.sh bench curves"))
            : new MariaDbCurveDatabase(Environment.GetEnvironmentVariable("DATAMESH_MARIADB_CONNECTION") ?? throw new InvalidOperationException("DATAMESH_MARIADB_CONNECTION is not set: run ./build.sh bench curves --source mariadb"));

        var curves = Curves(scale, database.PlotPrefix).Where(c => only is null || only.Contains(c.Key, StringComparer.OrdinalIgnoreCase)).ToList();
        if (curves.Count == 0)
        {
            Console.Error.WriteLine("curves: --only names none of width, value, transaction, partitions");
            return 2;
        }

        var points = curves.SelectMany(c => c.Points.Select(p => p.Point)).Distinct().ToList();
        BenchHarness.PrintMachine("curves", "start");
        Console.WriteLine(Invariant($"# curves: {points.Count} points (a point shared by curves is measured once), {runs} run(s) each; {database.Title} source -> embedded Kafka, the connector with its defaults"));
        foreach (var point in points)
        {
            Console.WriteLine(Invariant($"# curves point {point}: {point.Rows} rows, about {point.EstimatedRecordBytes} B per Kafka record, {point.BytesPerPartition / 1048576.0:F1} MB per partition{(point.Fits ? string.Empty : " (over the embedded cluster's 5 MB: its oldest records are dropped after they were acknowledged)")}"));
        }

        var clock = Stopwatch.StartNew();
        var results = new Dictionary<CurvePoint, PointResult>();
        foreach (var point in points)
        {
            results[point] = await MeasurePointAsync(database, point, runs);
        }

        BenchHarness.PrintMachine("curves", "end");
        Directory.CreateDirectory(output);
        var tables = new StringBuilder();
        Console.WriteLine();
        foreach (var curve in curves)
        {
            foreach (var (label, _, point) in curve.Points)
            {
                Console.WriteLine(results[point].Line($"{database.ResultPrefix}-{curve.Key}-{label}", database.LogReader));
            }

            CurvePlots.Write(curve, results, output, database.Title);
            tables.Append(CurvePlots.Table(curve, results, database.LogReader));
        }

        if (curves.Any(c => c.Key == "transaction"))
        {
            CurvePlots.WriteMemory(curves.Single(c => c.Key == "transaction"), results, output, database.PlotPrefix + "-memory.png");
        }

        var tablesPath = Path.Combine(output, database.ResultPrefix + "-tables.md");
        await File.WriteAllTextAsync(tablesPath, tables.ToString());
        Console.WriteLine();
        Console.Write(tables);
        Console.WriteLine(Invariant($"curves: {points.Count} points, {points.Count * runs} runs in {clock.Elapsed.TotalSeconds:F0} s; plots and tables in {output}; load={LoadAverage()}"));
        return 0;
    }

    /// <summary>The four curves; the baseline (3 columns, 100 B values, 100 rows per transaction, 32 partitions) is a
    /// point of each. The PNGs' names begin with <paramref name="plotPrefix"/>.</summary>
    private static List<Curve> Curves(double scale, string plotPrefix)
    {
        CurvePoint Point(int columns = BaselineColumns, int value = BaselineValue, int transaction = BaselineTransaction, int partitions = BaselinePartitions)
        {
            var estimate = CurvePoint.Estimate(columns, value);
            var rows = (int)Math.Max(1, Math.Min(MaxRows, ByteBudget / estimate) * scale);
            rows = Math.Min(rows, (int)(MaxTransactions * transaction * scale));
            rows = Math.Max(rows, scale < 1 ? transaction : 2 * transaction); // at least two whole transactions (--quick: one)
            return new CurvePoint(columns, value, transaction, partitions, rows);
        }

        return
        [
            new("width", "Row width", "columns per row (id bigint + text columns of 100 B)", plotPrefix + "-width.png", 10,
                [.. new[] { 3, 30, 300 }.Select(c => (c.ToString(CultureInfo.InvariantCulture), (double)c, Point(columns: c)))]),
            new("value", "Value size", "bytes per text value (2 per row)", plotPrefix + "-value.png", 10,
                [("100B", 100, Point()), ("1KB", 1_000, Point(value: 1_000)), ("10KB", 10_000, Point(value: 10_000)), ("100KB", 100_000, Point(value: 100_000))]),
            new("transaction", "Transaction size", "rows per transaction", plotPrefix + "-transaction.png", 10,
                [.. new[] { 1, 10, 100, 1_000, 10_000, 100_000 }.Select(t => (t >= 1000 ? (t / 1000).ToString(CultureInfo.InvariantCulture) + "k" : t.ToString(CultureInfo.InvariantCulture), (double)t, Point(transaction: t)))]),
            new("partitions", "Partitions", "partitions of the table topic", plotPrefix + "-partitions.png", 2,
                [.. new[] { 1, 2, 4, 8, 16, 32 }.Select(p => (p.ToString(CultureInfo.InvariantCulture), (double)p, Point(partitions: p) with { Rows = Point().Rows }))]),
        ];
    }

    /// <summary>Creates the point's database and table, writes its rows, and runs the connector <paramref name="runs"/>
    /// times, each readied by <see cref="ICurveTable.PrepareRunAsync"/> to read those rows.</summary>
    private static async Task<PointResult> MeasurePointAsync(ICurveDatabase database, CurvePoint point, int runs)
    {
        await using var table = await database.CreateAsync(point);
        var write = Stopwatch.StartNew();
        await table.WriteAsync(point);
        Console.WriteLine(Invariant($"# curves {point}: wrote {point.Rows} rows in {write.Elapsed.TotalSeconds:F1} s (load average {LoadAverage()})"));

        var samples = new List<RunSample>();
        var failures = new List<string>();
        for (var run = 1; run <= runs; run++)
        {
            var name = $"run{run}_{failures.Count}";
            var load = LoadAverage();
            try
            {
                RunSample sample;
                try
                {
                    sample = await RunOnceAsync(database, table, name, point);
                }
                catch (InvalidOperationException ex) when (failures.Count < MaxFailures)
                {
                    // A failed run (a count check, a connector that exited) is printed, counted in the result line and
                    // run again, readied afresh; the suite fails past MaxFailures in one point.
                    failures.Add(ex.Message);
                    Console.WriteLine(Invariant($"# curves {point} run {run} FAILED, run again: {ex.Message} (load average {load})"));
                    run--;
                    continue;
                }

                samples.Add(sample with { Load = load });
                Console.WriteLine(Invariant($"# curves {point} run {run}: {sample.Rate:F0} rows/s first to last acknowledged, {sample.LaunchRate:F0} rows/s from launch ({sample.FirstAckSeconds:F2} s to the first); cpu per 1k rows from the first to the last acknowledged: connector {sample.Window.Connector:F1} ms, {database.LogReader} {sample.Window.Walsender:F1} ms, this process (embedded Kafka) {sample.Window.Bench:F1} ms; connector cpu from launch {sample.CpuMs / 1000:F1} s; peak RSS {sample.PeakBytes / 1048576} MB; the topic holds {sample.Held} of {point.Rows} (load average {load})"));
            }
            finally
            {
                await table.FinishRunAsync(name);
            }
        }

        return new PointResult(point, samples, failures);
    }

    /// <summary>The connector from its launch until the topic's high watermarks sum to the point's rows; they must then
    /// equal them, and, where the point fits the embedded cluster, the topic must still hold them all.</summary>
    private static async Task<RunSample> RunOnceAsync(ICurveDatabase database, ICurveTable table, string run, CurvePoint point)
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = table.Topic;
        cluster.CreateTopic(KafkaSchemaStoreOptions.DefaultTopic, 1);
        cluster.CreateTopic(PositionStore.DefaultTopic, 1);
        cluster.CreateTopic(topic, point.Partitions);
        var settings = await table.PrepareRunAsync(run, cluster);
        var host = Path.Combine(AppContext.BaseDirectory, "DataMesh.ConnectorHost.dll");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        foreach (var argument in new[] { host, "source", database.Kind, cluster.BootstrapServers, "bench" }.Concat(settings))
        {
            start.ArgumentList.Add(argument);
        }

        using var watermarks = new Watermarks(cluster.BootstrapServers, topic, point.Partitions);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        try
        {
            (TimeSpan At, long Count)? first = null;
            var walsender = 0;
            var atFirst = default(CpuClocks);
            var last = (At: TimeSpan.Zero, Count: 0L);
            TimeSpan done;
            while (true)
            {
                var acknowledged = watermarks.Sum();
                var now = clock.Elapsed;
                if (acknowledged > 0 && first is null)
                {
                    first = (now, acknowledged);
                    walsender = await table.LogReaderAsync(run);
                    atFirst = CpuClocks.Read(process.Id, walsender);
                }

                if (acknowledged >= point.Rows)
                {
                    done = now;
                    break;
                }

                if (process.HasExited)
                {
                    throw new InvalidOperationException(Invariant($"The connector exited with code {process.ExitCode} after {acknowledged} of {point.Rows} rows."));
                }

                if (acknowledged > last.Count)
                {
                    last = (now, acknowledged);
                }
                else if (now - last.At > TimeSpan.FromMinutes(2))
                {
                    throw new InvalidOperationException(Invariant($"count check failed: the topic holds {acknowledged} records of {point.Rows} and has not grown for 2 minutes"));
                }

                await Task.Delay(10);
            }

            var atEnd = CpuClocks.Read(process.Id, walsender);
            var cpu = atEnd.Connector;
            var peak = PgSuite.PeakBytes(process.Id);
            BenchHarness.Expect("curves: the topic's high watermarks summed", watermarks.Sum(), point.Rows);
            var held = watermarks.Held();
            if (point.Fits)
            {
                BenchHarness.Expect("curves: the records the topic holds (high minus low watermarks; the embedded cluster keeps 5 MB per partition)", held, point.Rows);
            }

            var (firstAt, firstCount) = first!.Value;
            var streaming = done > firstAt && firstCount < point.Rows ? (point.Rows - firstCount) / (done - firstAt).TotalSeconds : double.NaN;
            var perThousand = 1000.0 / Math.Max(1, point.Rows - firstCount);
            var window = new CpuClocks((atEnd.Connector - atFirst.Connector) * perThousand, (atEnd.Walsender - atFirst.Walsender) * perThousand, (atEnd.Bench - atFirst.Bench) * perThousand);
            return new RunSample(streaming, point.Rows / done.TotalSeconds, firstAt.TotalSeconds, cpu, peak, held, string.Empty) { Window = window };
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static string? Value(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    /// <summary>The repository's root: the first folder above the benchmark's binaries with <c>Directory.Packages.props</c>.</summary>
    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Directory.Packages.props")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException("curves: no Directory.Packages.props above the benchmark's binaries; give --out DIR");
    }
}

/// <summary>One point of a curve: the table's shape and how it is written and read.</summary>
/// <param name="Columns">Columns per row: <c>id bigint</c> and <c>Columns - 1</c> text columns.</param>
/// <param name="Value">Characters (bytes) per text value.</param>
/// <param name="Transaction">Rows per transaction.</param>
/// <param name="Partitions">Partitions of the table topic.</param>
/// <param name="Rows">Rows written.</param>
internal sealed record CurvePoint(int Columns, int Value, int Transaction, int Partitions, int Rows)
{
    /// <summary>The text bytes of a row.</summary>
    public long PayloadBytes => (long)(Columns - 1) * Value;

    /// <summary>An estimate of one Kafka record: the values, a few bytes per column, about 200 B of key, envelope and
    /// source block.</summary>
    public long EstimatedRecordBytes => Estimate(Columns, Value);

    /// <summary>The estimated bytes per partition of the table topic.</summary>
    public double BytesPerPartition => (double)EstimatedRecordBytes * Rows / Partitions;

    /// <summary>Whether the rows are expected to fit the embedded cluster's 5 MB per partition.</summary>
    public bool Fits => BytesPerPartition <= 4.0 * 1024 * 1024;

    public static long Estimate(int columns, int value) => ((long)(columns - 1) * (value + 4)) + (8L * columns) + 200;

    public override string ToString() => Invariant($"columns={Columns} value={Value}B transaction={Transaction} partitions={Partitions}");
}

/// <summary>One run of a point.</summary>
/// <param name="Rate">Rows per second from the first acknowledged row to the last (NaN if all came at once).</param>
/// <param name="LaunchRate">Rows per second from the connector's launch to the last acknowledged row.</param>
/// <param name="FirstAckSeconds">Seconds from launch to the first acknowledged row.</param>
/// <param name="CpuMs">The connector's user + system CPU time.</param>
/// <param name="PeakBytes">The connector's peak resident set (VmHWM).</param>
/// <param name="Held">The records the topic still held at the end.</param>
/// <param name="Load">The 1-minute load average at the run's start.</param>
internal sealed record RunSample(double Rate, double LaunchRate, double FirstAckSeconds, double CpuMs, long PeakBytes, long Held, string Load)
{
    /// <summary>CPU milliseconds per 1,000 rows from the first acknowledged row to the last.</summary>
    public CpuClocks Window { get; init; }
}

/// <summary>CPU time (or CPU time per 1,000 rows) of the three processes a run keeps busy.</summary>
/// <param name="Connector">The connector process.</param>
/// <param name="Walsender">The server process that reads the log for the connector (<see cref="ICurveDatabase.LogReader"/>):
/// PostgreSQL's walsender of the slot (decoding the log), MariaDB's <c>mariadbd</c>; 0 when its pid was not found.</param>
/// <param name="Bench">This process: the embedded Kafka cluster and the watermark polling.</param>
internal readonly record struct CpuClocks(double Connector, double Walsender, double Bench)
{
    /// <summary>The user + system CPU milliseconds of the three processes now.</summary>
    public static CpuClocks Read(int connector, int walsender)
    {
        double Of(int pid)
        {
            try
            {
                return pid > 0 ? PgSuite.CpuMs(pid) : 0;
            }
            catch (IOException)
            {
                return 0; // gone
            }
        }

        return new CpuClocks(Of(connector), Of(walsender), Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds);
    }
}

/// <summary>The runs of one point.</summary>
internal sealed record PointResult(CurvePoint Point, IReadOnlyList<RunSample> Runs, IReadOnlyList<string> Failures)
{
    public double Rate => Median(Runs.Select(r => r.Rate));

    public double RateMin => Runs.Min(r => r.Rate);

    public double RateMax => Runs.Max(r => r.Rate);

    public double LaunchRate => Median(Runs.Select(r => r.LaunchRate));

    /// <summary>The medians of the runs' CPU per 1,000 rows (first to last acknowledged row).</summary>
    public CpuClocks Cpu => new(Median(Runs.Select(r => r.Window.Connector)), Median(Runs.Select(r => r.Window.Walsender)), Median(Runs.Select(r => r.Window.Bench)));

    public double PeakMb => Median(Runs.Select(r => r.PeakBytes / 1048576.0));

    public double PeakMbMin => Runs.Min(r => r.PeakBytes / 1048576.0);

    public double PeakMbMax => Runs.Max(r => r.PeakBytes / 1048576.0);

    /// <summary>The text bytes of the rows per second (the median rate times a row's values).</summary>
    public double PayloadMbPerSecond => Rate * Point.PayloadBytes / 1e6;

    public string Loads => string.Join("/", Runs.Select(r => r.Load));

    /// <summary>The result line, in the harness's style; <paramref name="logReader"/> names the server process's CPU time.</summary>
    public string Line(string name, string logReader) => Invariant(
        $"{name}: rows_per_s={Rate:F0} (n={Runs.Count}, min={RateMin:F0}, max={RateMax:F0}) from_launch={LaunchRate:F0} payload_MB_per_s={PayloadMbPerSecond:F1} cpu_ms_per_1k_rows=connector:{Cpu.Connector:F1},{logReader}:{Cpu.Walsender:F1},kafka:{Cpu.Bench:F1} peak_rss_MB={PeakMb:F0} (min={PeakMbMin:F0}, max={PeakMbMax:F0}) rows={Point.Rows} held={Runs.Min(r => r.Held)} failed_runs={Failures.Count} load={Loads}");
}

/// <summary>One curve: its points, labelled, at their x values.</summary>
/// <param name="Key">The name in result lines and <c>--only</c>.</param>
/// <param name="Title">The plot's title.</param>
/// <param name="XTitle">The x axis' title, with its unit.</param>
/// <param name="File">The PNG's file name.</param>
/// <param name="LogBase">The x axis' logarithm base.</param>
/// <param name="Points">Label, x value and point.</param>
internal sealed record Curve(string Key, string Title, string XTitle, string File, double LogBase, IReadOnlyList<(string Label, double X, CurvePoint Point)> Points);
