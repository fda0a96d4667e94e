using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DataMesh.Sources.Leases;

namespace DataMesh.Connectors.Leases;

/// <summary>
/// A source's lease as a named lock held by a database session of its own (PostgreSQL's session advisory locks, MySQL's
/// and MariaDB's <c>GET_LOCK</c>): taken without waiting, held while the session lives, freed by the server the moment the
/// session ends (the process died, was killed, or lost its connection). The session is never pooled: a pooled session
/// would keep the lock after it was given up. The session is also set to end on the server's side when idle for a while
/// (<c>sessionSql</c>): a holder whose host or network died leaves no clean close behind, and without it the server would
/// keep the zombie session, and the lock, until TCP keepalive or <c>wait_timeout</c> noticed (hours by default). The
/// runtime asks from three tasks (its watcher, its position store and its producer's gate): the session is used by one
/// at a time.
/// </summary>
internal sealed class SessionLockLease : ISourceLease
{
    private readonly Func<CancellationToken, Task<DbConnection>> _open;
    private readonly string _acquireSql;
    private readonly string _heldSql;
    private readonly string _releaseSql;
    private readonly Func<Exception, Exception?> _explain;
    private readonly string _sessionSql;
    private readonly SemaphoreSlim _use = new(1, 1);
    private DbConnection? _session;

    /// <param name="description">What the lease is, for logs.</param>
    /// <param name="lockName">The lock's name, passed as <c>@name</c> to the statements.</param>
    /// <param name="open">Opens the lease's session (not pooled), having checked the server as the connector does before it
    /// sends any credential.</param>
    /// <param name="acquireSql">Takes the lock without waiting; returns true/1 when taken.</param>
    /// <param name="heldSql">Returns true/1 while the session holds the lock.</param>
    /// <param name="releaseSql">Releases the lock.</param>
    /// <param name="sessionSql">Run once on each new session before the lock is asked for (session timeouts).</param>
    /// <param name="explain">Turns a connection error into the connector's clear error, or null to keep it.</param>
    public SessionLockLease(string description, string lockName, Func<CancellationToken, Task<DbConnection>> open, string acquireSql, string heldSql, string releaseSql, string sessionSql, Func<Exception, Exception?> explain)
    {
        _sessionSql = sessionSql;
        Description = description;
        LockName = lockName;
        _open = open;
        _acquireSql = acquireSql;
        _heldSql = heldSql;
        _releaseSql = releaseSql;
        _explain = explain;
    }

    public string Description { get; }

    /// <summary>The lock's name.</summary>
    public string LockName { get; }

    /// <summary>The lock name of a source: <c>datamesh-source:&lt;name&gt;</c>; with <paramref name="hashed"/>,
    /// <c>datamesh-source:</c> and the first 48 hex digits of the name's SHA-256 (MySQL's lock names have at most 64
    /// characters and compare case-insensitively, where source names are case-sensitive).</summary>
    public static string NameFor(string sourceName, bool hashed)
    {
        const string Prefix = "datamesh-source:";
        return hashed ? Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sourceName)))[..48] : Prefix + sourceName;
    }

    /// <summary>How long the server keeps a lease's idle session: ten lease checks, at least 30 s.</summary>
    public static TimeSpan IdleTimeout(TimeSpan checkInterval) => TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(30).Ticks, checkInterval.Ticks * 10));

    public async Task<bool> TryAcquireAsync(CancellationToken cancellationToken)
    {
        await _use.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_session is not { State: System.Data.ConnectionState.Open })
            {
                await CloseAsync().ConfigureAwait(false);
                _session = await _open(cancellationToken).ConfigureAwait(false);
                await ScalarAsync(_sessionSql, cancellationToken, answers: false).ConfigureAwait(false);
            }

            return await ScalarAsync(_acquireSql, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && _explain(ex) is { } explained)
        {
            await CloseAsync().ConfigureAwait(false);
            throw explained;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await CloseAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            _use.Release();
        }
    }

    public async Task<bool> IsHeldAsync(CancellationToken cancellationToken)
    {
        await _use.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _session is { State: System.Data.ConnectionState.Open } && await ScalarAsync(_heldSql, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _use.Release();
        }
    }

    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        await _use.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_session is { State: System.Data.ConnectionState.Open })
            {
                await ScalarAsync(_releaseSql, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
            _use.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        _use.Dispose();
    }

    /// <summary>Runs <paramref name="sql"/> on the session; true when it <paramref name="answers"/> true or 1.</summary>
    private async Task<bool> ScalarAsync(string sql, CancellationToken cancellationToken, bool answers = true)
    {
        var command = _session!.CreateCommand();
        await using (command.ConfigureAwait(false))
        {
            command.CommandText = sql;
            if (sql.Contains("@name", StringComparison.Ordinal))
            {
                var name = command.CreateParameter();
                name.ParameterName = "@name";
                name.Value = LockName;
                command.Parameters.Add(name);
            }

            if (!answers)
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                return false;
            }

            var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            // PostgreSQL answers a boolean; MySQL 1, 0 or NULL.
            return result is not (null or DBNull) && Convert.ToInt64(result, CultureInfo.InvariantCulture) == 1;
        }
    }

    private async Task CloseAsync()
    {
        if (_session is { } session)
        {
            _session = null;
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }
}
