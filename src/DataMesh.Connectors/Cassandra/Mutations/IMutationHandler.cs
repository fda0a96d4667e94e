namespace DataMesh.Connectors.Cassandra.Mutations;

/// <summary>
/// Receives one mutation's contents in order, as <see cref="MutationDecoder"/> reads them: per partition update its
/// header, then its static row and rows (each followed by its cells) and range-tombstone markers. Everything handed
/// over points into the mutation's bytes and is valid only during the call. Implement it as a struct (or
/// <c>ref struct</c>) so that the calls are direct.
/// </summary>
internal interface IMutationHandler
{
    /// <summary>A partition update of a table the schema knows.</summary>
    void OnPartition(in PartitionUpdate partition);

    /// <summary>A row (the static row first, if any); its cells follow.</summary>
    void OnRow(in RowHeader row);

    /// <summary>A multi-cell column's deletion (<c>SET list = [...]</c> first deletes the old elements); cells may follow.</summary>
    void OnComplexDeletion(in RowHeader row, Schema.CassandraColumn column, DeletionTime deletion);

    /// <summary>One cell of the last row.</summary>
    void OnCell(in RowHeader row, in Cell cell);

    /// <summary>One end of a range deletion (<c>DELETE … WHERE pk = … AND ck &gt; …</c>).</summary>
    void OnRangeTombstone(in RangeTombstoneMarker marker);
}

/// <summary>What <see cref="MutationDecoder.Decode"/> made of a mutation.</summary>
internal enum MutationOutcome
{
    /// <summary>Every partition update was decoded.</summary>
    Decoded,

    /// <summary>Nothing captured: a first partition update of a table the schema does not know (the mutation's rest cannot
    /// be read without the table's columns, so it was skipped from there), or updates only of tables read past (see
    /// <see cref="MutationDecoder.UnknownTableId"/>).</summary>
    UnknownTable,
}

/// <summary>A handler that takes nothing: decoding with it finds the partition updates' bytes, or reads past the updates
/// of tables that are not captured.</summary>
internal struct NoHandler : IMutationHandler
{
    public readonly void OnPartition(in PartitionUpdate partition)
    {
    }

    public readonly void OnRow(in RowHeader row)
    {
    }

    public readonly void OnComplexDeletion(in RowHeader row, Schema.CassandraColumn column, DeletionTime deletion)
    {
    }

    public readonly void OnCell(in RowHeader row, in Cell cell)
    {
    }

    public readonly void OnRangeTombstone(in RangeTombstoneMarker marker)
    {
    }
}
