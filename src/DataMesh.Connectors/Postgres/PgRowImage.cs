using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Sources;

namespace DataMesh.Connectors.Postgres;

/// <summary>A pgoutput tuple as a row image: the values are ranges of the message's bytes, written by
/// <see cref="PgValueWriter"/>. An unchanged TOASTed value is <see cref="ColumnValueState.Missing"/>; so is every column
/// but the replica identity's in a key-only old tuple ('K').</summary>
internal readonly ref struct PgRowImage(ReadOnlySpan<byte> message, PgTuple tuple, PgRelation relation, bool keyOnly, DecimalHandling decimals) : IRowImage
{
    private readonly ReadOnlySpan<byte> _message = message;
    private readonly PgTuple _tuple = tuple;
    private readonly PgRelation _relation = relation;
    private readonly bool _keyOnly = keyOnly;
    private readonly DecimalHandling _decimals = decimals;

    public ColumnValueState State(int column)
    {
        if (_keyOnly && !_relation.Message.Columns[column].IsKey)
        {
            return ColumnValueState.Missing;
        }

        return _tuple.Kind(column) switch
        {
            TupleValueKind.Null => ColumnValueState.Null,
            TupleValueKind.UnchangedToast => ColumnValueState.Missing,
            TupleValueKind.Text => ColumnValueState.Value,
            var kind => throw new FormatException($"unexpected tuple value kind '{(char)kind}' in column {column}"),
        };
    }

    public void WriteValue(ref AvroWriter writer, int column) =>
        PgValueWriter.Write(ref writer, _relation.ColumnTypes[column], _tuple.Value(_message, column), _decimals);
}

/// <summary>The PostgreSQL fields of the envelope's <c>source</c> block: the change's LSN and its transaction's commit LSN.</summary>
internal readonly ref struct PgSourceBlock(BeginMessage transaction, ulong lsn) : ISourceBlock
{
    private const long PostgresEpochMicros = 946_684_800_000_000L;

    private readonly BeginMessage _transaction = transaction;
    private readonly ulong _lsn = lsn;

    public static IReadOnlyList<SourceField> Fields { get; } = [new SourceField("lsn", SourceFieldType.NullableLong), new SourceField("commitLsn", SourceFieldType.NullableLong)];

    public long CommitTimestampMs => (_transaction.CommitTimeMicros + PostgresEpochMicros) / 1000;

    public long? TransactionId => _transaction.Xid;

    public void WritePositionFields(ref AvroWriter writer)
    {
        writer.WriteUnionIndex(1);
        writer.WriteLong((long)_lsn);
        writer.WriteUnionIndex(1);
        writer.WriteLong((long)_transaction.FinalLsn);
    }
}
