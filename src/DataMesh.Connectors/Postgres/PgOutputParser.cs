using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace DataMesh.Connectors.Postgres;

/// <summary>The pgoutput (protocol version 1) message kinds, by their first byte.</summary>
internal enum PgOutputKind : byte
{
    Begin = (byte)'B',
    Commit = (byte)'C',
    Origin = (byte)'O',
    Relation = (byte)'R',
    Type = (byte)'Y',
    Insert = (byte)'I',
    Update = (byte)'U',
    Delete = (byte)'D',
    Truncate = (byte)'T',
    Message = (byte)'M',
}

/// <summary>The kind of one column value in a pgoutput tuple.</summary>
internal enum TupleValueKind : byte
{
    Null = (byte)'n',
    UnchangedToast = (byte)'u',
    Text = (byte)'t',
    Binary = (byte)'b',
}

/// <summary>A BEGIN message: the transaction's commit LSN, commit time and id.</summary>
internal readonly record struct BeginMessage(ulong FinalLsn, long CommitTimeMicros, uint Xid)
{
    public static BeginMessage Parse(ReadOnlySpan<byte> message)
    {
        var reader = new PgOutputReader(message, "Begin");
        reader.ExpectKind(PgOutputKind.Begin);
        return new BeginMessage(reader.ReadUInt64("final LSN"), reader.ReadInt64("commit timestamp"), reader.ReadUInt32("xid"));
    }
}

/// <summary>A COMMIT message.</summary>
internal readonly record struct CommitMessage(ulong CommitLsn, ulong EndLsn, long CommitTimeMicros)
{
    public static CommitMessage Parse(ReadOnlySpan<byte> message)
    {
        var reader = new PgOutputReader(message, "Commit");
        reader.ExpectKind(PgOutputKind.Commit);
        reader.ReadByte("flags");
        return new CommitMessage(reader.ReadUInt64("commit LSN"), reader.ReadUInt64("end LSN"), reader.ReadInt64("commit timestamp"));
    }
}

/// <summary>One column of a RELATION message.</summary>
internal sealed record RelationColumn(string Name, uint TypeOid, int TypeModifier, bool IsKey);

/// <summary>A RELATION message: sent before a relation's first change in a session and after each schema change.</summary>
internal sealed record RelationMessage(uint RelationId, string Namespace, string Name, char ReplicaIdentity, IReadOnlyList<RelationColumn> Columns)
{
    public static RelationMessage Parse(ReadOnlySpan<byte> message)
    {
        var reader = new PgOutputReader(message, "Relation");
        reader.ExpectKind(PgOutputKind.Relation);
        var id = reader.ReadUInt32("relation id");
        var ns = reader.ReadCString("namespace");
        var name = reader.ReadCString("relation name");
        var identity = (char)reader.ReadByte("replica identity");
        var count = reader.ReadInt16("column count");
        if (count < 0)
        {
            throw reader.Error($"negative column count {count}");
        }

        var columns = new RelationColumn[count];
        for (var i = 0; i < count; i++)
        {
            var flags = reader.ReadByte("column flags");
            var column = reader.ReadCString("column name");
            columns[i] = new RelationColumn(column, reader.ReadUInt32("column type"), reader.ReadInt32("column type modifier"), (flags & 1) != 0);
        }

        return new RelationMessage(id, ns, name, identity, columns);
    }
}

/// <summary>A TRUNCATE message.</summary>
internal sealed record TruncateMessage(bool Cascade, bool RestartIdentity, uint[] RelationIds)
{
    public static TruncateMessage Parse(ReadOnlySpan<byte> message)
    {
        var reader = new PgOutputReader(message, "Truncate");
        reader.ExpectKind(PgOutputKind.Truncate);
        var count = reader.ReadInt32("relation count");
        var options = reader.ReadByte("options");
        if (count < 0 || count > reader.Remaining / 4)
        {
            throw reader.Error($"relation count {count} does not fit the {reader.Remaining} bytes remaining");
        }

        var ids = new uint[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = reader.ReadUInt32("relation id");
        }

        return new TruncateMessage((options & 1) != 0, (options & 2) != 0, ids);
    }
}

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

/// <summary>Bounds-checked big-endian reads over one pgoutput message; every error names the message, field and byte offset.</summary>
internal ref struct PgOutputReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _message;
    private int _position;

    public PgOutputReader(ReadOnlySpan<byte> data, string message)
    {
        _data = data;
        _message = message;
        _position = 0;
    }

    public readonly int Position => _position;

    public readonly int Remaining => _data.Length - _position;

    public void ExpectKind(PgOutputKind kind)
    {
        var b = ReadByte("message type");
        if (b != (byte)kind)
        {
            _position--;
            throw Error($"expected a {kind} message ('{(char)kind}'), found 0x{b:x2}");
        }
    }

    public readonly void ExpectEnd()
    {
        if (Remaining != 0)
        {
            throw Error($"{Remaining} unexpected bytes after the message");
        }
    }

    public byte ReadByte(string field)
    {
        Need(1, field);
        return _data[_position++];
    }

    public short ReadInt16(string field)
    {
        Need(2, field);
        var value = BinaryPrimitives.ReadInt16BigEndian(_data[_position..]);
        _position += 2;
        return value;
    }

    public int ReadInt32(string field)
    {
        Need(4, field);
        var value = BinaryPrimitives.ReadInt32BigEndian(_data[_position..]);
        _position += 4;
        return value;
    }

    public uint ReadUInt32(string field) => unchecked((uint)ReadInt32(field));

    public long ReadInt64(string field)
    {
        Need(8, field);
        var value = BinaryPrimitives.ReadInt64BigEndian(_data[_position..]);
        _position += 8;
        return value;
    }

    public ulong ReadUInt64(string field) => unchecked((ulong)ReadInt64(field));

    public string ReadCString(string field)
    {
        var end = _data[_position..].IndexOf((byte)0);
        if (end < 0)
        {
            throw Error($"{field} is not terminated by a zero byte");
        }

        var value = Encoding.UTF8.GetString(_data.Slice(_position, end));
        _position += end + 1;
        return value;
    }

    public void Skip(int count)
    {
        Need(count, "value");
        _position += count;
    }

    public readonly FormatException Error(string reason) =>
        new(string.Create(CultureInfo.InvariantCulture, $"Malformed pgoutput {_message} message at byte {_position} of {_data.Length}: {reason}."));

    private readonly void Need(int count, string field)
    {
        if (Remaining < count)
        {
            throw Error($"{field} needs {count} bytes, {Remaining} remain");
        }
    }
}
