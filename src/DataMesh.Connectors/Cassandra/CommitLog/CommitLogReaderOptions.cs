namespace DataMesh.Connectors.Cassandra.CommitLog;

/// <summary>What a <see cref="CommitLogSegmentReader"/> needs besides the segment: the keys of encrypted segments, the
/// compressor inside encrypted chunks, limits.</summary>
internal sealed class CommitLogReaderOptions
{
    /// <summary>The raw AES keys of the node's keystore (<c>transparent_data_encryption_options</c>), by alias. JCEKS
    /// lower-cases aliases, and so does the lookup. .NET cannot open a JCEKS keystore: export each key's bytes with the
    /// JDK (<c>KeyStore.getInstance("JCEKS")</c>, then <c>getKey(alias, password).getEncoded()</c>).</summary>
    public Dictionary<string, byte[]> EncryptionKeys { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The compressor inside encrypted chunks: <c>transparent_data_encryption_options.chunk_compressor</c>'s
    /// class (Cassandra's default and the only one its encryption context uses: <c>LZ4Compressor</c>).</summary>
    public string EncryptedChunkCompressor { get; set; } = "LZ4Compressor";

    /// <summary>The largest uncompressed section accepted (a bound on memory for a corrupt length): 256 MiB, above
    /// <c>commitlog_segment_size</c>'s usual 32 MiB. Raise it for larger segments.</summary>
    public int MaxSectionLength { get; set; } = 256 << 20;
}
