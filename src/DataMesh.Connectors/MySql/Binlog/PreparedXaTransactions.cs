namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>A rows event of an XA transaction, kept as its bytes until the transaction's outcome is known, with the
/// table map it referred to (a table id may be mapped to another table by then).</summary>
/// <param name="Map">The TABLE_MAP of the event's table id when the event was read.</param>
/// <param name="Type">The rows event's type.</param>
/// <param name="TableIdLength">The table id length of the binlog format it came in.</param>
/// <param name="Body">The event's body (after the header, without the checksum).</param>
/// <param name="Query">The statement behind the rows (ANNOTATE_ROWS, when kept), or empty.</param>
internal sealed record HeldRowsEvent(TableMapEvent Map, BinlogEventType Type, int TableIdLength, byte[] Body, byte[] Query)
{
    /// <summary>What holding it costs, roughly: its bytes and the record around them.</summary>
    public long Size => Body.Length + Query.Length + 64;
}

/// <summary>An XA transaction prepared in the binlog (XA PREPARE), its outcome not read yet.</summary>
/// <param name="Xid">Its XID (<see cref="XaStatement.FormatXid"/>).</param>
/// <param name="Events">Its rows events on captured tables, in binlog order.</param>
/// <param name="Start">The position of the start of its PREPARE's event group, with the GTID state before that group: a
/// restart from here reads the PREPARE again.</param>
internal sealed record PreparedXa(string Xid, List<HeldRowsEvent> Events, MySqlPosition Start)
{
    public long Size { get; } = Events.Sum(e => e.Size);
}

/// <summary>
/// The XA transactions that are prepared in the binlog and not yet committed or rolled back, with their row events
/// held in memory (MariaDB 10.5+ and MySQL write a prepared XA transaction at its XA PREPARE, before anyone knows
/// whether it will commit). At most <see cref="MaxBytes"/> of row events are held in all; a transaction that would
/// go beyond stops the source (<see cref="MySqlReplicationException"/>). While one with rows of captured tables is
/// unresolved, <see cref="RestartPosition"/> stays at the start of its PREPARE, so that a restart reads it again.
/// </summary>
internal sealed class PreparedXaTransactions
{
    private readonly List<PreparedXa> _prepared = [];

    /// <summary>The most bytes of row events held, prepared transactions and the one being read together
    /// (<see cref="MySqlSourceOptions.MaxPreparedXaBytes"/>, 64 MiB by default).</summary>
    public long MaxBytes { get; init; } = MySqlSourceOptions.DefaultMaxPreparedXaBytes;

    /// <summary>The bytes of row events of prepared transactions held now.</summary>
    public long Bytes { get; private set; }

    public int Count => _prepared.Count;

    /// <summary>The start of the earliest unresolved PREPARE that holds rows, or null when none does.</summary>
    public MySqlPosition? RestartPosition => _prepared.Find(p => p.Events.Count > 0)?.Start;

    /// <summary>Fails when holding <paramref name="more"/> bytes beyond <paramref name="current"/> (the transaction being
    /// read) would pass <see cref="MaxBytes"/>.</summary>
    /// <exception cref="MySqlReplicationException">The limit is reached.</exception>
    public void EnsureRoom(long current, long more, string? file, long position)
    {
        if (Bytes + current + more <= MaxBytes)
        {
            return;
        }

        throw new MySqlReplicationException(
            $"Binlog {file}:{position}: an XA transaction has {current + more} bytes of row events on captured tables and {_prepared.Count} prepared XA transactions hold {Bytes} bytes more; "
            + $"the source holds at most {MaxBytes} bytes of the rows of XA transactions from their XA PREPARE to their XA COMMIT (docs/mysql.md, XA transactions) and stopped rather than deliver rows that may be rolled back. "
            + "Raise MySqlSourceOptions.MaxPreparedXaBytes (a restart reads the PREPARE again), or keep XA transactions on captured tables smaller and resolve prepared ones sooner (XA RECOVER lists them).");
    }

    /// <summary>Holds a prepared transaction; one with the same XID (a PREPARE read again) is replaced.</summary>
    public void Add(PreparedXa prepared)
    {
        TryTake(prepared.Xid, out _);
        _prepared.Add(prepared);
        Bytes += prepared.Size;
    }

    /// <summary>Removes and returns a prepared transaction by XID.</summary>
    public bool TryTake(string xid, out PreparedXa prepared)
    {
        var index = _prepared.FindIndex(p => p.Xid == xid);
        if (index < 0)
        {
            prepared = null!;
            return false;
        }

        prepared = _prepared[index];
        _prepared.RemoveAt(index);
        Bytes -= prepared.Size;
        return true;
    }
}
