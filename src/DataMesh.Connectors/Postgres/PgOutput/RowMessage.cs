namespace DataMesh.Connectors.Postgres;

/// <summary>
/// The columns of one tuple in a pgoutput message, as ranges into the message's bytes. Reused from message to
/// message: valid until the next message is parsed into it.
/// </summary>
internal sealed class PgTuple
{
    private TupleValueKind[] _kinds = new TupleValueKind[16];
    private int[] _offsets = new int[16];
    private int[] _lengths = new int[16];

    public int Count { get; private set; }

    public TupleValueKind Kind(int column) => _kinds[column];

    public ReadOnlySpan<byte> Value(ReadOnlySpan<byte> message, int column) => message.Slice(_offsets[column], _lengths[column]);

    /// <summary>Reads a TupleData at the reader's position.</summary>
    internal void Read(ref PgOutputReader reader)
    {
        var count = reader.ReadInt16("tuple column count");
        if (count < 0)
        {
            throw reader.Error($"negative tuple column count {count}");
        }

        if (count > _kinds.Length)
        {
            var size = Math.Max(count, _kinds.Length * 2);
            _kinds = new TupleValueKind[size];
            _offsets = new int[size];
            _lengths = new int[size];
        }

        for (var i = 0; i < count; i++)
        {
            var kind = (TupleValueKind)reader.ReadByte("tuple value kind");
            _kinds[i] = kind;
            switch (kind)
            {
                case TupleValueKind.Null:
                case TupleValueKind.UnchangedToast:
                    _offsets[i] = 0;
                    _lengths[i] = 0;
                    break;
                case TupleValueKind.Text:
                case TupleValueKind.Binary:
                    var length = reader.ReadInt32("tuple value length");
                    if (length < 0 || length > reader.Remaining)
                    {
                        throw reader.Error($"column {i} value length {length} exceeds the {reader.Remaining} bytes remaining");
                    }

                    _offsets[i] = reader.Position;
                    _lengths[i] = length;
                    reader.Skip(length);
                    break;
                default:
                    throw reader.Error($"column {i} has unknown tuple value kind 0x{(byte)kind:x2}");
            }
        }

        Count = count;
    }
}

/// <summary>An INSERT, UPDATE or DELETE message parsed into reusable tuples.</summary>
internal sealed class RowMessage
{
    public PgTuple Old { get; } = new();

    public PgTuple New { get; } = new();

    public PgOutputKind Kind { get; private set; }

    public uint RelationId { get; private set; }

    /// <summary>'K' (old key columns only), 'O' (the whole old row) or '\0' (no old tuple).</summary>
    public char OldKind { get; private set; }

    public bool HasNew { get; private set; }

    public void Parse(ReadOnlySpan<byte> message)
    {
        var kind = message.IsEmpty ? default : (PgOutputKind)message[0];
        var reader = new PgOutputReader(message, kind.ToString());
        reader.ReadByte("message type");
        Kind = kind;
        RelationId = reader.ReadUInt32("relation id");
        OldKind = '\0';
        HasNew = false;
        var marker = (char)reader.ReadByte("tuple marker");
        if (kind is PgOutputKind.Update or PgOutputKind.Delete && marker is 'K' or 'O')
        {
            OldKind = marker;
            Old.Read(ref reader);
            if (kind == PgOutputKind.Delete)
            {
                reader.ExpectEnd();
                return;
            }

            marker = (char)reader.ReadByte("tuple marker");
        }

        if (kind is PgOutputKind.Insert or PgOutputKind.Update && marker == 'N')
        {
            New.Read(ref reader);
            HasNew = true;
            reader.ExpectEnd();
            return;
        }

        throw reader.Error($"unexpected tuple marker '{marker}' in a {kind} message");
    }
}
