using System.Data;
using System.Data.Common;
using System.Diagnostics;
using DataMesh.Producer.Emitting;
using Microsoft.Extensions.Logging;

namespace DataMesh.Producer.Outbox;

/// <summary>
/// A relay's lease on one outbox table: the row <c>relay</c> of <c>&lt;table&gt;_lease</c>, which names its holder by a token
/// and expires at a time of the database's clock unless renewed.
/// </summary>
/// <remarks>
/// <para>The token is new at every acquisition, so it is also the fence: a renewal, or a delete made in the same transaction
/// as a renewal, matches nothing once another relay has taken the lease, even if this relay takes it back later.</para>
/// <para><see cref="Remaining"/> is counted on this process's monotonic clock from the moment before the statement that last
/// took or renewed the lease was sent, so it is never more than what the database granted (which counted from when it ran
/// the statement): another relay can take the lease only after <see cref="Remaining"/> has run out.</para>
/// <para>Not thread-safe: one relay loop uses it.</para>
/// </remarks>
internal sealed class OutboxLease(OutboxSql sql, TimeSpan duration, string relay, ILogger logger)
{
    private long _acquisitions;
    private long _grantedAt;

    /// <summary>The token of the current acquisition, or null when this relay does not hold the lease.</summary>
    public string? Token { get; private set; }

    /// <summary>What is left of the lease by this process's clock; zero or less when it is not held or has run out.</summary>
    public TimeSpan Remaining => Token is null ? TimeSpan.Zero : duration - Stopwatch.GetElapsedTime(_grantedAt);

    /// <summary>Renews the lease if this relay holds it, else takes it if it is free or expired.</summary>
    /// <returns>Whether this relay holds the lease now.</returns>
    public async Task<bool> AcquireOrRenewAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        if (Token is not null && await RenewAsync(connection, null, cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        // The relay's name (at most 43 characters), then the acquisition's number: unique to this acquisition, within 64.
        var token = relay + "/" + (++_acquisitions).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var started = Stopwatch.GetTimestamp();
        if (await ExecuteAsync(connection, null, sql.AcquireLease, token, true, cancellationToken).ConfigureAwait(false) != 1)
        {
            return false;
        }

        Token = token;
        _grantedAt = started;
        ProducerLog.LeaseAcquired(logger, token, sql.Table);
        return true;
    }

    /// <summary>Extends the lease if it is still held under this relay's token; in <paramref name="transaction"/>, the lease row
    /// then stays locked until it ends, so that what the transaction does is fenced: nobody can take the lease meanwhile.</summary>
    /// <returns>Whether this relay still holds the lease; false (and the token forgotten) when another relay took it.</returns>
    public async Task<bool> RenewAsync(DbConnection connection, DbTransaction? transaction, CancellationToken cancellationToken)
    {
        if (Token is not { } token)
        {
            return false;
        }

        var started = Stopwatch.GetTimestamp();
        if (await ExecuteAsync(connection, transaction, sql.RenewLease, token, true, cancellationToken).ConfigureAwait(false) == 1)
        {
            // In a transaction the renewal counts only if it commits: keep the earlier, shorter reckoning.
            if (transaction is null)
            {
                _grantedAt = started;
            }

            return true;
        }

        Token = null;
        ProducerLog.LeaseLost(logger, token, sql.Table);
        return false;
    }

    /// <summary>Frees the lease, if this relay still holds it, so that another relay can take it at once. Call it only when
    /// nothing this relay handed to Kafka is still unacknowledged.</summary>
    public async Task ReleaseAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        if (Token is not { } token)
        {
            return;
        }

        Token = null;
        await ExecuteAsync(connection, null, sql.ReleaseLease, token, false, cancellationToken).ConfigureAwait(false);
    }

    private async Task<int> ExecuteAsync(DbConnection connection, DbTransaction? transaction, string text, string token, bool extends, CancellationToken cancellationToken)
    {
        var command = connection.CreateCommand();
        await using (command.ConfigureAwait(false))
        {
            command.Transaction = transaction;
            command.CommandText = text;
            OutboxSql.Parameter(command, "@token", token, DbType.String);
            if (extends)
            {
                OutboxSql.Parameter(command, "@micros", (long)duration.TotalMicroseconds, DbType.Int64);
            }

            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
