using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// The fixture README's count and hash (those of Cassandra's CommitLogUpgradeTest): for every non-static row whose first
/// clustering value, read as ASCII, starts with <c>name</c>, every cell counts once and its value's bytes are folded into
/// a 32-bit sum, byte i shifted left by 8 × (i mod 4).
/// </summary>
internal struct CellHash : IMutationHandler
{
    public int Cells;
    public int Hash;

    public static int Fold(int hash, ReadOnlySpan<byte> value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            hash = unchecked(hash + (value[i] << (8 * (i % 4))));
        }

        return hash;
    }

    public readonly void OnPartition(in PartitionUpdate partition)
    {
    }

    public readonly void OnRow(in RowHeader row)
    {
    }

    public readonly void OnComplexDeletion(in RowHeader row, CassandraColumn column, DeletionTime deletion)
    {
    }

    public void OnCell(in RowHeader row, in Cell cell)
    {
        if (!row.IsStatic && row.Clustering.Count > 0 && !row.Clustering.IsNull(0) && row.Clustering[0].StartsWith("name"u8))
        {
            Cells++;
            Hash = Fold(Hash, cell.Value);
        }
    }

    public readonly void OnRangeTombstone(in RangeTombstoneMarker marker)
    {
    }
}

/// <summary>What reading a directory's segments gave.</summary>
internal sealed class SegmentsRead
{
    public int Cells { get; set; }

    public int Hash { get; set; }

    public int Entries { get; set; }

    public int Decoded { get; set; }

    public long Bytes { get; set; }

    /// <summary>Entries per first table id (known and unknown tables).</summary>
    public Dictionary<Guid, int> ByTable { get; } = [];

    /// <summary>Per segment file: its sections, why its data ended and where.</summary>
    public Dictionary<string, (IReadOnlyList<CommitLogSection> Sections, CommitLogEnd End, long EndOffset)> Segments { get; } = [];

    /// <summary>Reads every entry of the segments (all CRCs checked) and decodes the mutations of the schema's tables.</summary>
    public static SegmentsRead Read(IEnumerable<(string Name, byte[] Data)> segments, CassandraSchema schema, CommitLogReaderOptions options)
    {
        var result = new SegmentsRead();
        var decoder = new MutationDecoder(schema);
        var hash = new CellHash();
        foreach (var (name, data) in segments)
        {
            using var reader = new CommitLogSegmentReader(name, data, options);
            result.Bytes += data.Length;
            while (reader.TryReadEntry(out var entry))
            {
                result.Entries++;
                Assert.True(MutationDecoder.TryReadFirstTableId(entry.Mutation, out var table));
                result.ByTable[table] = result.ByTable.GetValueOrDefault(table) + 1;
                if (decoder.Decode(entry.Mutation, name, entry.Offset + 8, ref hash) == MutationOutcome.Decoded)
                {
                    result.Decoded++;
                }
            }

            result.Segments[name] = ([.. reader.Sections], reader.End, reader.EndOffset);
        }

        result.Cells = hash.Cells;
        result.Hash = hash.Hash;
        return result;
    }

    public static SegmentsRead ReadDirectory(string version) =>
        Read(
            CassandraFixtures.Segments(version).Select(path => (Path.GetFileName(path), File.ReadAllBytes(path))),
            new CassandraSchema(CassandraFixtures.Standard1(CassandraFixtures.Expected(version).TableId)),
            CassandraFixtures.Options());
}
