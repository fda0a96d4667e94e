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
/// The MySQL/MariaDB binlog suite, on one binlog of at least a million row changes written by the MariaDB that
/// <c>./build.sh bench mysql</c> starts:
/// <list type="bullet">
/// <item><c>mysql</c>: our replication client streams the binlog from the server and turns every row into typed values
/// and an Avro envelope (no Kafka), against the server's own decoder, <c>mariadb-binlog --read-from-remote-server
/// --verbose --base64-output=DECODE-ROWS</c> to /dev/null. Allocation per row is measured over the whole stream.</item>
/// <item><c>mysql-e2e</c>: the connector end to end into the embedded Kafka cluster until Kafka acknowledged every
/// row, against the Kafka ceiling: the same number of pre-encoded messages of the same sizes from a bare Confluent
/// producer to the same cluster.</item>
/// </list>
/// Options: <c>--rows N</c> (default 1 000 000), <c>--runs N</c> runs of each side of each line, alternated, best kept (default 3).
/// </summary>
internal sealed class MySqlSuite : IBenchmarkSuite
{
    public string Name => "mysql";

    public int Run(string[] args)
    {
        var rows = Option(args, "--rows", 1_000_000);
        var runs = Option(args, "--runs", 3);
        var connectionString = Environment.GetEnvironmentVariable("DATAMESH_MARIADB_CONNECTION");
        if (string.IsNullOrEmpty(connectionString))
        {
            Console.WriteLine("mysql: DATAMESH_MARIADB_CONNECTION is not set: run ./build.sh bench mysql, which starts MariaDB");
            return 1;
        }

        return RunAsync(connectionString, rows, runs).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string connectionString, int rows, int runs)
    {
        var builder = new MySqlConnectionStringBuilder(connectionString);
        var database = "bench_" + Guid.NewGuid().ToString("N")[..12];
        var (file, end) = await LoadAsync(connectionString, database, rows);
        try
        {
            Console.WriteLine($"# binlog {file}: {rows} row changes in {database}, ending at {end}");
            var sizes = new List<(int Key, int Value)>(rows);
            Measurement? ours = null;
            Measurement? peer = null;
            for (var run = 0; run < runs; run++)
            {
                var o = await DecodeAsync(builder, file, database, run == 0 ? sizes : null);
                Console.WriteLine($"# ours run {run + 1}: {o}");
                ours = ours is null || o.Seconds < ours.Seconds ? o : ours;
                var p = await MariaDbBinlogAsync(builder, file, rows);
                Console.WriteLine($"# peer run {run + 1}: {p}");
                peer = peer is null || p.Seconds < peer.Seconds ? p : peer;
            }

            Measurement? e2e = null;
            Measurement? ceiling = null;
            for (var run = 0; run < runs; run++)
            {
                var o = await EndToEndAsync(connectionString, database, file, end, rows);
                Console.WriteLine($"# ours e2e run {run + 1}: {o}");
                e2e = e2e is null || o.Seconds < e2e.Seconds ? o : e2e;
                var p = await KafkaCeilingAsync(sizes);
                Console.WriteLine($"# peer e2e run {run + 1} (bare producer, pre-encoded): {p}");
                ceiling = ceiling is null || p.Seconds < ceiling.Seconds ? p : ceiling;
            }

            Console.WriteLine(Line("mysql-e2e", e2e!, ceiling!));
            Console.WriteLine(Line("mysql", ours!, peer!));
            return 0;
        }
        finally
        {
            await using var connection = new MySqlConnection(connectionString);
            await connection.OpenAsync();
            await new MySqlCommand($"DROP DATABASE IF EXISTS `{database}`", connection).ExecuteNonQueryAsync();
        }
    }

    private static string Line(string name, Measurement ours, Measurement peer) => string.Create(CultureInfo.InvariantCulture,
        $"{name}: ours={ours.RowsPerSecond:F0} rows/s peer={peer.RowsPerSecond:F0} rows/s ratio={ours.RowsPerSecond / peer.RowsPerSecond:F2} cpu_per_1k_rows: ours={ours.CpuMsPer1k:F3} ms peer={peer.CpuMsPer1k:F3} ms alloc_per_row: ours={ours.BytesPerRow:F2} B peer={peer.BytesPerRow:F2} B peak_mem: ours={ours.PeakMb:F0} MB peer={peer.PeakMb:F0} MB");

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
    private static async Task<Measurement> DecodeAsync(MySqlConnectionStringBuilder builder, string file, string database, List<(int Key, int Value)>? sizes)
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

        var handler = new EncodingHandler(sizes);
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
        return new Measurement(handler.Rows, clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalMilliseconds, bytes, process.PeakWorkingSet64);
    }

    /// <summary>The peer: the server's own decoder reading the same file from the server, its output discarded. Its CPU
    /// time and peak memory come from GNU time (/usr/bin/time) when the machine has it.</summary>
    private static async Task<Measurement> MariaDbBinlogAsync(MySqlConnectionStringBuilder builder, string file, int rows)
    {
        var usage = Path.GetTempFileName();
        var command = $"mariadb-binlog --no-defaults --read-from-remote-server --host={builder.Server} --port={builder.Port} --user={builder.UserID} --verbose --base64-output=DECODE-ROWS {file} > /dev/null";
        var timed = File.Exists("/usr/bin/time");
        var start = new ProcessStartInfo("/bin/sh")
        {
            ArgumentList = { "-c", timed ? $"exec /usr/bin/time -f '%U %S %M' -o {usage} {command}" : "exec " + command },
            UseShellExecute = false,
        };
        start.Environment["MYSQL_PWD"] = builder.Password;
        var clock = Stopwatch.StartNew();
        using (var process = Process.Start(start)!)
        {
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
        return new Measurement(rows, clock.Elapsed.TotalSeconds, cpu, 0, peak);
    }

    /// <summary>Ours end to end: the connector from the file's start into the embedded cluster until every row is acknowledged.</summary>
    private static async Task<Measurement> EndToEndAsync(string connectionString, string database, string file, long end, int rows)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = kafka.EmbeddedCluster });
        var options = new MySqlSourceOptions { ConnectionString = connectionString, PositionSaveInterval = TimeSpan.FromMilliseconds(50), UseGtid = false };
        options.IncludeTables.Add(database + ".*");
        await using (var sql = new MySqlConnection(connectionString))
        {
            await sql.OpenAsync();
            var (tables, databases, serverCharset) = await InformationSchemaLoader.LoadAsync(sql, CancellationToken.None);
            using var history = new SchemaHistory(kafka, options.HistoryTopic);
            await history.AppendAsync(new SchemaHistoryRecord { Source = "bench", File = file, Position = 4, Snapshot = true, Tables = tables, DatabaseCharsets = databases, ServerCharset = serverCharset }, CancellationToken.None);
            using var positions = new PositionStore(kafka);
            await positions.SaveAsync("bench", new MySqlPosition { File = file, Position = 4 }.ToJson(), CancellationToken.None);
        }

        await using var connector = new MySqlBinlogConnector("bench", options, kafka, NullLogger.Instance);
        using var positionStore = new PositionStore(kafka);
        var runtime = new SourceRuntime<MySqlPosition>("bench", connector, options, new ChangeEventOptions(), kafka, store, positionStore, null, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var process = Process.GetCurrentProcess();
        GC.Collect();
        var cpu = process.TotalProcessorTime;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var running = Task.Run(() => runtime.RunAsync(stop.Token));
        var first = TimeSpan.Zero;
        while (runtime.StoredPosition is not { } saved || !saved.IsAtOrAfter(file, end))
        {
            if (first == TimeSpan.Zero && runtime.Produced > 0)
            {
                first = clock.Elapsed;
                Console.WriteLine($"# e2e: first record handed to Kafka after {first.TotalSeconds:F3} s (start-up: positions, schema history, schema registration)");
            }

            if (running.IsCompleted)
            {
                await running;
                throw new InvalidOperationException("the connector stopped before reaching the end of the bench binlog");
            }

            await Task.Delay(10);
        }

        clock.Stop();
        process.Refresh();

        // The same window as the peer's: from the first record handed to the producer until the last is acknowledged (and
        // here also stored as the position). Start-up (connecting, schema history, registering schemas) is printed above
        // and left out, as the peer's client start-up is; its CPU stays in the CPU figure.
        Console.WriteLine($"# e2e: all {rows} rows acknowledged and the position stored after {clock.Elapsed.TotalSeconds:F3} s in all, {(clock.Elapsed - first).TotalSeconds:F3} s after the first record");
        var measurement = new Measurement(rows, (clock.Elapsed - first).TotalSeconds, (process.TotalProcessorTime - cpu).TotalMilliseconds, GC.GetTotalAllocatedBytes(precise: true) - allocated, process.PeakWorkingSet64);
        await stop.CancelAsync();
        try
        {
            await running;
        }
        catch (OperationCanceledException)
        {
            // stopped
        }

        if (runtime.Produced < rows)
        {
            throw new InvalidOperationException($"the connector produced {runtime.Produced} records for {rows} rows");
        }

        return measurement;
    }

    /// <summary>The Kafka ceiling: the same number of messages of the same key and value sizes, pre-encoded, from a bare producer.</summary>
    private static async Task<Measurement> KafkaCeilingAsync(List<(int Key, int Value)> sizes)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        const string topic = "bench-ceiling";
        await kafka.EnsureTopicAsync(topic, 1, TopicRetention.Default, CancellationToken.None);
        var buffers = new Dictionary<int, byte[]>();
        byte[] Buffer(int size)
        {
            if (!buffers.TryGetValue(size, out var buffer))
            {
                buffers[size] = buffer = new byte[size];
                Random.Shared.NextBytes(buffer);
            }

            return buffer;
        }

        var messages = sizes.Select(s => new Message<byte[], byte[]> { Key = Buffer(s.Key), Value = Buffer(s.Value) }).ToArray();
        using var producer = new ProducerBuilder<byte[], byte[]>(kafka.CreateProducerConfig()).Build();
        long delivered = 0;
        long failed = 0;
        Action<DeliveryReport<byte[], byte[]>> report = r =>
        {
            if (r.Error.IsError)
            {
                Interlocked.Increment(ref failed);
            }
            else
            {
                Interlocked.Increment(ref delivered);
            }
        };
        var process = Process.GetCurrentProcess();
        GC.Collect();
        var cpu = process.TotalProcessorTime;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        foreach (var message in messages)
        {
            while (true)
            {
                try
                {
                    producer.Produce(topic, message, report);
                    break;
                }
                catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(1));
                }
            }
        }

        while (Interlocked.Read(ref delivered) + Interlocked.Read(ref failed) < messages.Length)
        {
            producer.Poll(TimeSpan.FromMilliseconds(5));
        }

        clock.Stop();
        process.Refresh();
        if (failed > 0)
        {
            throw new InvalidOperationException($"{failed} messages failed");
        }

        return new Measurement(messages.Length, clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalMilliseconds, GC.GetTotalAllocatedBytes(precise: true) - allocated, process.PeakWorkingSet64);
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private sealed record Measurement(long Rows, double Seconds, double CpuMs, long AllocatedBytes, long PeakBytes)
    {
        public double RowsPerSecond => Rows / Seconds;

        public double CpuMsPer1k => CpuMs / Rows * 1000;

        public double BytesPerRow => (double)AllocatedBytes / Rows;

        public double PeakMb => PeakBytes / 1048576.0;

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{Rows} rows in {Seconds:F3} s = {RowsPerSecond:F0} rows/s, cpu {CpuMs:F0} ms ({CpuMsPer1k:F3} ms per 1k rows), {BytesPerRow:F2} B allocated per row, peak working set {PeakMb:F0} MB");
    }

    /// <summary>Hands every row to the source runtime's encoder (keys, envelopes, key changes) as the connector does before
    /// Kafka, discarding the encoded records after each row (or, when sizes are wanted, recording their sizes).</summary>
    private sealed class EncodingHandler : IBinlogHandler
    {
        private readonly List<(int Key, int Value)>? _sizes;
        private readonly SourceContext<MySqlPosition> _context;
        private readonly BinlogEmitter _emitter;

        public EncodingHandler(List<(int Key, int Value)>? sizes)
        {
            _sizes = sizes;
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
            if (_sizes is null)
            {
                _context.DiscardPending();
            }
            else
            {
                foreach (var record in _context.TakeEncoded())
                {
                    _sizes.Add((record.Key?.Length ?? 0, record.Value?.Length ?? 0));
                }
            }

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
