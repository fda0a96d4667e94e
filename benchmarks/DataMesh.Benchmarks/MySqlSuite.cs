using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Protocol;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Logging.Abstractions;
using MySqlConnector;

namespace DataMesh.Benchmarks;

/// <summary>
/// The MySQL/MariaDB binlog suite, on one binlog of row changes (<c>--rows N</c>, default 1,000,000) written by the
/// MariaDB that <c>./build.sh bench mysql</c> starts, each line <c>--runs N</c> (default 5) alternated runs of ours and the
/// peer by <see cref="BenchHarness"/>:
/// <list type="bullet">
/// <item><c>mysql</c>: our replication client streams the binlog from the server and turns every row into typed values
/// and an Avro envelope (no Kafka), against the server's own decoder, <c>mariadb-binlog --read-from-remote-server
/// --verbose --base64-output=DECODE-ROWS</c>, whose output this process reads and counts (<c>### INSERT INTO</c> lines).
/// Both must count every row. Allocation per row is measured over the whole stream.</item>
/// <item><c>mysql-e2e</c>: the connector (the product's defaults, but for <c>--partitions N</c> topic partitions, default
/// 32: the embedded cluster keeps 5 MB per partition) from the runtime's launch until Kafka acknowledged every row, against
/// the Kafka ceiling: a bare Confluent producer with the runtime's producer settings, launched, sending as many messages
/// of the sizes ours produced (read back from ours' first run) to the same partitions, until every one was acknowledged.
/// Both topics' high watermarks must sum to the rows. Steady-state rates from the topics' high watermarks.</item>
/// </list>
/// </summary>
internal sealed class MySqlSuite : IBenchmarkSuite
{
    public string Name => "mysql";

    public int Run(string[] args)
    {
        var rows = BenchHarness.Option(args, "--rows", 1_000_000);
        var runs = BenchHarness.Runs(args);
        var partitions = BenchHarness.Option(args, "--partitions", 32);
        var connectionString = Environment.GetEnvironmentVariable("DATAMESH_MARIADB_CONNECTION");
        if (string.IsNullOrEmpty(connectionString))
        {
            Console.WriteLine("mysql: DATAMESH_MARIADB_CONNECTION is not set: run ./build.sh bench mysql, which starts MariaDB");
            return 1;
        }

        return RunAsync(connectionString, rows, runs, partitions).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string connectionString, int rows, int runs, int partitions)
    {
        var builder = new MySqlConnectionStringBuilder(connectionString);
        var database = "bench_" + Guid.NewGuid().ToString("N")[..12];
        var (file, end) = await LoadAsync(connectionString, database, rows);
        try
        {
            Console.WriteLine($"# binlog {file}: {rows} row changes in {database}, ending at {end}");
            var decode = await BenchHarness.AlternateAsync("mysql", runs,
                new BenchSide("ours", _ => DecodeAsync(builder, file, database, rows)),
                new BenchSide("mysql", _ => MariaDbBinlogAsync(builder, file, rows)));

            List<(int Partition, int Key, int Value)>? sizes = null;
            var e2e = await BenchHarness.AlternateAsync("mysql-e2e", runs,
                new BenchSide("ours", async _ =>
                {
                    var recorded = sizes is null ? new List<(int, int, int)>(rows) : null;
                    var sample = await EndToEndAsync(connectionString, database, file, end, rows, partitions, recorded);
                    sizes ??= recorded;
                    return sample;
                }),
                new BenchSide("mysql-e2e", _ => KafkaCeilingAsync(sizes ?? throw new InvalidOperationException("the ceiling runs after ours' first run, which records the sizes"), partitions)));
            BenchHarness.PrintResults(e2e[0], decode[0]);
            return 0;
        }
        finally
        {
            await using var connection = new MySqlConnection(connectionString);
            await connection.OpenAsync();
            await new MySqlCommand($"DROP DATABASE IF EXISTS `{database}`", connection).ExecuteNonQueryAsync();
        }
    }

    /// <summary>Writes the bench table's rows in transactions of 10 000 into a fresh binlog file, then closes it.</summary>
    private static async Task<(string File, long End)> LoadAsync(string connectionString, string database, int rows)
    {
        await using var connection = new MySqlConnection(connectionString);
        await connection.OpenAsync();
        async Task Execute(string sql)
        {
            await using var command = new MySqlCommand(sql, connection) { CommandTimeout = 600 };
            await command.ExecuteNonQueryAsync();
        }

        await Execute($"CREATE DATABASE `{database}`");
        await Execute($"CREATE TABLE `{database}`.orders (id BIGINT NOT NULL PRIMARY KEY, customer INT NOT NULL, status VARCHAR(20) NOT NULL, "
            + "amount DECIMAL(12,2) NOT NULL, discount DOUBLE NULL, created DATETIME(6) NOT NULL, note VARCHAR(100) NULL, flags TINYINT UNSIGNED NOT NULL) DEFAULT CHARSET utf8mb4");
        await Execute("FLUSH BINARY LOGS");
        string file;
        await using (var status = new MySqlCommand("SHOW MASTER STATUS", connection))
        await using (var reader = await status.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            file = reader.GetString(0);
        }

        const int batch = 10_000;
        for (var start = 0; start < rows; start += batch)
        {
            var count = Math.Min(batch, rows - start);
            await Execute($"INSERT INTO `{database}`.orders SELECT seq, seq % 9973, ELT(1 + seq % 4, 'NEW', 'PAID', 'SHIPPED', 'DELIVERED'), "
                + "(seq % 100000) / 100, IF(seq % 3 = 0, NULL, (seq % 100) / 7), TIMESTAMP('2024-01-01') + INTERVAL seq SECOND + INTERVAL seq % 1000000 MICROSECOND, "
                + $"IF(seq % 2 = 0, NULL, CONCAT('order note ', seq)), seq % 256 FROM seq_{start + 1}_to_{start + count}");
        }

        long end;
        await using (var status = new MySqlCommand("SHOW MASTER STATUS", connection))
        await using (var reader = await status.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            end = Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture);
        }

        await Execute("FLUSH BINARY LOGS");
        return (file, end);
    }

    /// <summary>Ours: stream the file from the server, decode every row into typed values and an Avro key and envelope.</summary>
    private static async Task<BenchSample> DecodeAsync(MySqlConnectionStringBuilder builder, string file, string database, int rows)
    {
        var settings = new ReplicationConnectionSettings(builder.Server, (int)builder.Port, builder.UserID, builder.Password) { Tls = TlsMode.None };
        var schema = new SchemaTracker();
        await using (var sql = new MySqlConnection(builder.ConnectionString))
        {
            await sql.OpenAsync();
            var (tables, databases, serverCharset) = await InformationSchemaLoader.LoadAsync(sql, CancellationToken.None);
            schema.ServerCharset = serverCharset;
            schema.Reset(tables, databases);
        }

        var handler = new EncodingHandler();
        var process = Process.GetCurrentProcess();
        GC.Collect();
        var cpu = process.TotalProcessorTime;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        await using (var connection = await ReplicationConnection.OpenAsync(settings, CancellationToken.None))
        {
            await connection.QueryAsync("SET @master_binlog_checksum = @@global.binlog_checksum", CancellationToken.None);
            await connection.QueryAsync("SET @mariadb_slave_capability = 4", CancellationToken.None);
            await connection.StartBinlogDumpAsync(file, 4, 4_000_001, nonBlocking: true, CancellationToken.None);
            var decoder = new BinlogDecoder(file, 4);
            var processor = new BinlogProcessor(decoder, schema, handler, (db, _) => db == database);
            handler.Processor = processor;
            while (true)
            {
                var data = await connection.ReadEventAsync(CancellationToken.None);
                if (data.IsEmpty)
                {
                    break;
                }

                processor.Process(data.Span);
            }
        }

        clock.Stop();
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        process.Refresh();
        BenchHarness.Expect("ours: rows decoded and encoded", handler.Rows, rows);
        return new Measurement(handler.Rows, clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalMilliseconds, bytes, process.PeakWorkingSet64).Sample();
    }

    /// <summary>The peer: the server's own decoder reading the same file from the server; this process reads its output and
    /// counts the rows (<c>### INSERT INTO</c> lines). Its CPU time and peak memory come from GNU time (/usr/bin/time) when
    /// the machine has it.</summary>
    private static async Task<BenchSample> MariaDbBinlogAsync(MySqlConnectionStringBuilder builder, string file, int rows)
    {
        var usage = Path.GetTempFileName();
        var command = $"mariadb-binlog --no-defaults --read-from-remote-server --host={builder.Server} --port={builder.Port} --user={builder.UserID} --verbose --base64-output=DECODE-ROWS {file}";
        var timed = File.Exists("/usr/bin/time");
        var start = new ProcessStartInfo("/bin/sh")
        {
            ArgumentList = { "-c", timed ? $"exec /usr/bin/time -f '%U %S %M' -o {usage} {command}" : "exec " + command },
            UseShellExecute = false,
            RedirectStandardOutput = true,
        };
        start.Environment["MYSQL_PWD"] = builder.Password;
        var clock = Stopwatch.StartNew();
        long counted;
        using (var process = Process.Start(start)!)
        {
            counted = await CountAsync(process.StandardOutput.BaseStream, "\n### INSERT INTO "u8.ToArray());
            await process.WaitForExitAsync();
            clock.Stop();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"mariadb-binlog exited with {process.ExitCode}");
            }
        }

        var cpu = double.NaN;
        long peak = 0;
        if (timed)
        {
            var fields = (await File.ReadAllTextAsync(usage)).Trim().Split(' ');
            cpu = (double.Parse(fields[0], CultureInfo.InvariantCulture) + double.Parse(fields[1], CultureInfo.InvariantCulture)) * 1000;
            peak = long.Parse(fields[2], CultureInfo.InvariantCulture) * 1024;
        }

        File.Delete(usage);
        BenchHarness.Expect("mariadb-binlog: rows printed (### INSERT INTO)", counted, rows);
        return new Measurement(rows, clock.Elapsed.TotalSeconds, cpu, 0, peak).Sample();
    }

    /// <summary>The occurrences of <paramref name="pattern"/> in a stream read to its end.</summary>
    private static async Task<long> CountAsync(Stream stream, byte[] pattern)
    {
        var buffer = new byte[1 << 16];
        var kept = 0; // the last pattern.Length - 1 bytes of the previous read, kept in front of the next
        long count = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer.AsMemory(kept))) > 0)
        {
            var span = buffer.AsSpan(0, kept + read);
            for (var at = span.IndexOf(pattern); at >= 0; at = span.IndexOf(pattern))
            {
                count++;
                span = span[(at + pattern.Length)..];
            }

            kept = Math.Min(span.Length, pattern.Length - 1);
            span[^kept..].CopyTo(buffer);
        }

        return count;
    }

    /// <summary>Ours end to end: the connector from the runtime's launch (reading positions and schema history, connecting,
    /// registering schemas) into the embedded cluster until Kafka acknowledged every row; then the topic's high watermarks
    /// must sum to the rows. <paramref name="sizes"/>, when given, receives each record's partition and sizes, read back.</summary>
    private static async Task<BenchSample> EndToEndAsync(string connectionString, string database, string file, long end, int rows, int partitions, List<(int Partition, int Key, int Value)>? sizes)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = kafka.EmbeddedCluster });
        // The product's defaults (position saves included) but for the partitions, and no GTIDs (the binlog file is named).
        var options = new MySqlSourceOptions { ConnectionString = connectionString, UseGtid = false, TopicPartitions = partitions };
        options.IncludeTables.Add(database + ".*");
        var topic = TopicNames.ForTable("dm", "bench", database, "orders");
        await using (var sql = new MySqlConnection(connectionString))
        {
            await sql.OpenAsync();
            var (tables, databases, serverCharset) = await InformationSchemaLoader.LoadAsync(sql, CancellationToken.None);
            using var history = new SchemaHistory(kafka, options.HistoryTopic);
            await history.AppendAsync(new SchemaHistoryRecord { Source = "bench", File = file, Position = 4, Snapshot = true, Tables = tables, DatabaseCharsets = databases, ServerCharset = serverCharset }, CancellationToken.None);
            using var positions = new PositionStore(kafka);
            await positions.SaveAsync("bench", new MySqlPosition { File = file, Position = 4 }.ToJson(), CancellationToken.None);
        }

        Console.WriteLine($"# mysql-e2e ours producer (the runtime's): {BenchHarness.DeliveryReports(ChangeProducerConfig.Create(kafka))}");
        await using var connector = new MySqlBinlogConnector("bench", options, kafka, NullLogger.Instance);
        using var positionStore = new PositionStore(kafka);
        var runtime = new SourceRuntime<MySqlPosition>("bench", connector, options, new ChangeEventOptions(), kafka, store, positionStore, null, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        using var watermarks = new Watermarks(kafka.BootstrapServers, topic, partitions);
        var process = Process.GetCurrentProcess();
        GC.Collect();
        var cpu = process.TotalProcessorTime;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var running = Task.Run(() => runtime.RunAsync(stop.Token));
        Measurement measurement;
        double steady;
        await using (var sampler = new ProgressSampler(watermarks.Sum))
        {
            var first = TimeSpan.Zero;
            while (runtime.Produced < rows || runtime.InFlight > 0)
            {
                if (first == TimeSpan.Zero && runtime.Produced > 0)
                {
                    first = clock.Elapsed;
                }

                if (running.IsCompleted)
                {
                    await running;
                    throw new InvalidOperationException($"the connector stopped after producing {runtime.Produced} of {rows} records");
                }

                await Task.Delay(5);
            }

            clock.Stop();
            steady = sampler.SteadyRate(rows);
            process.Refresh();
            Console.WriteLine($"# mysql-e2e: first record handed to Kafka after {first.TotalSeconds:F3} s (start-up: positions, schema history, schema registration), the last acknowledged after {clock.Elapsed.TotalSeconds:F3} s");
            measurement = new Measurement(rows, clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalMilliseconds, GC.GetTotalAllocatedBytes(precise: true) - allocated, process.PeakWorkingSet64);
        }

        await stop.CancelAsync();
        try
        {
            await running;
        }
        catch (OperationCanceledException)
        {
            // stopped
        }

        BenchHarness.Expect("mysql-e2e ours: records produced", runtime.Produced, rows);
        BenchHarness.Expect("mysql-e2e ours: the topic's high watermarks summed", watermarks.Sum(), rows);
        if (sizes is not null)
        {
            ReadSizes(kafka, topic, partitions, rows, sizes);
        }

        return measurement.Sample(steady);
    }

    /// <summary>Reads <paramref name="topic"/> back from the beginning: every record's partition, key and value sizes.</summary>
    private static void ReadSizes(KafkaConnection kafka, string topic, int partitions, int rows, List<(int Partition, int Key, int Value)> sizes)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        while (sizes.Count < rows)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(30)) ?? throw new InvalidOperationException($"count check failed: {topic} gave no record after {sizes.Count} of {rows} (a partition truncated? raise --partitions)");
            sizes.Add((result.Partition.Value, result.Message.Key?.Length ?? 0, result.Message.Value?.Length ?? 0));
        }
    }

    /// <summary>The Kafka ceiling: a bare producer with the runtime's settings, launched, sending the same number of messages
    /// of the same key and value sizes to the same partitions, pre-encoded, until every one was acknowledged.</summary>
    private static async Task<BenchSample> KafkaCeilingAsync(List<(int Partition, int Key, int Value)> sizes, int partitions)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        const string topic = "bench-ceiling";
        await kafka.EnsureTopicAsync(topic, partitions, TopicRetention.Default, CancellationToken.None);
        var payload = KafkaCeiling.Payloads();
        var targets = Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, p)).ToArray();
        var messages = sizes.Select(s => new Message<byte[], byte[]> { Key = payload(s.Key), Value = payload(s.Value) }).ToArray();
        var config = ChangeProducerConfig.Create(kafka);
        Console.WriteLine($"# mysql-e2e ceiling producer: {BenchHarness.DeliveryReports(config)}");
        using var watermarks = new Watermarks(kafka.BootstrapServers, topic, partitions);
        var process = Process.GetCurrentProcess();
        GC.Collect();
        var cpu = process.TotalProcessorTime;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        double steady;
        long failed;
        await using (var sampler = new ProgressSampler(watermarks.Sum))
        {
            using var producer = new ProducerBuilder<byte[], byte[]>(config).Build();
            failed = KafkaCeiling.ProduceAll(producer, messages.Length, i => targets[sizes[i].Partition], i => messages[i]);
            clock.Stop();
            steady = sampler.SteadyRate(messages.Length);
        }

        process.Refresh();
        BenchHarness.Expect("mysql-e2e ceiling: messages that failed", failed, 0);
        BenchHarness.Expect("mysql-e2e ceiling: the topic's high watermarks summed", watermarks.Sum(), sizes.Count);
        return new Measurement(messages.Length, clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalMilliseconds, GC.GetTotalAllocatedBytes(precise: true) - allocated, process.PeakWorkingSet64).Sample(steady);
    }

    private sealed record Measurement(long Rows, double Seconds, double CpuMs, long AllocatedBytes, long PeakBytes)
    {
        public double RowsPerSecond => Rows / Seconds;

        public double CpuMsPer1k => CpuMs / Rows * 1000;

        public double BytesPerRow => (double)AllocatedBytes / Rows;

        public double PeakMb => PeakBytes / 1048576.0;

        public BenchSample Sample(double steady = double.NaN) => new(RowsPerSecond, steady, string.Create(CultureInfo.InvariantCulture,
            $"{Rows} rows in {Seconds:F3} s, cpu {CpuMs:F0} ms ({CpuMsPer1k:F3} ms per 1k rows), {BytesPerRow:F2} B allocated per row, peak working set {PeakMb:F0} MB"));
    }

    /// <summary>Hands every row to the source runtime's encoder (keys, envelopes, key changes) as the connector does before
    /// Kafka, discarding the encoded records after each row.</summary>
    private sealed class EncodingHandler : IBinlogHandler
    {
        private readonly SourceContext<MySqlPosition> _context;
        private readonly BinlogEmitter _emitter;

        public EncodingHandler()
        {
            _context = new EncodingHost(MySqlSourceFields.Describe("bench"), new ChangeEventOptions()).Context<MySqlPosition>();
            _emitter = new BinlogEmitter("bench", new MySqlSourceOptions(), _context, null!, NullLogger.Instance);
        }

        public BinlogProcessor? Processor
        {
            get => _emitter.Processor;
            set => _emitter.Processor = value;
        }

        public long Rows { get; private set; }

        public void OnRow(scoped in RowChange change, TransactionState transaction)
        {
            _emitter.OnRow(change, transaction);
            _context.DiscardPending();

            Rows++;
        }

        public void OnCommit(TransactionState transaction)
        {
        }

        public void OnSchemaChange(SchemaChange change)
        {
        }

        public void OnDdlSkipped(string statement, string? file, long position, string reason)
        {
        }

        public void OnHeartbeat()
        {
        }
    }
}
