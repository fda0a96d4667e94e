using System.Globalization;

namespace DataMesh.Connectors.Cassandra.Cdc;

/// <summary>
/// A segment's <c>&lt;segment&gt;_cdc.idx</c> in <c>cdc_raw</c> (Cassandra 4.0+): line 1 the offset up to which the
/// segment's data are durable, line 2 <c>COMPLETED</c> once the node writes no more to it. The node rewrites the file
/// after every sync, so a reader may find it empty or half-written: that is "not yet", never an error.
/// </summary>
/// <param name="Offset">The durable offset (Cassandra's commit-log position in the segment).</param>
/// <param name="Completed">Whether the segment is finished.</param>
internal readonly record struct CdcIndex(long Offset, bool Completed)
{
    public const string Suffix = "_cdc.idx";

    /// <summary>Reads an index file's text.</summary>
    /// <returns>False for an empty or partly written file.</returns>
    public static bool TryParse(string text, out CdcIndex index)
    {
        var lines = text.Split('\n', StringSplitOptions.TrimEntries);
        if (lines.Length >= 1 && long.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            && (lines.Length == 1 || lines[1] is "" or "COMPLETED"))
        {
            index = new CdcIndex(offset, lines.Length > 1 && lines[1] == "COMPLETED");
            return true;
        }

        index = default;
        return false;
    }

    /// <summary>The index file of a segment file (<c>CommitLog-7-1.log</c> → <c>CommitLog-7-1_cdc.idx</c>).</summary>
    public static string PathOf(string segmentPath) => Path.ChangeExtension(segmentPath, null) + Suffix;
}
