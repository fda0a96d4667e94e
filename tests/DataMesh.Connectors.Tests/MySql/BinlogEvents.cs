using System.Buffers.Binary;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Schema;

namespace DataMesh.Tests.MySql;

/// <summary>Splits a recorded binlog file into its events, and runs them through the parser.</summary>
internal static class BinlogEvents
{
    public static List<byte[]> Split(byte[] file)
    {
        var events = new List<byte[]>();
        var at = 4;
        while (at < file.Length)
        {
            var size = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 9));
            events.Add(file.AsSpan(at, size).ToArray());
            at += size;
        }

        return events;
    }

    public static List<byte[]> Workload() => Split(Fixtures.Read("workload.binlog"));

    /// <summary>A processor over a recorded file; the workload's MINIMAL and NOBLOB rows pass with columns marked missing
    /// unless <paramref name="allowPartialRowImages"/> is false.</summary>
    public static BinlogProcessor Processor(IBinlogHandler handler, SchemaTracker? schema = null, string file = "workload.binlog", bool allowPartialRowImages = true) =>
        new(new BinlogDecoder(file, 0), schema ?? new SchemaTracker(), handler, static (_, _) => true) { AllowPartialRowImages = allowPartialRowImages };
}

/// <summary>Records what the processor reports.</summary>
internal class RecordingHandler : IBinlogHandler
{
    public List<string> Log { get; } = [];

    public int Rows { get; private set; }

    public virtual void OnRow(scoped in RowChange change, TransactionState transaction)
    {
        Rows++;
        Log.Add($"row {change.Kind} {change.Binding.Map.Table}");
    }

    public virtual void OnCommit(TransactionState transaction) => Log.Add($"commit {transaction.Gtid}");

    public void OnSchemaChange(SchemaChange change) => Log.Add($"ddl {change.Statement}");

    public void OnDdlSkipped(string statement, string? file, long position, string reason) => Log.Add($"skipped {statement}");

    public void OnHeartbeat() => Log.Add("heartbeat");
}
