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
