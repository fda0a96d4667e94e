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
/// would keep the lock after it was given up.
/// </summary>
internal sealed class SessionLockLease : ISourceLease
{
    private readonly Func<CancellationToken, Task<DbConnection>> _open;
    private readonly string _acquireSql;
    private readonly string _heldSql;
    private readonly string _releaseSql;
    private readonly Func<Exception, Exception?> _explain;
    private DbConnection? _session;

    /// <param name="description">What the lease is, for logs.</param>
    /// <param name="lockName">The lock's name, passed as <c>@name</c> to the statements.</param>
    /// <param name="open">Opens the lease's session (not pooled), having checked the server as the connector does before it
    /// sends any credential.</param>
    /// <param name="acquireSql">Takes the lock without waiting; returns true/1 when taken.</param>
    /// <param name="heldSql">Returns true/1 while the session holds the lock.</param>
    /// <param name="releaseSql">Releases the lock.</param>
    /// <param name="explain">Turns a connection error into the connector's clear error, or null to keep it.</param>
    public SessionLockLease(string description, string lockName, Func<CancellationToken, Task<DbConnection>> open, string acquireSql, string heldSql, string releaseSql, Func<Exception, Exception?> explain)
    {
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

    /// <summary>The lock name of a source: <c>datamesh-source:&lt;name&gt;</c>, or, when that is longer than
    /// <paramref name="maxLength"/>, the name's SHA-256 instead of the name (MySQL's lock names have at most 64 characters).</summary>
    public static string NameFor(string sourceName, int maxLength)
    {
        const string Prefix = "datamesh-source:";
        var name = Prefix + sourceName;
        return name.Length <= maxLength ? name : Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sourceName)))[..Math.Min(64, maxLength - Prefix.Length)];
    }

    public async Task<bool> TryAcquireAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (_session is not { State: System.Data.ConnectionState.Open })
            {
                await CloseAsync().ConfigureAwait(false);
                _session = await _open(cancellationToken).ConfigureAwait(false);
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
    }

    public async Task<bool> IsHeldAsync(CancellationToken cancellationToken) =>
        _session is { State: System.Data.ConnectionState.Open } && await ScalarAsync(_heldSql, cancellationToken).ConfigureAwait(false);

    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
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
        }
    }

    public ValueTask DisposeAsync() => new(CloseAsync());

    private async Task<bool> ScalarAsync(string sql, CancellationToken cancellationToken)
    {
        var command = _session!.CreateCommand();
        await using (command.ConfigureAwait(false))
        {
            command.CommandText = sql;
            var name = command.CreateParameter();
            name.ParameterName = "@name";
            name.Value = LockName;
            command.Parameters.Add(name);
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
