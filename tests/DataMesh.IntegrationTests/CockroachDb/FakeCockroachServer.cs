using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace DataMesh.IntegrationTests.CockroachDb;

/// <summary>
/// A protocol-level stand-in for a CockroachDB node (no CockroachDB server can be installed here), on 127.0.0.1, port 0,
/// speaking as much of pgwire as Npgsql uses with <c>Server Compatibility Mode=NoTypeLoading</c>: SSLRequest and
/// GSSENCRequest refused ('N'), the StartupMessage, trust or cleartext-password authentication, ParameterStatus (a
/// CockroachDB node reports <c>server_version</c> 13.0.0 and <c>crdb_version</c>), BackendKeyData, the simple (Query)
/// and extended (Parse/Bind/Describe/Execute/Sync/Close/Flush) protocols with RowDescription and DataRow in the formats
/// Bind asks for, ErrorResponse, CancelRequest, Terminate.
/// <para>What it knows of SQL: the catalog queries of the connector (<c>version()</c>,
/// <c>cluster_logical_timestamp()</c>, <c>information_schema.tables</c>, <c>.columns</c> and the primary key), and
/// <c>CREATE CHANGEFEED FOR … WITH …</c> without <c>INTO</c>: a sinkless changefeed, answered as CockroachDB documents it
/// ("Create a sinkless changefeed", <c>create-changefeed</c> / <c>changefeed-for</c> pages): a RowDescription of
/// <c>table</c> STRING, <c>key</c> BYTES, <c>value</c> BYTES, then DataRows that never end (no CommandComplete) until the
/// connection closes or the query is cancelled.</para>
/// <para>Row shapes (each from the page it follows): the key is a JSON array of the primary-key values
/// (<c>changefeed-messages</c>, "Responses": <c>[1]</c>); the value with <c>envelope='wrapped'</c>, <c>diff</c>,
/// <c>updated</c> and <c>mvcc_timestamp</c> is <c>{"after": {...}|null, "before": {...}|null, "updated": "HLC",
/// "mvcc_timestamp": "HLC"}</c> (<c>changefeed-messages</c>, "Message envelopes" / "wrapped", and <c>create-changefeed</c>
/// options <c>diff</c>, <c>updated</c>, <c>mvcc_timestamp</c>); a delete has <c>"after": null</c> ("Delete messages"); a
/// resolved timestamp is a row with a NULL table and key and the value <c>{"resolved": "HLC"}</c> ("Resolved messages",
/// and for sinkless changefeeds <c>changefeed-for</c>: "resolved timestamps are rows with NULL table"). HLCs are the
/// decimal <c>wall_nanos.logical</c> form (<c>1532377312562986715.0000000000</c>, <c>create-changefeed</c> option
/// <c>cursor</c>). <c>cursor</c> emits changes after the cursor; <c>initial_scan='yes'</c> with a cursor scans the rows
/// as of the cursor, each with <c>updated</c> = the cursor, and then emits every change after it (<c>create-changefeed</c>
/// options <c>cursor</c> and <c>initial_scan</c>: the initial scan is performed at the cursor timestamp); a cursor before
/// a target table existed is refused ("do the targets exist at the specified cursor time?"); a cursor older than the GC threshold fails with
/// "batch timestamp … must be after replica GC threshold …" (<c>create-changefeed</c>, "Start a changefeed at a
/// cursor": the cursor must be within <c>gc.ttlseconds</c>); <c>schema_change_policy='stop'</c> ends the feed with
/// "schema change occurred at …" (<c>changefeed-messages</c>, "Schema changes"). Catalog queries with
/// <c>AS OF SYSTEM TIME</c> see the table's definition of that time (<c>as-of-system-time</c> page).</para>
/// <para>Delivery is at-least-once as documented (<c>changefeed-messages</c>, "Ordering and delivery guarantees",
/// "Duplicate messages"): a changefeed started at a cursor sends every change after it, those an earlier feed already
/// sent included; with <see cref="EmitResolved"/> each feed gets a resolved timestamp at its <c>resolved</c> interval, after
/// every change before it.</para>
/// </summary>
internal sealed class FakeCockroachServer : IAsyncDisposable
{
    /// <summary>What <c>version()</c> and the <c>crdb_version</c> parameter say (23.2.4 unless set). From 24.2 the fake
    /// takes the changefeed option <c>encode_json_value_null_as_object</c> (cockroachdb/cockroach#122848, in 24.2's
    /// <c>create-changefeed</c>); before, it refuses it as an unknown option (the text of CockroachDB's error is not
    /// copied: the source must never send the option there).</summary>
    public string Version { get; set; } = "CockroachDB CCL v23.2.4 (x86_64-pc-linux-gnu, built 2024/04/08, go1.21.9 X:nocoverageredesign)";

    /// <summary>A JSONB column's JSON <c>null</c> in a row given to <see cref="Upsert"/> (the fake's own marker: a JSON
    /// object cannot hold a JSON null apart from SQL NULL). On the wire it is <c>null</c>, the same as SQL NULL
    /// (cockroachdb/cockroach#103289), or <c>{"__crdb_json_null__":true}</c> in a changefeed created
    /// <c>WITH encode_json_value_null_as_object</c> (changefeedccl's encoder test writes it so, for values and keys;
    /// <c>changefeed-messages</c>, "JSON").</summary>
    public const string JsonNull = """{"__fake_json_null__":true}""";
    private const int SslRequestCode = 80877103;
    private const int GssEncRequestCode = 80877104;
    private const int CancelRequestCode = 80877102;
    private const long HlcStart = 1_700_000_000_000_000_000L;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly object _lock = new();
    private readonly Dictionary<(string Schema, string Name), FakeTable> _tables = [];
    private readonly List<(long Hlc, FakeTable Table)> _history = [];

    /// <summary>When each dropped table was dropped (a table created again with its name is another table).</summary>
    private readonly Dictionary<string, long> _droppedAt = new(StringComparer.Ordinal);
    private readonly HashSet<string> _offline = new(StringComparer.Ordinal);
    private readonly List<FeedEvent> _log = [];
    private readonly ConcurrentDictionary<int, Session> _sessions = new();
    private readonly ConcurrentBag<Task> _served = [];
    private long _hlc = HlcStart;
    private int _nextPid = 100;

    public FakeCockroachServer(string? password = null)
    {
        Password = password;
        _listener.Start();
        _accept = Task.Run(AcceptAsync);
    }

    /// <summary>The password of cleartext authentication, or null for trust.</summary>
    public string? Password { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Database=defaultdb;Username=root{(Password is null ? string.Empty : ";Password=" + Password)};SSL Mode=Disable";

    /// <summary>Changes older than this HLC are garbage-collected: a cursor before it is refused.</summary>
    public long GcThreshold { get; set; }

    /// <summary>
    /// Whether each changefeed gets a resolved timestamp on its own at the interval of its <c>resolved</c> option, as
    /// CockroachDB sends them (<c>changefeed-messages</c>, "Resolved messages"); off, they come only from <see cref="Resolve"/>.
    /// </summary>
    public bool EmitResolved { get; set; }

    /// <summary>Sessions start in READ COMMITTED (a role's or database's default_transaction_isolation, 23.2+), where
    /// <c>cluster_logical_timestamp()</c> fails ("unsupported in READ COMMITTED isolation", cockroachdb/cockroach#107090)
    /// unless the session set <c>default_transaction_isolation</c> to serializable.</summary>
    public bool ReadCommittedByDefault { get; set; }

    /// <summary>The statements received, in order (catalog queries and CREATE CHANGEFEED).</summary>
    public ConcurrentQueue<string> Statements { get; } = new();

    /// <summary>Cancel requests that named a running query.</summary>
    public int Cancels;

    /// <summary>The number of changefeeds streaming now.</summary>
    public int RunningFeeds => _sessions.Values.Count(s => s.Feed is not null);

    /// <summary>How far (nanoseconds) the clock of the node answering <c>cluster_logical_timestamp()</c> is ahead of the
    /// node that plans changefeeds (clock skew between nodes, within CockroachDB's <c>--max-offset</c>). A changefeed
    /// whose cursor is after the planning node's clock (<see cref="Now"/>) is refused as CockroachDB refuses it: the cursor
    /// is evaluated as AS OF SYSTEM TIME (<c>changefeed_stmt.go</c>), which rejects a time in the future
    /// ("AS OF SYSTEM TIME: cannot specify timestamp in the future", <c>pkg/sql/sem/tree</c>; changefeedccl's test of a
    /// cursor an hour ahead expects that text). <see cref="AdvanceClock"/> lets the planning node's clock catch up.</summary>
    public long ClockSkew { get; set; }

    /// <summary>Moves the fake's clock (the planning node's) forward by <paramref name="nanos"/>.</summary>
    public void AdvanceClock(long nanos) => Interlocked.Add(ref _hlc, nanos);

    /// <summary>The HLC the next change gets.</summary>
    public long Now => Interlocked.Read(ref _hlc);

    public static string Hlc(long nanos) => nanos.ToString(CultureInfo.InvariantCulture) + ".0000000000";

    public void CreateTable(FakeTable table)
    {
        lock (_lock)
        {
            _tables[(table.Schema, table.Name)] = table;
            _history.Add((NextHlc(), table));
        }
    }

    /// <summary>Commits an insert or update (upsert) of one row: <paramref name="row"/> is the row as the changefeed's JSON
    /// object, its key taken from the table's key columns.</summary>
    public long Upsert(string table, string row) => Change(table, JsonNode.Parse(row)!.AsObject(), null);

    /// <summary>Commits a delete of the row with key <paramref name="key"/> (a JSON array).</summary>
    public long Delete(string table, string key) => Change(table, null, key);

    /// <summary>Commits an UPDATE that changes a row's primary key: in one transaction (one HLC) a delete of the old key and
    /// an insert of the new, which is how a changefeed shows it (two keys: <c>changefeed-messages</c>, "Delete messages"; the
    /// delete has the old row as <c>before</c>).</summary>
    public long ChangeKey(string table, string oldKey, string row)
    {
        lock (_lock)
        {
            var hlc = NextHlc();
            Change(table, null, oldKey, hlc);
            Change(table, JsonNode.Parse(row)!.AsObject(), null, hlc);
            return hlc;
        }
    }

    /// <summary>The current rows of a table (copies), by key array.</summary>
    public Dictionary<string, JsonObject> RowsOf(string table)
    {
        lock (_lock)
        {
            return Table(table).Rows.ToDictionary(r => r.Key, r => (JsonObject)r.Value.DeepClone(), StringComparer.Ordinal);
        }
    }

    /// <summary>The names of a table's columns now, in order.</summary>
    public IReadOnlyList<string> ColumnsOf(string table)
    {
        lock (_lock)
        {
            return [.. Table(table).Columns.Select(c => c.Name)];
        }
    }

    /// <summary>The primary-key columns of a table.</summary>
    public IReadOnlyList<string> KeyOf(string table)
    {
        lock (_lock)
        {
            return Table(table).Key;
        }
    }

    /// <summary>Appends changefeed rows already in their JSON form (key array, wrapped value) without keeping table state:
    /// for benchmarks, where building the rows must not be what is measured.</summary>
    public void AppendRaw(string table, IReadOnlyList<(string Key, string Value)> rows)
    {
        lock (_lock)
        {
            foreach (var (key, value) in rows)
            {
                Publish(new FeedEvent(NextHlc(), table, key, value), _log.Count);
            }
        }
    }

    /// <summary>Emits a resolved timestamp now (every change before it was sent) to every running changefeed.</summary>
    public long Resolve()
    {
        lock (_lock)
        {
            var hlc = NextHlc();
            Publish(new FeedEvent(hlc, null, null, $"{{\"resolved\":\"{Hlc(hlc)}\"}}"), _log.Count);
            return hlc;
        }
    }

    /// <summary>Adds a column with a default (or drops one) and, like <c>schema_change_policy='backfill'</c>, re-emits every
    /// row of the table in its new shape at the schema change's timestamp; with <c>'stop'</c>, running feeds end with an error.</summary>
    public long AlterTable(string table, Func<FakeTable, FakeTable> change, Func<JsonObject, JsonObject> backfill)
    {
        lock (_lock)
        {
            var old = Table(table);
            var changed = change(old);
            _tables[(old.Schema, old.Name)] = changed;
            var hlc = NextHlc();
            _history.Add((hlc, changed));
            StopOnSchemaChange(old.Name, hlc);

            foreach (var key in changed.Rows.Keys.ToList())
            {
                var before = changed.Rows[key];
                var after = backfill((JsonObject)before.DeepClone());
                changed.Rows[key] = after;
                var value = new JsonObject { ["after"] = after.DeepClone(), ["before"] = before.DeepClone(), ["updated"] = Hlc(hlc), ["mvcc_timestamp"] = Hlc(hlc) };
                Publish(new FeedEvent(hlc, old.Name, key, value.ToJsonString()), _log.Count);
            }

            return hlc;
        }
    }

    /// <summary>
    /// <c>ALTER TABLE … ALTER PRIMARY KEY USING COLUMNS (…)</c>: the catalog shows the new key from the change's timestamp on,
    /// and no row is emitted again. changefeedccl's kvfeed (<c>kvfeed/kv_feed.go</c>) ends its run at a primary-key change
    /// with a RESTART boundary under <c>schema_change_policy = 'backfill'</c> (an EXIT, "schema change occurred", under
    /// <c>'stop'</c>, as the key columns changed), and on the restart <c>scanIfShould</c> skips the backfill of an event
    /// that is only a primary index change (<c>schemafeed.IsOnlyPrimaryIndexChange</c>); changefeedccl's multi-region test
    /// expects "No backfill, but we should see the newly insert value" keyed by the new column. Rows changed afterwards
    /// come keyed by the new key columns (their values, in key order), with the same columns as before.
    /// </summary>
    /// <returns>The change's HLC.</returns>
    public long AlterPrimaryKey(string table, IReadOnlyList<string> key)
    {
        lock (_lock)
        {
            var old = Table(table);
            var rows = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
            foreach (var row in old.Rows.Values)
            {
                rows[new JsonArray([.. key.Select(k => row[k]?.DeepClone())]).ToJsonString()] = row;
            }

            var changed = old with { Key = key, Rows = rows };
            _tables[(old.Schema, old.Name)] = changed;
            var hlc = NextHlc();
            _history.Add((hlc, changed));
            StopOnSchemaChange(old.Name, hlc);

            return hlc;
        }
    }

    /// <summary>Under the lock: ends the changefeeds of a table created with <c>schema_change_policy = 'stop'</c> at a schema
    /// change (<c>changefeed-messages</c>, "Schema changes").</summary>
    private void StopOnSchemaChange(string table, long hlc)
    {
        foreach (var session in _sessions.Values)
        {
            if (session.Feed is { StopOnSchemaChange: true } feed && feed.Tables.Contains(table))
            {
                feed.Rows.Writer.TryComplete(new FakeServerError("XXUUU", $"schema change occurred at {Hlc(hlc)}"));
            }
        }
    }

    /// <summary>
    /// <c>DROP TABLE</c>: the table leaves the catalog, and a changefeed watching it ends with an error, as CockroachDB's
    /// changefeeds do on a dropped target ("Many DDL queries (including TRUNCATE, DROP TABLE …) will cause errors on a
    /// changefeed watching the affected tables", <c>use-changefeeds</c>; the text is changefeedbase's check of each table
    /// descriptor: <c>"&lt;table&gt;" was dropped</c>, the table's own name without <c>full_table_name</c>). A changefeed
    /// created later resolves its targets as of its cursor: one whose cursor is before the drop and that names a table
    /// created again with the same name ends the same way.
    /// </summary>
    /// <param name="table">The table.</param>
    /// <param name="offline">End the changefeed as 22.2 and later often do: the declarative schema changer takes the table
    /// offline first, its reason the DROP statement's text, and changefeedvalidators' check of each target finds it offline
    /// before dropped (the release note of cockroachdb/cockroach#83915: "cannot target offline table").</param>
    public void DropTable(string table, bool offline = false)
    {
        lock (_lock)
        {
            var old = Table(table);
            _tables.Remove((old.Schema, old.Name));
            EndFeeds(old.Name, offline ? Offline(old.Name, $"DROP TABLE defaultdb.{old.Schema}.{old.Name}") : $"\"{old.Name}\" was dropped");
            _droppedAt[old.Name] = NextHlc();
        }
    }

    /// <summary>Takes a table offline as an <c>IMPORT INTO</c> does: it stays in the catalog, changefeeds watching it end
    /// (<c>offline reason: "importing"</c>, as changefeedccl's own test of an import expects), and none can target it
    /// afterwards.</summary>
    public void TakeOffline(string table)
    {
        lock (_lock)
        {
            _offline.Add(Table(table).Name);
            EndFeeds(table, Offline(table, "importing"));
        }
    }

    private static string Offline(string table, string reason) => $"CHANGEFEED cannot target offline table: {table} (offline reason: \"{reason}\")";

    private void EndFeeds(string table, string error)
    {
        foreach (var session in _sessions.Values)
        {
            if (session.Feed is { } feed && feed.Tables.Contains(table))
            {
                feed.Rows.Writer.TryComplete(new FakeServerError("XXUUU", error));
            }
        }
    }

    /// <summary>Drops every connection running a changefeed, as a node restart or a network failure does.</summary>
    public void DropFeedConnections()
    {
        foreach (var session in _sessions.Values.Where(s => s.Feed is not null))
        {
            session.Abort();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var session in _sessions.Values)
        {
            session.Abort();
        }

        try
        {
            await _accept;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // stopped
        }

        foreach (var served in _served)
        {
            try
            {
                await served;
            }
            catch (Exception)
            {
                // a session ended by the stop
            }
        }

        _stop.Dispose();
    }

    private long NextHlc() => Interlocked.Add(ref _hlc, 1000);

    private FakeTable Table(string name) =>
        _tables.Values.FirstOrDefault(t => t.Name == name) ?? throw new InvalidOperationException($"The fake has no table {name}.");

    private long Change(string tableName, JsonObject? row, string? deleteKey, long? at = null)
    {
        lock (_lock)
        {
            var table = Table(tableName);
            var key = deleteKey ?? new JsonArray(table.Key.Select(k => row![k]?.DeepClone()).ToArray()).ToJsonString();
            table.Rows.TryGetValue(key, out var before);
            var hlc = at ?? NextHlc();
            if (row is null)
            {
                table.Rows.Remove(key);
            }
            else
            {
                table.Rows[key] = row;
            }

            var value = new JsonObject { ["after"] = Emitted(table, row), ["before"] = Emitted(table, before), ["updated"] = Hlc(hlc), ["mvcc_timestamp"] = Hlc(hlc) };
            Publish(new FeedEvent(hlc, table.Name, key, value.ToJsonString()), _log.Count);
            return hlc;
        }
    }

    /// <summary>A row as a changefeed emits it: a copy without the table's VIRTUAL columns.</summary>
    private static JsonObject? Emitted(FakeTable table, JsonObject? row)
    {
        if (row?.DeepClone() is not JsonObject copy)
        {
            return null;
        }

        foreach (var column in table.Columns.Where(c => c.Virtual))
        {
            copy.Remove(column.Name);
        }

        return copy;
    }

    /// <summary>Under the lock: appends to the log and sends to the running feeds that watch the table.</summary>
    private void Publish(FeedEvent change, int index)
    {
        _log.Insert(index, change);
        foreach (var session in _sessions.Values)
        {
            if (session.Feed is { } feed && (change.Table is null || feed.Tables.Contains(change.Table)))
            {
                feed.Rows.Writer.TryWrite(change);
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            // As CockroachDB's (Go's net package sets TCP_NODELAY on every TCP connection): without it, a reply written in
            // several pieces waits for the client's delayed ACK, about 40 ms per catalog query.
            client.NoDelay = true;
            _served.Add(Task.Run(() => ServeAsync(client)));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        // The server's stop closes every connection, also one still in its startup (no session registered yet to abort):
        // its handler's read ends then, and the disposal's wait for the handlers cannot hang on a client that sends nothing.
        using var stopping = _stop.Token.Register(static c => ((TcpClient)c!).Dispose(), client);
        var stream = client.GetStream();
        Session? session = null;
        try
        {
            byte[] startup;
            while (true)
            {
                var length = BinaryPrimitives.ReadInt32BigEndian(await ReadAsync(stream, 4));
                startup = await ReadAsync(stream, length - 4);
                var code = BinaryPrimitives.ReadInt32BigEndian(startup);
                if (code is SslRequestCode or GssEncRequestCode)
                {
                    await stream.WriteAsync("N"u8.ToArray());
                    continue;
                }

                if (code == CancelRequestCode)
                {
                    var pid = BinaryPrimitives.ReadInt32BigEndian(startup.AsSpan(4));
                    var secret = BinaryPrimitives.ReadInt32BigEndian(startup.AsSpan(8));
                    if (_sessions.TryGetValue(pid, out var target) && target.Secret == secret && target.Feed is { } running)
                    {
                        Interlocked.Increment(ref Cancels);
                        running.Rows.Writer.TryComplete(new FakeServerError("57014", "query execution canceled"));
                    }

                    return;
                }

                break;
            }

            var parameters = ReadStartup(startup);
            if (Password is not null)
            {
                await stream.WriteAsync(new byte[] { (byte)'R', 0, 0, 0, 8, 0, 0, 0, 3 });
                var type = (await ReadAsync(stream, 1))[0];
                var length = BinaryPrimitives.ReadInt32BigEndian(await ReadAsync(stream, 4));
                var body = await ReadAsync(stream, length - 4);
                if (type != (byte)'p' || Encoding.UTF8.GetString(body.AsSpan(0, body.Length - 1)) != Password)
                {
                    var error = new MessageWriter();
                    WriteError(error, "28P01", $"password authentication failed for user {parameters.GetValueOrDefault("user")}");
                    await error.SendAsync(stream);
                    return;
                }
            }

            session = new Session(Interlocked.Increment(ref _nextPid), Random.Shared.Next(), client);
            _sessions[session.Pid] = session;
            var hello = new MessageWriter();
            hello.Begin('R').Int32(0).End();
            foreach (var (name, value) in new[]
            {
                ("server_version", "13.0.0"), ("crdb_version", Version), ("server_encoding", "UTF8"), ("client_encoding", "UTF8"),
                ("DateStyle", "ISO, MDY"), ("IntervalStyle", "postgres"), ("integer_datetimes", "on"), ("standard_conforming_strings", "on"),
                ("TimeZone", "UTC"), ("is_superuser", "on"), ("application_name", parameters.GetValueOrDefault("application_name") ?? string.Empty),
                ("session_authorization", parameters.GetValueOrDefault("user") ?? "root"),
            })
            {
                hello.Begin('S').CString(name).CString(value).End();
            }

            hello.Begin('K').Int32(session.Pid).Int32(session.Secret).End();
            hello.Begin('Z').Byte((byte)'I').End();
            await hello.SendAsync(stream);
            await RunSessionAsync(stream, session);
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or ObjectDisposedException or SocketException or OperationCanceledException)
        {
            // the client went away, or the test dropped the connection
        }
        finally
        {
            if (session is not null)
            {
                _sessions.TryRemove(session.Pid, out var _);
            }
        }
    }

    private async Task RunSessionAsync(NetworkStream stream, Session session)
    {
        string? parsed = null;
        string? bound = null;
        List<string?> parameters = [];
        short[] formats = [];
        var failed = false;
        while (true)
        {
            var type = (char)(await ReadAsync(stream, 1))[0];
            var length = BinaryPrimitives.ReadInt32BigEndian(await ReadAsync(stream, 4));
            var body = await ReadAsync(stream, length - 4);
            var reply = new MessageWriter();
            if (failed && type != 'S')
            {
                continue; // after an error, the extended protocol skips to Sync
            }

            switch (type)
            {
                case 'X':
                    return;
                case 'Q':
                    var query = Encoding.UTF8.GetString(body.AsSpan(0, body.Length - 1));
                    await ExecuteAsync(stream, session, reply, query, [], [], describe: true);
                    reply.Begin('Z').Byte((byte)'I').End();
                    break;
                case 'P':
                    var reader = new BodyReader(body);
                    reader.CString();
                    parsed = reader.CString();
                    reply.Begin('1').End();
                    break;
                case 'B':
                    (bound, parameters, formats) = (parsed, ReadBind(body, out var resultFormats), []);
                    formats = resultFormats;
                    reply.Begin('2').End();
                    break;
                case 'D':
                    if (body[0] == (byte)'S')
                    {
                        reply.Begin('t').Int16(0).End();
                    }

                    Describe(reply, bound ?? parsed ?? string.Empty, formats);
                    break;
                case 'E':
                    failed = !await ExecuteAsync(stream, session, reply, bound ?? string.Empty, parameters, formats, describe: false);
                    break;
                case 'S':
                    failed = false;
                    reply.Begin('Z').Byte((byte)'I').End();
                    break;
                case 'C':
                    reply.Begin('3').End();
                    break;
                case 'H':
                    break;
                default:
                    WriteError(reply, "08P01", $"unsupported message '{type}'");
                    failed = true;
                    break;
            }

            await reply.SendAsync(stream);
        }
    }

    /// <summary>Runs a statement; false after an ErrorResponse.</summary>
    private async Task<bool> ExecuteAsync(NetworkStream stream, Session session, MessageWriter reply, string sql, List<string?> parameters, short[] formats, bool describe)
    {
        Statements.Enqueue(sql);
        if (sql.Contains("CREATE CHANGEFEED", StringComparison.OrdinalIgnoreCase))
        {
            return await ChangefeedAsync(stream, session, reply, sql, formats, describe);
        }

        if (sql.StartsWith("SET default_transaction_isolation", StringComparison.OrdinalIgnoreCase))
        {
            session.Serializable = sql.Contains("serializable", StringComparison.OrdinalIgnoreCase);
            reply.Begin('C').CString("SET").End();
            return true;
        }

        if (ReadCommittedByDefault && !session.Serializable && sql.Contains("cluster_logical_timestamp()", StringComparison.Ordinal))
        {
            WriteError(reply, "0A000", "cluster_logical_timestamp(): unsupported in READ COMMITTED isolation");
            return false;
        }

        if (Answer(sql, parameters) is not { } result)
        {
            WriteError(reply, "42601", $"the fake CockroachDB does not know this statement: {sql}");
            return false;
        }

        if (describe)
        {
            RowDescription(reply, result.Columns.Select(c => (c, 25)).ToArray(), formats);
        }

        foreach (var row in result.Rows)
        {
            DataRow(reply, row.Select(v => v is null ? null : Encoding.UTF8.GetBytes(v)).ToArray(), formats, row.Select(_ => 25).ToArray());
        }

        reply.Begin('C').CString($"SELECT {result.Rows.Count}").End();
        return true;
    }

    private void Describe(MessageWriter reply, string sql, short[] formats)
    {
        if (sql.Contains("CREATE CHANGEFEED", StringComparison.OrdinalIgnoreCase))
        {
            RowDescription(reply, [("table", 25), ("key", 17), ("value", 17)], formats);
        }
        else if (Answer(sql, null) is { } result)
        {
            RowDescription(reply, result.Columns.Select(c => (c, 25)).ToArray(), formats);
        }
        else
        {
            reply.Begin('n').End();
        }
    }

    private async Task<bool> ChangefeedAsync(NetworkStream stream, Session session, MessageWriter reply, string sql, short[] formats, bool describe)
    {
        var feed = ParseFeed(sql);
        if (feed.JsonNullAsObject && !Regex.IsMatch(Version, @"\bv(2[4-9]\.[2-9]|2[5-9]\.|[3-9]\d\.)"))
        {
            WriteError(reply, "42601", "invalid option \"encode_json_value_null_as_object\"");
            return false;
        }

        if (feed.Cursor is { } ahead && ahead > Now)
        {
            WriteError(reply, "XXUUU", $"AS OF SYSTEM TIME: cannot specify timestamp in the future ({Hlc(ahead)} > {Hlc(Now)})");
            return false;
        }

        if (feed.Cursor is { } cursor && cursor < GcThreshold)
        {
            WriteError(reply, "XXUUU", $"batch timestamp {Hlc(cursor)} must be after replica GC threshold {Hlc(GcThreshold)}");
            return false;
        }

        lock (_lock)
        {
            foreach (var name in feed.Tables)
            {
                if (!_tables.Values.Any(t => t.Name == name))
                {
                    WriteError(reply, "42P01", $"table \"{name}\" does not exist");
                    return false;
                }

                // Targets are resolved as of the cursor: before a drop, that is the dropped table (a table created again
                // with its name is another one).
                if (_offline.Contains(name))
                {
                    WriteError(reply, "XXUUU", Offline(name, "importing"));
                    return false;
                }

                if (feed.Cursor is { } before && _droppedAt.TryGetValue(name, out var droppedAt) && before < droppedAt)
                {
                    WriteError(reply, "XXUUU", $"\"{name}\" was dropped");
                    return false;
                }

                // A cursor before a target existed is refused (create-changefeed, option cursor: the targets must exist at
                // the cursor's time).
                if (feed.Cursor is { } at && _history.Where(h => h.Table.Name == name && !(_droppedAt.TryGetValue(name, out var gone) && h.Hlc <= gone)).Min(h => h.Hlc) > at)
                {
                    WriteError(reply, "XXUUU", $"table \"{name}\" not found at {Hlc(at)}: do the targets exist at the specified cursor time {Hlc(at)}?");
                    return false;
                }
            }

            var start = feed.Cursor ?? Now;
            if (feed.InitialScan)
            {
                // The rows as of the cursor: the fake replays its log up to there.
                // Each row with its own MVCC timestamp ("even during the changefeed's initial backfill", create-changefeed
                // option mvcc_timestamp) and updated = the scan's time.
                var state = new Dictionary<(string, string), (string After, long Hlc)>();
                foreach (var change in _log.Where(c => c.Table is not null && c.Hlc <= start && feed.Tables.Contains(c.Table) && !(_droppedAt.TryGetValue(c.Table, out var gone) && c.Hlc <= gone)))
                {
                    var after = JsonNode.Parse(change.Value)!["after"];
                    if (after is null)
                    {
                        state.Remove((change.Table!, change.Key!));
                    }
                    else
                    {
                        state[(change.Table!, change.Key!)] = (after.ToJsonString(), change.Hlc);
                    }
                }

                foreach (var ((table, key), (after, written)) in state)
                {
                    feed.Rows.Writer.TryWrite(new FeedEvent(start, table, key, $"{{\"after\":{after},\"before\":null,\"updated\":\"{Hlc(start)}\",\"mvcc_timestamp\":\"{Hlc(written)}\"}}"));
                }
            }

            foreach (var change in _log.Where(c => c.Table is not null && c.Hlc > start && feed.Tables.Contains(c.Table)))
            {
                feed.Rows.Writer.TryWrite(change);
            }

            session.Feed = feed;
        }

        if (describe)
        {
            RowDescription(reply, [("table", 25), ("key", 17), ("value", 17)], formats);
        }

        await reply.SendAsync(stream);
        using var stopResolving = new CancellationTokenSource();
        var resolving = EmitResolved ? ResolveEveryAsync(feed, stopResolving.Token) : Task.CompletedTask;
        try
        {
            // Like a server's send buffer: the rows ready now go out in one write.
            var rows = new MessageWriter();
            while (await feed.Rows.Reader.WaitToReadAsync(_stop.Token))
            {
                for (var n = 0; n < 512 && feed.Rows.Reader.TryRead(out var change); n++)
                {
                    var jsonNull = feed.JsonNullAsObject ? """{"__crdb_json_null__":true}""" : "null";
                    DataRow(rows, [change.Table is null ? null : Encoding.UTF8.GetBytes(change.Table), change.Key is null ? null : Encoding.UTF8.GetBytes(change.Key.Replace(JsonNull, jsonNull, StringComparison.Ordinal)),
                        Encoding.UTF8.GetBytes(change.Value.Replace(JsonNull, jsonNull, StringComparison.Ordinal))], formats, [25, 17, 17]);
                }

                await rows.SendAsync(stream);
            }
        }
        catch (FakeServerError error)
        {
            WriteError(reply, error.SqlState, error.Message);
            return false;
        }
        finally
        {
            session.Feed = null;
            await stopResolving.CancelAsync();
            await resolving;
        }

        return true;
    }

    /// <summary>A resolved timestamp to one feed at its <c>resolved</c> interval: under the lock, after every change
    /// published to it before, so that nothing at or before it follows (<c>changefeed-messages</c>, "Resolved messages").</summary>
    private async Task ResolveEveryAsync(Feed feed, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(feed.ResolvedInterval, cancellationToken);
                lock (_lock)
                {
                    var hlc = NextHlc();
                    feed.Rows.Writer.TryWrite(new FeedEvent(hlc, null, null, $"{{\"resolved\":\"{Hlc(hlc)}\"}}"));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the feed ended
        }
    }

    private static Feed ParseFeed(string sql)
    {
        var match = Regex.Match(sql, @"CREATE\s+CHANGEFEED\s+FOR\s+(?:TABLE\s+)?(?<tables>.+?)\s+WITH\s+(?<options>.*)$", RegexOptions.IgnoreCase | RegexOptions.Singleline);
        if (!match.Success)
        {
            throw new InvalidOperationException($"Not a sinkless changefeed: {sql}");
        }

        var tables = match.Groups["tables"].Value.Split(',').Select(t => t.Trim().Split('.')[^1].Trim('"')).ToHashSet(StringComparer.Ordinal);
        var options = match.Groups["options"].Value;
        long? cursor = Regex.Match(options, @"cursor\s*=\s*'(?<c>\d+)(\.\d+)?'") is { Success: true } c ? long.Parse(c.Groups["c"].Value, CultureInfo.InvariantCulture) : null;
        var scan = Regex.Match(options, @"initial_scan\s*=\s*'(?<s>\w+)'") is { Success: true } s ? s.Groups["s"].Value == "yes" : cursor is null;
        var stop = Regex.IsMatch(options, @"schema_change_policy\s*=\s*'stop'");
        var resolved = Regex.Match(options, @"resolved\s*=\s*'(?<n>\d+)(?<unit>ms|s)'") is { Success: true } r
            ? TimeSpan.FromMilliseconds(int.Parse(r.Groups["n"].Value, CultureInfo.InvariantCulture) * (r.Groups["unit"].Value == "s" ? 1000 : 1))
            : TimeSpan.FromSeconds(1);
        return new Feed(tables, cursor, scan, stop) { ResolvedInterval = resolved, JsonNullAsObject = Regex.IsMatch(options, @"\bencode_json_value_null_as_object\b") };
    }

    private (string[] Columns, List<string?[]> Rows)? Answer(string sql, List<string?>? parameters)
    {
        string? Parameter(int i) => parameters is { } p && p.Count > i ? p[i] : null;
        // AS OF SYSTEM TIME '<hlc>': the catalog as it was then (the table's latest definition at or before it).
        long? asOf = Regex.Match(sql, @"AS OF SYSTEM TIME '(?<t>\d+)") is { Success: true } aost ? long.Parse(aost.Groups["t"].Value, CultureInfo.InvariantCulture) : null;
        FakeTable? TableAt(string? schema, string? name) => asOf is { } at
            ? _history.LastOrDefault(h => h.Table.Schema == schema && h.Table.Name == name && h.Hlc <= at).Table
            : _tables.GetValueOrDefault((schema ?? string.Empty, name ?? string.Empty));
        lock (_lock)
        {
            if (sql.Contains("version()", StringComparison.Ordinal))
            {
                return (["version"], [[Version]]);
            }

            if (sql.Contains("cluster_logical_timestamp()", StringComparison.Ordinal))
            {
                return (["now"], [[Hlc(NextHlc() + ClockSkew)]]);
            }

            if (sql.Contains("information_schema.tables", StringComparison.Ordinal))
            {
                return (["table_schema", "table_name"], _tables.Values.Select(t => new string?[] { t.Schema, t.Name }).ToList());
            }

            if (sql.Contains("information_schema.columns", StringComparison.Ordinal))
            {
                var table = TableAt(Parameter(0), Parameter(1));
                var rows = table?.Columns.Select((c, i) => new string?[]
                {
                    c.Name, (i + 1).ToString(CultureInfo.InvariantCulture), c.DataType, c.UdtName, c.Nullable ? "YES" : "NO",
                    c.Precision?.ToString(CultureInfo.InvariantCulture), c.Scale?.ToString(CultureInfo.InvariantCulture),
                    c.Length?.ToString(CultureInfo.InvariantCulture), c.CrdbType, c.Computed || c.Virtual ? "YES" : "NO",
                }).ToList() ?? [];
                return (["column_name", "ordinal_position", "data_type", "udt_name", "is_nullable", "numeric_precision", "numeric_scale", "character_maximum_length", "crdb_sql_type", "is_generated"], rows);
            }

            if (sql.Contains("PRIMARY KEY", StringComparison.Ordinal))
            {
                var table = TableAt(Parameter(0), Parameter(1));
                return (["column_name"], table?.Key.Select(k => new string?[] { k }).ToList() ?? []);
            }
        }

        return null;
    }

    private static List<string?> ReadBind(byte[] body, out short[] resultFormats)
    {
        var reader = new BodyReader(body);
        reader.CString();
        reader.CString();
        var parameterFormats = new short[reader.Int16()];
        for (var i = 0; i < parameterFormats.Length; i++)
        {
            parameterFormats[i] = reader.Int16();
        }

        var values = new List<string?>();
        var count = reader.Int16();
        for (var i = 0; i < count; i++)
        {
            var length = reader.Int32();
            values.Add(length < 0 ? null : Encoding.UTF8.GetString(reader.Bytes(length))); // text parameters: the same bytes in both formats
        }

        resultFormats = new short[reader.Int16()];
        for (var i = 0; i < resultFormats.Length; i++)
        {
            resultFormats[i] = reader.Int16();
        }

        return values;
    }

    private static short Format(short[] formats, int column) => formats.Length switch
    {
        0 => 0,
        1 => formats[0],
        _ => formats[column],
    };

    private static void RowDescription(MessageWriter reply, (string Name, int Oid)[] columns, short[] formats)
    {
        reply.Begin('T').Int16((short)columns.Length);
        for (var i = 0; i < columns.Length; i++)
        {
            reply.CString(columns[i].Name).Int32(0).Int16(0).Int32(columns[i].Oid).Int16(-1).Int32(-1).Int16(Format(formats, i));
        }

        reply.End();
    }

    private static void DataRow(MessageWriter reply, byte[]?[] values, short[] formats, int[] oids)
    {
        reply.Begin('D').Int16((short)values.Length);
        for (var i = 0; i < values.Length; i++)
        {
            var value = values[i];
            if (value is not null && oids[i] == 17 && Format(formats, i) == 0)
            {
                value = Encoding.ASCII.GetBytes("\\x" + Convert.ToHexStringLower(value)); // bytea's text form
            }

            reply.Int32(value?.Length ?? -1);
            if (value is not null)
            {
                reply.Bytes(value);
            }
        }

        reply.End();
    }

    private static void WriteError(MessageWriter reply, string sqlState, string message) =>
        reply.Begin('E').Byte((byte)'S').CString("ERROR").Byte((byte)'V').CString("ERROR").Byte((byte)'C').CString(sqlState).Byte((byte)'M').CString(message).Byte(0).End();

    private static Dictionary<string, string> ReadStartup(byte[] startup)
    {
        var reader = new BodyReader(startup);
        reader.Int32(); // protocol 3.0
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Remaining > 1)
        {
            var name = reader.CString();
            parameters[name] = reader.CString();
        }

        return parameters;
    }

    private static async Task<byte[]> ReadAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer);
        return buffer;
    }

    private sealed record FeedEvent(long Hlc, string? Table, string? Key, string Value);

    private sealed record Feed(HashSet<string> Tables, long? Cursor, bool InitialScan, bool StopOnSchemaChange)
    {
        public TimeSpan ResolvedInterval { get; init; } = TimeSpan.FromSeconds(1);

        public bool JsonNullAsObject { get; init; }

        public Channel<FeedEvent> Rows { get; } = Channel.CreateUnbounded<FeedEvent>();
    }

    private sealed class Session(int pid, int secret, TcpClient client)
    {
        public int Pid { get; } = pid;

        public int Secret { get; } = secret;

        public volatile Feed? Feed;

        public bool Serializable;

        public void Abort()
        {
            try
            {
                // Null once the session's own handler closed the client (a dropped connection): nothing left to abort.
                if (client.Client is { } socket)
                {
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Close();
                }
            }
            catch (ObjectDisposedException)
            {
                // Closed by its handler meanwhile.
            }

            Feed?.Rows.Writer.TryComplete();
        }
    }

    private sealed class FakeServerError(string sqlState, string message) : Exception(message)
    {
        public string SqlState { get; } = sqlState;
    }

    private sealed class BodyReader(byte[] body)
    {
        private int _pos;

        public int Remaining => body.Length - _pos;

        public string CString()
        {
            var end = Array.IndexOf(body, (byte)0, _pos);
            var value = Encoding.UTF8.GetString(body, _pos, end - _pos);
            _pos = end + 1;
            return value;
        }

        public short Int16()
        {
            var value = BinaryPrimitives.ReadInt16BigEndian(body.AsSpan(_pos));
            _pos += 2;
            return value;
        }

        public int Int32()
        {
            var value = BinaryPrimitives.ReadInt32BigEndian(body.AsSpan(_pos));
            _pos += 4;
            return value;
        }

        public byte[] Bytes(int count)
        {
            var value = body.AsSpan(_pos, count).ToArray();
            _pos += count;
            return value;
        }
    }

    private sealed class MessageWriter
    {
        private readonly MemoryStream _buffer = new();
        private long _start;

        public MessageWriter Begin(char type)
        {
            _buffer.WriteByte((byte)type);
            _start = _buffer.Position;
            _buffer.Write(new byte[4]);
            return this;
        }

        public MessageWriter Byte(byte value)
        {
            _buffer.WriteByte(value);
            return this;
        }

        public MessageWriter Int16(short value)
        {
            Span<byte> bytes = stackalloc byte[2];
            BinaryPrimitives.WriteInt16BigEndian(bytes, value);
            _buffer.Write(bytes);
            return this;
        }

        public MessageWriter Int32(int value)
        {
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(bytes, value);
            _buffer.Write(bytes);
            return this;
        }

        public MessageWriter CString(string value)
        {
            _buffer.Write(Encoding.UTF8.GetBytes(value));
            _buffer.WriteByte(0);
            return this;
        }

        public MessageWriter Bytes(byte[] value)
        {
            _buffer.Write(value);
            return this;
        }

        public void End()
        {
            var end = _buffer.Position;
            _buffer.Position = _start;
            Int32((int)(end - _start));
            _buffer.Position = end;
        }

        public async Task SendAsync(Stream stream)
        {
            if (_buffer.Length > 0)
            {
                await stream.WriteAsync(_buffer.GetBuffer().AsMemory(0, (int)_buffer.Length));
                await stream.FlushAsync();
                _buffer.SetLength(0);
            }
        }
    }
}

/// <summary>A column as CockroachDB's <c>information_schema.columns</c> shows it. A computed column has
/// <c>is_generated</c> YES; a VIRTUAL one besides is left out of changefeed rows (create-changefeed, option
/// <c>virtual_columns</c>: "omitted" by default), which the catalog does not tell apart from a stored one.</summary>
internal sealed record FakeColumn(string Name, string DataType, string UdtName, string CrdbType, bool Nullable = true, int? Precision = null, int? Scale = null, int? Length = null, bool Computed = false, bool Virtual = false);

/// <summary>A table of the fake: its columns, primary key and current rows (JSON objects by key array).</summary>
internal sealed record FakeTable(string Schema, string Name, IReadOnlyList<FakeColumn> Columns, IReadOnlyList<string> Key)
{
    public Dictionary<string, JsonObject> Rows { get; init; } = new(StringComparer.Ordinal);
}
