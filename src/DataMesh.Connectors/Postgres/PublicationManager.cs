using System.Globalization;
using System.Text;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// Keeps a source's publication equal to the tables its patterns select while tables come and go
/// (<see cref="PostgresSourceOptions.ManagePublication"/>, <see cref="PostgresSourceOptions.NewTables"/>).
/// </summary>
/// <remarks>
/// <para>
/// pgoutput decides whether to send a change with the catalog as of that change: a row written before its table joined
/// the publication is never sent. So a table has to join in the transaction that creates it. With a superuser the
/// source installs an event trigger named after the publication whose function adds each new (or altered) table that
/// the patterns select and that has a replica identity to the publication, in the same transaction. Without one, or
/// with <see cref="NewTableCapture.Poll"/>, the source adds new tables when it next looks (<see cref="RefreshIfDueAsync"/>),
/// and the changes before that are not captured.
/// </para>
/// <para>
/// Either way the source looks regularly and handles the tables one by one: a table it cannot capture (no SELECT, no
/// replica identity, not its own to publish) is skipped with a warning that names it, the reason and the fix, and is
/// looked at again each time; the other tables are added.
/// </para>
/// <para>
/// Lifecycle: the trigger and its function belong to the source's user and stay when the source stops, so that tables
/// created meanwhile are still captured from their first row when it resumes (the slot keeps their changes). They are
/// re-created at each start with the current patterns, and dropped at start when the source is set to poll or no longer
/// manages its publication. The function does nothing once its publication is gone; a removed source leaves them behind:
/// <c>DROP EVENT TRIGGER &lt;publication&gt;; DROP FUNCTION &lt;schema&gt;.&lt;publication&gt;();</c>. Sources with different
/// publications have a trigger each.
/// </para>
/// </remarks>
internal sealed class PublicationManager(string sourceName, PostgresSourceOptions options, PostgresCatalog catalog, ILogger logger, IReadOnlyList<string> ownTables)
{
    /// <summary>How a trigger and function of DataMesh are told from objects of the same name that are not.</summary>
    private const string Marker = "DataMesh:";

    private readonly TableFilter _filter = new(options, PostgresConnector.SystemSchemas, ownTables);
    private readonly Dictionary<uint, string> _skipped = [];
    private HashSet<uint> _known = [];
    private string _publication = string.Empty;
    private string _user = string.Empty;
    private bool _maintain;
    private bool _trigger;
    private long _nextMs = long.MaxValue; // Environment.TickCount64: a step of the wall clock neither delays nor hurries a look

    /// <summary>How often the catalog is looked at: promptly when polling is the only way new tables join.</summary>
    private TimeSpan Interval => _trigger ? options.HeartbeatInterval : options.NewTablePollInterval;

    /// <summary>
    /// Checks the selected tables (refusing, with the fix, a table that cannot be captured), creates or updates the
    /// publication, and installs or removes the event trigger.
    /// </summary>
    public async Task StartAsync(string publication, CancellationToken cancellationToken)
    {
        _publication = publication;
        var tables = await catalog.ResolveTablesAsync(options, _filter, cancellationToken).ConfigureAwait(false);
        if (await catalog.EnsurePublicationAsync(publication, tables, _filter, options.ManagePublication, cancellationToken).ConfigureAwait(false))
        {
            PostgresLog.PublicationSet(logger, sourceName, publication, tables.Count);
        }

        var (user, superuser, schema) = await catalog.RoleAsync(cancellationToken).ConfigureAwait(false);
        _user = user;
        var allTables = await catalog.PublicationForAllTablesAsync(publication, cancellationToken).ConfigureAwait(false) == true;
        _maintain = options.ManagePublication && !allTables;
        if (!_maintain || options.NewTables == NewTableCapture.Poll)
        {
            // FOR ALL TABLES publishes every table from its creation; a publication managed elsewhere is not ours to change.
            if (superuser && schema is not null)
            {
                await RemoveTriggerAsync(schema, cancellationToken).ConfigureAwait(false);
            }

            if (_maintain)
            {
                PostgresLog.PollingForNewTables(logger, LogLevel.Information, sourceName, options.NewTablePollInterval, publication, "NewTables is Poll.");
            }
        }
        else if (!superuser || schema is null)
        {
            var reason = !superuser
                ? $"user '{user}' is not a superuser, and only a superuser may create the event trigger that adds new tables to the publication as they are created"
                : "the connection has no current schema (search_path) to create the event trigger's function in";
            if (options.NewTables == NewTableCapture.EventTrigger)
            {
                throw new PostgresSourceException(
                    $"PostgreSQL source '{sourceName}': NewTables is EventTrigger, but {reason}. " +
                    (superuser ? "Set search_path for the user" : $"Run ALTER ROLE {CapturedTable.Quote(user)} SUPERUSER;") + ", or set NewTables to Poll.");
            }

            PostgresLog.PollingForNewTables(logger, LogLevel.Warning, sourceName, options.NewTablePollInterval, publication,
                $"To capture new tables from their first row: {reason}; " +
                (superuser ? "set a search_path for the user." : $"run ALTER ROLE {CapturedTable.Quote(user)} SUPERUSER; and restart the source (NewTables = Poll acknowledges the gap and silences this warning)."));
        }
        else
        {
            _trigger = await InstallTriggerAsync(schema, cancellationToken).ConfigureAwait(false);
        }

        _known = [.. (await catalog.PublicationTablesAsync(publication, cancellationToken).ConfigureAwait(false)).Keys];
        _nextMs = Environment.TickCount64 + (long)Interval.TotalMilliseconds;
    }

    /// <summary>Looks for new tables when the interval has passed since the last look.</summary>
    public Task RefreshIfDueAsync(CancellationToken cancellationToken) =>
        _maintain && Environment.TickCount64 >= _nextMs ? RefreshAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>Adds the source's own tables (the snapshots' watermark and signal tables), just created, when DataMesh
    /// maintains the publication; a publication the user maintains must list them.</summary>
    public Task AddOwnTablesAsync(CancellationToken cancellationToken) =>
        _maintain && ownTables.Count > 0 ? RefreshAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>Adds the selected tables the publication lacks, one by one, and warns once about each that cannot be captured.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        _nextMs = Environment.TickCount64 + (long)Interval.TotalMilliseconds;
        var members = await catalog.PublicationTablesAsync(_publication, cancellationToken).ConfigureAwait(false);
        var candidates = await catalog.ListTablesAsync(_filter, cancellationToken).ConfigureAwait(false);
        var joined = members.Where(m => !_known.Contains(m.Key)).Select(m => $"{CapturedTable.Quote(m.Value.Schema)}.{CapturedTable.Quote(m.Value.Name)}").ToList();
        if (joined.Count > 0)
        {
            PostgresLog.TablesJoined(logger, sourceName, string.Join(", ", joined), _publication);
        }

        var added = new List<string>();
        var addedOwn = new List<string>();
        foreach (var (table, canSelect) in candidates)
        {
            if (members.ContainsKey(table.Oid))
            {
                _skipped.Remove(table.Oid);
                continue;
            }

            string? problem = null;
            if (!canSelect)
            {
                problem = $"user '{_user}' lacks SELECT on it. Run GRANT SELECT ON {table.Quoted} TO {CapturedTable.Quote(_user)};";
            }
            else if (!table.HasReplicaIdentity)
            {
                problem = "it has no replica identity, and in the publication its UPDATEs and DELETEs would fail for the applications. " +
                    $"Add a primary key, or run ALTER TABLE {table.Quoted} REPLICA IDENTITY FULL; (or exclude the table)";
            }
            else
            {
                try
                {
                    await catalog.ExecuteAsync($"ALTER PUBLICATION {CapturedTable.Quote(_publication)} ADD TABLE {table.Quoted}", cancellationToken).ConfigureAwait(false);
                    (ownTables.Contains(table.Schema + "." + table.Name) ? addedOwn : added).Add(table.Quoted);
                    members[table.Oid] = (table.Schema, table.Name);
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
                {
                    continue; // dropped since it was listed
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
                {
                    problem = $"user '{_user}' may not add it to publication '{_publication}' ({ex.MessageText}). " +
                        $"Run ALTER TABLE {table.Quoted} OWNER TO {CapturedTable.Quote(_user)};, or let its owner run ALTER PUBLICATION {CapturedTable.Quote(_publication)} ADD TABLE {table.Quoted};";
                }
                catch (PostgresException ex) when (PostgresConnector.IsTransientError(ex) != true)
                {
                    problem = $"it cannot be added to publication '{_publication}': {ex.MessageText} ({ex.SqlState})";
                }
            }

            if (problem is null)
            {
                _skipped.Remove(table.Oid);
            }
            else if (!_skipped.TryGetValue(table.Oid, out var said) || said != problem)
            {
                _skipped[table.Oid] = problem;
                PostgresLog.TableNotCaptured(logger, sourceName, table.Quoted, problem, Interval);
            }
        }

        foreach (var gone in _skipped.Keys.Where(oid => !candidates.Any(c => c.Table.Oid == oid)).ToList())
        {
            _skipped.Remove(gone);
        }

        if (added.Count > 0)
        {
            PostgresLog.TablesAdded(logger, sourceName, string.Join(", ", added));
        }

        if (addedOwn.Count > 0)
        {
            PostgresLog.OwnTablesAdded(logger, sourceName, string.Join(", ", addedOwn));
        }

        _known = [.. members.Keys];
    }

    /// <summary>The event trigger's (and its function's) name: the publication's.</summary>
    internal static string TriggerName(string publication) => publication;

    /// <returns>False when an object of the trigger's or function's name exists that DataMesh did not create (the source polls then).</returns>
    private async Task<bool> InstallTriggerAsync(string schema, CancellationToken cancellationToken)
    {
        var name = TriggerName(_publication);
        var function = $"{CapturedTable.Quote(schema)}.{CapturedTable.Quote(name)}()";
        if (await ForeignObjectAsync(schema, name, cancellationToken).ConfigureAwait(false) is { } foreign)
        {
            var reason = $"{foreign} exists and was not created by DataMesh";
            if (options.NewTables == NewTableCapture.EventTrigger)
            {
                throw new PostgresSourceException($"PostgreSQL source '{sourceName}': NewTables is EventTrigger, but {reason}. Rename or drop it, give the source another PublicationName, or set NewTables to Poll.");
            }

            PostgresLog.PollingForNewTables(logger, LogLevel.Warning, sourceName, options.NewTablePollInterval, _publication, $"The source cannot install its event trigger: {reason}; rename or drop it, or give the source another PublicationName.");
            return false;
        }

        var comment = Literal($"{Marker} adds the new tables of PostgreSQL source '{sourceName}' to publication '{_publication}' in the transaction that creates them.");
        var body = FunctionBody();
        var tag = "$datamesh$";
        for (var n = 0; body.Contains(tag, StringComparison.Ordinal); n++)
        {
            tag = "$datamesh" + n.ToString(CultureInfo.InvariantCulture) + "$";
        }

        // SECURITY DEFINER: the function runs as the source's user (who owns the publication), whoever creates the table; a
        // fixed search_path keeps objects of the creator's schemas out of it.
        await catalog.ExecuteInTransactionAsync($"""
            CREATE OR REPLACE FUNCTION {function} RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS {tag}{body}{tag};
            COMMENT ON FUNCTION {function} IS {comment};
            DROP EVENT TRIGGER IF EXISTS {CapturedTable.Quote(name)};
            CREATE EVENT TRIGGER {CapturedTable.Quote(name)} ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE') EXECUTE FUNCTION {function};
            COMMENT ON EVENT TRIGGER {CapturedTable.Quote(name)} IS {comment};
            """, cancellationToken).ConfigureAwait(false);
        PostgresLog.EventTriggerInstalled(logger, sourceName, name, function, _publication);
        return true;
    }

    /// <summary>
    /// Drops what the source made for <paramref name="publication"/> (<c>datamesh delete --with-resources</c>): its event
    /// trigger and function when they are DataMesh's (they need a superuser, as they did to be made), then the publication.
    /// </summary>
    /// <returns>What was dropped, and what was kept with the reason.</returns>
    public async Task<IReadOnlyList<SourceResourceDeletion>> DropAsync(string publication, CancellationToken cancellationToken)
    {
        _publication = publication;
        List<SourceResourceDeletion> outcome = [];
        var (_, superuser, schema) = await catalog.RoleAsync(cancellationToken).ConfigureAwait(false);
        var name = TriggerName(publication);
        if (schema is not null && await catalog.DescribedObjectsAsync(schema, name, Marker, cancellationToken).ConfigureAwait(false) is var ours && (ours.Trigger == true || ours.Function == true))
        {
            if (superuser)
            {
                await RemoveTriggerAsync(schema, cancellationToken).ConfigureAwait(false);
                outcome.Add(new("event trigger", name, Deleted: true, "dropped, with its function"));
            }
            else
            {
                outcome.Add(new("event trigger", name, Deleted: false, $"kept: only a superuser may drop it (DROP EVENT TRIGGER {CapturedTable.Quote(name)}; DROP FUNCTION {CapturedTable.Quote(schema)}.{CapturedTable.Quote(name)}();)"));
            }
        }

        var allTables = await catalog.PublicationForAllTablesAsync(publication, cancellationToken).ConfigureAwait(false);
        if (allTables is null)
        {
            outcome.Add(new("publication", publication, Deleted: false, "not found"));
        }
        else if (!options.ManagePublication || options.PublicationName is not null || allTables == true)
        {
            // Named in the options, or FOR ALL TABLES (which the source never makes or changes): it may serve others.
            outcome.Add(new("publication", publication, Deleted: false,
                $"kept: it may not be DataMesh's (publication_name set, manage_publication off, or FOR ALL TABLES); drop it with DROP PUBLICATION {CapturedTable.Quote(publication)} once no one needs it"));
        }
        else
        {
            await catalog.ExecuteInTransactionAsync($"DROP PUBLICATION IF EXISTS {CapturedTable.Quote(publication)}", cancellationToken).ConfigureAwait(false);
            outcome.Add(new("publication", publication, Deleted: true, "dropped"));
        }

        return outcome;
    }

    private async Task RemoveTriggerAsync(string schema, CancellationToken cancellationToken)
    {
        var name = TriggerName(_publication);
        var ours = await catalog.DescribedObjectsAsync(schema, name, Marker, cancellationToken).ConfigureAwait(false);
        var sql = new StringBuilder();
        if (ours.Trigger == true)
        {
            sql.Append("DROP EVENT TRIGGER ").Append(CapturedTable.Quote(name)).Append(';');
        }

        if (ours.Function == true)
        {
            sql.Append("DROP FUNCTION ").Append(CapturedTable.Quote(schema)).Append('.').Append(CapturedTable.Quote(name)).Append("();");
        }

        if (sql.Length > 0)
        {
            await catalog.ExecuteInTransactionAsync(sql.ToString(), cancellationToken).ConfigureAwait(false);
            PostgresLog.EventTriggerRemoved(logger, sourceName, name, _publication);
        }
    }

    /// <summary>"event trigger x" or "function s.x()" when one exists without DataMesh's comment; null otherwise.</summary>
    private async Task<string?> ForeignObjectAsync(string schema, string name, CancellationToken cancellationToken)
    {
        var ours = await catalog.DescribedObjectsAsync(schema, name, Marker, cancellationToken).ConfigureAwait(false);
        return ours.Trigger == false ? $"event trigger {CapturedTable.Quote(name)}"
            : ours.Function == false ? $"function {CapturedTable.Quote(schema)}.{CapturedTable.Quote(name)}()"
            : null;
    }

    /// <summary>
    /// The trigger function: for each table the DDL command created or altered that the patterns select (translated to
    /// LIKE), that is permanent and not a partition (partitions are published through their root), that has a replica
    /// identity and that is not yet in the publication: ALTER PUBLICATION ... ADD TABLE. It never makes the DDL fail: an
    /// error becomes a WARNING in the session that ran it, and the source's next look warns and retries.
    /// </summary>
    private string FunctionBody()
    {
        var publication = Literal(_publication);
        var include = options.IncludeTables.Count == 0 ? "true" : string.Join(" OR ", options.IncludeTables.Select(p => "name LIKE " + Literal(TableFilter.ToLike(p))));
        var exclude = options.ExcludeTables.Count == 0 ? "false" : string.Join(" OR ", options.ExcludeTables.Select(p => "name LIKE " + Literal(TableFilter.ToLike(p))));
        return $"""

            DECLARE
                t record;
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = {publication} AND NOT puballtables) THEN
                    RETURN; -- the source's publication is gone (the source was removed), or it publishes all tables anyway
                END IF;
                FOR t IN
                    SELECT DISTINCT c.oid, n.nspname, c.relname
                    FROM pg_event_trigger_ddl_commands() d
                    JOIN pg_class c ON c.oid = d.objid
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    CROSS JOIN LATERAL (SELECT n.nspname || '.' || c.relname AS name) q
                    WHERE d.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
                      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE E'pg\\_toast%' AND n.nspname NOT LIKE E'pg\\_temp%'
                      AND ({include}) AND NOT ({exclude})
                      AND (c.relreplident IN ('f', 'i') OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))
                      AND NOT EXISTS (SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE p.pubname = {publication} AND r.prrelid = c.oid)
                LOOP
                    BEGIN
                        EXECUTE format('ALTER PUBLICATION %I ADD TABLE %I.%I', {publication}, t.nspname, t.relname);
                    EXCEPTION WHEN OTHERS THEN
                        RAISE WARNING 'DataMesh did not add table %.% to publication %: %', quote_ident(t.nspname), quote_ident(t.relname), {publication}, SQLERRM;
                    END;
                END LOOP;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'DataMesh did not look for new tables of publication %: %', {publication}, SQLERRM;
            END;

            """;
    }

    /// <summary>An escape string constant (<c>E'...'</c>), the same under any standard_conforming_strings.</summary>
    private static string Literal(string value) =>
        "E'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";
}
