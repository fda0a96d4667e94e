using System.Globalization;

namespace DataMesh.Connectors.Cassandra.Cdc;

/// <summary>A commit-log segment in a node's <c>cdc_raw</c>: <c>CommitLog-&lt;version&gt;-&lt;id&gt;.log</c>.</summary>
/// <param name="Id">The segment id (the order in which the node wrote its segments).</param>
/// <param name="Version">The commit-log version in its name.</param>
/// <param name="Name">The file name.</param>
internal sealed record CdcSegmentFile(long Id, int Version, string Name)
{
    /// <summary>Reads a segment's file name; false for any other file (an index, a temporary file).</summary>
    public static bool TryParse(string fileName, out CdcSegmentFile segment)
    {
        segment = null!;
        if (!fileName.StartsWith("CommitLog-", StringComparison.Ordinal) || !fileName.EndsWith(".log", StringComparison.Ordinal))
        {
            return false;
        }

        var parts = fileName[..^4].Split('-');
        if (parts.Length == 3
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var version)
            && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            segment = new CdcSegmentFile(id, version, fileName);
            return true;
        }

        return false;
    }
}

/// <summary>
/// Where a node's <c>cdc_raw</c> is read from: a directory this process sees (<see cref="CdcRawDirectory"/>), or the
/// node's agent over HTTPS (<see cref="CdcRawAgentClient"/>). The follower asks in this order: the segments, a segment's
/// <c>_cdc.idx</c>, its bytes up to the durable offset, and once acknowledged, its deletion.
/// </summary>
internal interface ICdcRawStore : IDisposable
{
    /// <summary>The directory or the agent's address, for messages.</summary>
    string Location { get; }

    /// <summary>The segments, by id.</summary>
    IReadOnlyList<CdcSegmentFile> List(CancellationToken cancellationToken);

    /// <summary>The text of a segment's <c>_cdc.idx</c> (possibly empty or half-written: the node rewrites it), or null when
    /// it has none.</summary>
    string? ReadIndex(CdcSegmentFile segment, CancellationToken cancellationToken);

    /// <summary>The segment file's length now, or null when the store cannot tell (an agent of an older version) or the
    /// file is gone.</summary>
    long? Length(CdcSegmentFile segment, CancellationToken cancellationToken);

    /// <summary>The segment's bytes, all of them (<paramref name="durable"/>, the index's offset, is logical: a compressed
    /// or encrypted segment's bytes may run past it; the reader stops at it).</summary>
    byte[] Read(CdcSegmentFile segment, long durable, CancellationToken cancellationToken);

    /// <summary>Deletes a segment and its index (nothing when already gone).</summary>
    void Delete(CdcSegmentFile segment, CancellationToken cancellationToken);
}

/// <summary>A node's <c>cdc_raw</c> directory as this process sees it (local, or a mounted volume).</summary>
internal sealed class CdcRawDirectory(string directory) : ICdcRawStore
{
    public string Location => directory;

    public IReadOnlyList<CdcSegmentFile> List(CancellationToken cancellationToken)
    {
        List<CdcSegmentFile> segments = [];
        foreach (var path in Directory.EnumerateFiles(directory, "CommitLog-*.log"))
        {
            if (CdcSegmentFile.TryParse(Path.GetFileName(path), out var segment))
            {
                segments.Add(segment);
            }
        }

        segments.Sort((a, b) => a.Id.CompareTo(b.Id));
        return segments;
    }

    public string? ReadIndex(CdcSegmentFile segment, CancellationToken cancellationToken)
    {
        try
        {
            using var stream = new FileStream(CdcIndex.PathOf(Path.Combine(directory, segment.Name)), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    public long? Length(CdcSegmentFile segment, CancellationToken cancellationToken)
    {
        var file = new FileInfo(Path.Combine(directory, segment.Name));
        return file.Exists ? file.Length : null;
    }

    public byte[] Read(CdcSegmentFile segment, long durable, CancellationToken cancellationToken) => File.ReadAllBytes(Path.Combine(directory, segment.Name));

    public void Delete(CdcSegmentFile segment, CancellationToken cancellationToken)
    {
        var path = Path.Combine(directory, segment.Name);
        File.Delete(path);
        File.Delete(CdcIndex.PathOf(path));
    }

    public void Dispose()
    {
    }
}
