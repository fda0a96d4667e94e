using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// Drops what a PostgreSQL source made in its database, for <c>datamesh delete --with-resources</c>: its replication slot
/// (which otherwise keeps the server's WAL for ever), its publication and its event trigger. Only what the source made
/// under its own default names (<c>datamesh_&lt;source&gt;</c>): a slot or publication named in the options
/// (<see cref="PostgresSourceOptions.SlotName"/>, <see cref="PostgresSourceOptions.PublicationName"/>) may be someone
/// else's, as may one with <see cref="PostgresSourceOptions.CreateSlot"/> or
/// <see cref="PostgresSourceOptions.ManagePublication"/> off or a <c>FOR ALL TABLES</c> publication; those are kept and
/// listed with the statement to drop them. A step that fails is reported as kept with its reason; the others go on.
/// </summary>
internal static class PostgresResourceDeletion
{
    /// <summary>How long a slot still in use (its source stopping on a runner) is waited for.</summary>
    internal static TimeSpan SlotWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Drops the source's slot, publication and event trigger.</summary>
    /// <param name="sourceName">The source.</param>
    /// <param name="options">Its options (the connection string resolved).</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>What was dropped, and what was kept with the reason.</returns>
    public static async Task<IReadOnlyList<SourceResourceDeletion>> DeleteAsync(string sourceName, PostgresSourceOptions options, CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString) { ApplicationName = "datamesh-" + sourceName + "-delete", Pooling = false };
        PostgresTls.Secure(builder);
        var connection = new NpgsqlConnection(builder.ConnectionString);
        await using var scope = connection.ConfigureAwait(false);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (PostgresTls.Explain(ex, sourceName, builder) is { } explained)
        {
            throw explained;
        }

        List<SourceResourceDeletion> outcome = [];
        var slot = options.Slot(sourceName);
        try
        {
            outcome.Add(await DropSlotAsync(connection, slot, ours: options.CreateSlot && options.SlotName is null, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            outcome.Add(new("replication slot", slot, Deleted: false, $"kept: could not be dropped ({ex.Message})"));
        }

        var publication = options.Publication(sourceName);
        try
        {
            var publications = new PublicationManager(sourceName, options, new PostgresCatalog(connection, sourceName), NullLogger.Instance, []);
            outcome.AddRange(await publications.DropAsync(publication, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            outcome.Add(new("publication", publication, Deleted: false, $"kept: could not be dropped ({ex.Message})"));
        }

        return outcome;
    }

    /// <summary>Drops the slot once no process uses it (waiting up to <see cref="SlotWait"/> for its source to stop).</summary>
    private static async Task<SourceResourceDeletion> DropSlotAsync(NpgsqlConnection connection, string slot, bool ours, CancellationToken cancellationToken)
    {
        const string Kind = "replication slot";
        var waited = Stopwatch.StartNew();
        while (true)
        {
            int? activePid;
            var query = new NpgsqlCommand("SELECT active_pid FROM pg_replication_slots WHERE slot_name = @s AND database = current_database()", connection);
            await using (query.ConfigureAwait(false))
            {
                query.Parameters.AddWithValue("s", slot);
                var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        return new(Kind, slot, Deleted: false, "not found");
                    }

                    activePid = reader.IsDBNull(0) ? null : reader.GetInt32(0);
                }
            }

            if (!ours)
            {
                return new(Kind, slot, Deleted: false,
                    $"kept: it may not be DataMesh's (slot_name set, or create_slot off); once nothing reads it, drop it with SELECT pg_drop_replication_slot('{slot}')");
            }

            if (activePid is { } pid)
            {
                if (waited.Elapsed > SlotWait)
                {
                    return new(Kind, slot, Deleted: false,
                        $"kept: still in use by server process {pid} after {SlotWait.TotalSeconds:0} s; once nothing reads it, drop it with SELECT pg_drop_replication_slot('{slot}')");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
                continue;
            }

            var drop = new NpgsqlCommand("SELECT pg_drop_replication_slot(@s)", connection);
            await using (drop.ConfigureAwait(false))
            {
                drop.Parameters.AddWithValue("s", slot);
                try
                {
                    await drop.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.ObjectInUse or PostgresErrorCodes.UndefinedObject)
                {
                    // Taken again, or dropped by someone else, between the look and the drop: look again (the wait above
                    // bounds a slot that stays in use).
                    await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }

            return new(Kind, slot, Deleted: true, "dropped: the server no longer keeps WAL for it");
        }
    }
}
