using System.Diagnostics;
using System.Globalization;
using Avro;
using Avro.Specific;
using Confluent.Kafka;
using Confluent.Kafka.SyncOverAsync;
using Confluent.SchemaRegistry.Serdes;
using DataMesh.Hosting;
using DataMesh.Sources;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;
using AvroSchema = Avro.Schema;

namespace DataMesh.Benchmarks;

/// <summary>
/// The peer a .NET user would write for PostgreSQL to Kafka: Npgsql's own pgoutput replication API
/// (<see cref="LogicalReplicationConnection"/> with <see cref="PgOutputReplicationSlot"/>) decoding every insert and update
/// into objects (<see cref="PgBenchRow"/>), wrapped in a change envelope of the same fields as ours
/// (<see cref="PgBenchEnvelope"/>: before, after, source {version, connector, name, ts_ms, snapshot, db, schema, table, lsn,
/// txId}, op, ts_ms) and produced with Confluent's <see cref="AvroSerializer{T}"/> (keys and values, schemas registered
/// with the in-process registry) by a producer with the source runtime's settings, to a topic of the same partitions on an
/// embedded cluster. Runs from the connection's open until the workload's last commit was read and every record
/// acknowledged.
/// </summary>
internal static class PgDotnetPeer
{
    /// <summary>Streams <paramref name="slot"/> into a fresh cluster up to the first commit at or past
    /// <paramref name="lastTransaction"/> (the workload's last); returns the rows decoded, the records the topic holds, the
    /// steady-state rate and the seconds.</summary>
    public static async Task<(long Decoded, long Held, double Steady, double Seconds)> RunAsync(string connectionString, string slot, string publication, NpgsqlLogSequenceNumber lastTransaction, int partitions, long expected)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        const string Topic = "bench.peer.public.bench";
        kafka.EmbeddedCluster!.CreateTopic(Topic, partitions);
        using var registry = new InProcessSchemaRegistry();
        var config = ChangeProducerConfig.Create(kafka);
        Console.WriteLine($"# pg-dotnet producer: {BenchHarness.DeliveryReports(config)}");
        using var watermarks = new Watermarks(kafka.BootstrapServers, Topic, partitions);
        long delivered = 0;
        long failed = 0;
        long decoded = 0;
        Action<DeliveryReport<PgBenchKey, PgBenchEnvelope>> report = r =>
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

        var clock = Stopwatch.StartNew();
        await using var sampler = new ProgressSampler(watermarks.Sum);
        using var producer = new ProducerBuilder<PgBenchKey, PgBenchEnvelope>(config)
            .SetKeySerializer(new AvroSerializer<PgBenchKey>(registry).AsSyncOverAsync())
            .SetValueSerializer(new AvroSerializer<PgBenchEnvelope>(registry).AsSyncOverAsync())
            .Build();
        await using (var connection = new LogicalReplicationConnection(connectionString))
        {
            await connection.Open();
            using var stop = new CancellationTokenSource();
            var database = new Npgsql.NpgsqlConnectionStringBuilder(connectionString).Database ?? string.Empty;
            var source = new PgBenchSource { Db = database, SchemaName = "public", Table = "bench" };
            var options = new PgOutputReplicationOptions(publication, PgOutputProtocolVersion.V1);
            try
            {
                await foreach (var message in connection.StartReplication(new PgOutputReplicationSlot(slot), options, stop.Token))
                {
                    switch (message)
                    {
                        case BeginMessage begin:
                            source = new PgBenchSource
                            {
                                Db = database, SchemaName = "public", Table = "bench", TxId = begin.TransactionXid,
                                TsMs = new DateTimeOffset(begin.TransactionCommitTimestamp).ToUnixTimeMilliseconds(),
                            };
                            break;
                        case InsertMessage insert:
                            Produce(producer, report, Topic, await ReadRowAsync(insert.NewRow, stop.Token), "c", source, message.WalStart);
                            decoded++;
                            break;
                        case UpdateMessage update:
                            Produce(producer, report, Topic, await ReadRowAsync(update.NewRow, stop.Token), "u", source, message.WalStart);
                            decoded++;
                            break;
                        case CommitMessage commit when commit.CommitLsn >= lastTransaction:
                            connection.SetReplicationStatus(commit.TransactionEndLsn);
                            await stop.CancelAsync();
                            break;
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // read to the last commit
            }
        }

        while (Interlocked.Read(ref delivered) + Interlocked.Read(ref failed) < decoded)
        {
            producer.Poll(TimeSpan.FromMilliseconds(5));
        }

        clock.Stop();
        BenchHarness.Expect("pg-dotnet: records that failed to be delivered", Interlocked.Read(ref failed), 0);
        return (decoded, watermarks.Sum(), sampler.SteadyRate(expected), clock.Elapsed.TotalSeconds);
    }

    private static async Task<PgBenchRow> ReadRowAsync(ReplicationTuple tuple, CancellationToken cancellationToken)
    {
        var row = new PgBenchRow();
        var column = 0;
        await foreach (var value in tuple.WithCancellation(cancellationToken))
        {
            switch (column++)
            {
                // pgoutput protocol 1 sends text values (ours asks for the same): parsed as a user would.
                case 0: row.Id = int.Parse(await value.Get<string>(cancellationToken), CultureInfo.InvariantCulture); break;
                case 1: row.V = long.Parse(await value.Get<string>(cancellationToken), CultureInfo.InvariantCulture); break;
                default: row.Note = await value.Get<string>(cancellationToken); break;
            }
        }

        return row;
    }

    private static void Produce(IProducer<PgBenchKey, PgBenchEnvelope> producer, Action<DeliveryReport<PgBenchKey, PgBenchEnvelope>> report, string topic, PgBenchRow row, string op, PgBenchSource source, NpgsqlLogSequenceNumber lsn)
    {
        var message = new Message<PgBenchKey, PgBenchEnvelope>
        {
            Key = new PgBenchKey { Id = row.Id },
            Value = new PgBenchEnvelope { After = row, Op = op, TsMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), Source = source.WithLsn((long)(ulong)lsn) },
        };
        while (true)
        {
            try
            {
                producer.Produce(topic, message, report);
                return;
            }
            catch (ProduceException<PgBenchKey, PgBenchEnvelope> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(1));
            }
        }
    }
}

/// <summary>The key of the peer's records, as avrogen would generate it.</summary>
public sealed class PgBenchKey : ISpecificRecord
{
    public static readonly AvroSchema SchemaInstance = AvroSchema.Parse("""{"type":"record","name":"PgBenchKey","namespace":"DataMesh.Benchmarks","fields":[{"name":"id","type":"int"}]}""");

    public AvroSchema Schema => SchemaInstance;

    public int Id { get; set; }

    public object Get(int fieldPos) => fieldPos == 0 ? Id : throw new AvroRuntimeException("Bad index " + fieldPos + " in Get()");

    public void Put(int fieldPos, object fieldValue) => Id = fieldPos == 0 ? (int)fieldValue : throw new AvroRuntimeException("Bad index " + fieldPos + " in Put()");
}

/// <summary>A row of the bench table, decoded.</summary>
public sealed class PgBenchRow : ISpecificRecord
{
    public AvroSchema Schema => PgBenchEnvelope.RowSchema;

    public int Id { get; set; }

    public long V { get; set; }

    public string Note { get; set; } = "";

    public object Get(int fieldPos) => fieldPos switch
    {
        0 => Id,
        1 => V,
        2 => Note,
        _ => throw new AvroRuntimeException("Bad index " + fieldPos + " in Get()"),
    };

    public void Put(int fieldPos, object fieldValue)
    {
        switch (fieldPos)
        {
            case 0: Id = (int)fieldValue; break;
            case 1: V = (long)fieldValue; break;
            case 2: Note = (string)fieldValue; break;
            default: throw new AvroRuntimeException("Bad index " + fieldPos + " in Put()");
        }
    }
}

/// <summary>The source block of the peer's envelope: the same fields as ours.</summary>
public sealed class PgBenchSource : ISpecificRecord
{
    public AvroSchema Schema => PgBenchEnvelope.SourceSchema;

    public string Version { get; set; } = "1.0";

    public string Connector { get; set; } = "postgresql";

    public string Name { get; set; } = "bench";

    public long TsMs { get; set; }

    public string? Snapshot { get; set; }

    public string Db { get; set; } = "";

    public string SchemaName { get; set; } = "";

    public string Table { get; set; } = "";

    public long Lsn { get; set; }

    public long TxId { get; set; }

    /// <summary>A copy at <paramref name="lsn"/>.</summary>
    public PgBenchSource WithLsn(long lsn) => new() { TsMs = TsMs, Db = Db, SchemaName = SchemaName, Table = Table, TxId = TxId, Lsn = lsn };

    public object? Get(int fieldPos) => fieldPos switch
    {
        0 => Version,
        1 => Connector,
        2 => Name,
        3 => TsMs,
        4 => Snapshot,
        5 => Db,
        6 => SchemaName,
        7 => Table,
        8 => Lsn,
        9 => TxId,
        _ => throw new AvroRuntimeException("Bad index " + fieldPos + " in Get()"),
    };

    public void Put(int fieldPos, object fieldValue)
    {
        switch (fieldPos)
        {
            case 0: Version = (string)fieldValue; break;
            case 1: Connector = (string)fieldValue; break;
            case 2: Name = (string)fieldValue; break;
            case 3: TsMs = (long)fieldValue; break;
            case 4: Snapshot = (string?)fieldValue; break;
            case 5: Db = (string)fieldValue; break;
            case 6: SchemaName = (string)fieldValue; break;
            case 7: Table = (string)fieldValue; break;
            case 8: Lsn = (long)fieldValue; break;
            case 9: TxId = (long)fieldValue; break;
            default: throw new AvroRuntimeException("Bad index " + fieldPos + " in Put()");
        }
    }
}

/// <summary>The peer's change envelope (before, after, source, op, ts_ms), as avrogen would generate it.</summary>
public sealed class PgBenchEnvelope : ISpecificRecord
{
    public static readonly RecordSchema SchemaInstance = (RecordSchema)AvroSchema.Parse("""
        {"type":"record","name":"PgBenchEnvelope","namespace":"DataMesh.Benchmarks","fields":[
          {"name":"before","type":["null",{"type":"record","name":"PgBenchRow","fields":[
            {"name":"id","type":"int"},{"name":"v","type":"long"},{"name":"note","type":"string"}]}],"default":null},
          {"name":"after","type":["null","PgBenchRow"],"default":null},
          {"name":"source","type":{"type":"record","name":"PgBenchSource","fields":[
            {"name":"version","type":"string"},{"name":"connector","type":"string"},{"name":"name","type":"string"},
            {"name":"ts_ms","type":"long"},{"name":"snapshot","type":["null","string"],"default":null},{"name":"db","type":"string"},
            {"name":"schema","type":"string"},{"name":"table","type":"string"},{"name":"lsn","type":"long"},{"name":"txId","type":"long"}]}},
          {"name":"op","type":"string"},
          {"name":"ts_ms","type":"long"}]}
        """);

    /// <summary>The row record's schema.</summary>
    public static readonly RecordSchema RowSchema = (RecordSchema)((UnionSchema)SchemaInstance["before"].Schema)[1];

    /// <summary>The source record's schema.</summary>
    public static readonly RecordSchema SourceSchema = (RecordSchema)SchemaInstance["source"].Schema;

    public AvroSchema Schema => SchemaInstance;

    public PgBenchRow? Before { get; set; }

    public PgBenchRow? After { get; set; }

    public PgBenchSource Source { get; set; } = new();

    public string Op { get; set; } = "";

    public long TsMs { get; set; }

    public object? Get(int fieldPos) => fieldPos switch
    {
        0 => Before,
        1 => After,
        2 => Source,
        3 => Op,
        4 => TsMs,
        _ => throw new AvroRuntimeException("Bad index " + fieldPos + " in Get()"),
    };

    public void Put(int fieldPos, object fieldValue)
    {
        switch (fieldPos)
        {
            case 0: Before = (PgBenchRow?)fieldValue; break;
            case 1: After = (PgBenchRow?)fieldValue; break;
            case 2: Source = (PgBenchSource)fieldValue; break;
            case 3: Op = (string)fieldValue; break;
            case 4: TsMs = (long)fieldValue; break;
            default: throw new AvroRuntimeException("Bad index " + fieldPos + " in Put()");
        }
    }
}
