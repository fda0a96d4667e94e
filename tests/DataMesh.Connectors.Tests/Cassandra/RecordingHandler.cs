using System.Buffers.Binary;
using System.Globalization;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;

namespace DataMesh.Tests.Cassandra;

/// <summary>Writes what a decoder hands over as lines of text, values decoded by their CQL types; timestamps and
/// deletion times relative to the minima given.</summary>
internal sealed class RecordingHandler(long timestampBase, int timeBase) : IMutationHandler
{
    public List<string> Lines { get; } = [];

    public void OnPartition(in PartitionUpdate partition)
    {
        var keys = new List<string>();
        for (var i = 0; i < partition.Table.PartitionKey.Count; i++)
        {
            keys.Add(partition.TryGetKeyComponent(i, out var value) ? Format(CqlValues.ToObject(partition.Table.PartitionKey[i].Type, value)) : "?");
        }

        Lines.Add($"partition {partition.Table.Name} key=({string.Join(", ", keys)}){(partition.IsEmpty ? " empty" : string.Empty)}{Deletion(" deleted", partition.Deletion)}");
    }

    public void OnRow(in RowHeader row)
    {
        var liveness = row.Liveness.IsEmpty ? string.Empty : $" ts={row.Liveness.Timestamp - timestampBase}";
        if (row.Liveness.IsExpiring)
        {
            liveness += $" ttl={row.Liveness.Ttl} expires={row.Liveness.LocalExpirationTime - timeBase}";
        }

        Lines.Add($"{(row.IsStatic ? "static row" : "row " + Clustering(row.Table, row.Clustering))}{liveness}{Deletion(" deleted", row.Deletion)}");
    }

    public void OnComplexDeletion(in RowHeader row, CassandraColumn column, DeletionTime deletion) =>
        Lines.Add($"  {column.Name} deleted{Deletion(string.Empty, deletion)}");

    public void OnCell(in RowHeader row, in Cell cell)
    {
        var path = string.Empty;
        if (!cell.Path.IsEmpty)
        {
            var type = cell.Column.Type;
            path = type.Kind switch
            {
                CqlKind.List => "[" + Format(CqlValues.ToObject(CqlType.Of(CqlKind.Timeuuid), cell.Path)) + "]",
                CqlKind.Set or CqlKind.Map => "[" + Format(CqlValues.ToObject(type.Parameters[0], cell.Path)) + "]",
                _ => "." + type.FieldNames[BinaryPrimitives.ReadUInt16BigEndian(cell.Path)],
            };
        }

        var flags = (cell.IsTombstone ? " tombstone" : string.Empty) + (cell.IsExpiring ? $" ttl={cell.Ttl} expires={cell.LocalDeletionTime - timeBase}" : string.Empty);
        if (cell.IsTombstone)
        {
            flags += $" at={cell.LocalDeletionTime - timeBase}";
        }

        var value = cell.IsTombstone || cell.ValueType is null ? string.Empty : " = " + Format(CqlValues.ToObject(cell.ValueType, cell.Value));
        Lines.Add($"  {cell.Column.Name}{path} ts={cell.Timestamp - timestampBase}{flags}{value}");
    }

    public void OnRangeTombstone(in RangeTombstoneMarker marker) =>
        Lines.Add($"marker {marker.Kind} {Clustering(marker.Table, marker.Prefix)}{Deletion(string.Empty, marker.Deletion)}{Deletion(" closes", marker.EndDeletion)}");

    public static string Format(object? value) => value switch
    {
        null => "null",
        string s => $"'{s}'",
        byte[] b => "0x" + Convert.ToHexStringLower(b),
        DateTimeOffset d => d.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
        List<object?> list => "[" + string.Join(", ", list.Select(Format)) + "]",
        List<KeyValuePair<object?, object?>> map => "{" + string.Join(", ", map.Select(p => Format(p.Key) + ": " + Format(p.Value))) + "}",
        object?[] fields => "(" + string.Join(", ", fields.Select(Format)) + ")",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    private string Deletion(string label, DeletionTime? deletion) =>
        deletion is { } d ? $"{label} ts={d.MarkedForDeleteAt - timestampBase} at={d.LocalDeletionTime - timeBase}" : string.Empty;

    private static string Clustering(CassandraTable table, ClusteringValues values)
    {
        var parts = new List<string>();
        for (var i = 0; i < values.Count; i++)
        {
            parts.Add(values.IsNull(i) ? "null" : Format(CqlValues.ToObject(table.Clustering[i].Type, values[i])));
        }

        return "(" + string.Join(", ", parts) + ")";
    }
}
