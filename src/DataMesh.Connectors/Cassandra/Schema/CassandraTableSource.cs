using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Native;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.Cassandra.Schema;

/// <summary>
/// Where a Cassandra source's tables come from: the CQL statements of <see cref="CassandraSourceOptions.Tables"/>, or
/// <c>system_schema</c> through <see cref="CassandraSchemaConnection"/> (a connection per read, closed after it). Only
/// the tables the source's filter selects and that have CDC on are returned.
/// </summary>
/// <remarks>With <c>system_schema</c>, a mutation of a table id the last read did not know, or one that names a column
/// the table does not have, means the schema changed while the source ran: <see cref="ShouldReread"/> says when to read
/// again, once per table id (a table dropped since stays unknown and is passed over as before).</remarks>
internal sealed class CassandraTableSource
{
    private readonly string _sourceName;
    private readonly CassandraSourceOptions _options;
    private readonly TableFilter _filter;
    private readonly ILogger _logger;
    private readonly HashSet<Guid> _reread = [];
    private IReadOnlySet<Guid> _allIds = new HashSet<Guid>();

    public CassandraTableSource(string sourceName, CassandraSourceOptions options, TableFilter filter, ILogger logger)
    {
        _sourceName = sourceName;
        _options = options;
        _filter = filter;
        _logger = logger;
    }

    /// <summary>Whether the tables come from <c>system_schema</c> (and may be read again).</summary>
    public bool FromSystemSchema => _options.SchemaConnection.IsSet;

    /// <summary>Reads the captured tables (CDC on, selected by the filter).</summary>
    /// <exception cref="SourceException">The schema cannot be read: transient for network trouble, timeouts and a node
    /// that is unavailable or overloaded; fatal for refused credentials or TLS, protocol errors and tables the source
    /// cannot capture.</exception>
    public async Task<IReadOnlyList<CqlTableDefinition>> LoadAsync(CancellationToken cancellationToken)
    {
        if (!FromSystemSchema)
        {
            var given = _options.ParseTables();
            Uncaptured = [.. given.Where(t => !_filter.Captures(t.Table.Keyspace, t.Table.Name)).Select(t => t.Table)];
            return [.. given.Where(t => _filter.Captures(t.Table.Keyspace, t.Table.Name))];
        }

        var schema = await ReadSystemSchemaAsync(cancellationToken).ConfigureAwait(false);
        foreach (var table in schema.CdcOff)
        {
            CassandraSchemaLog.CdcOff(_logger, _sourceName, table);
        }

        if (schema.Tables.FirstOrDefault(t => t.CompactStorage) is { } compact)
        {
            throw new SourceException(
                $"Cassandra source '{_sourceName}': table {compact.Table.QualifiedName} uses COMPACT STORAGE (system_schema.tables flags), which this source does not capture: run ALTER TABLE {compact.Table.QualifiedName} DROP COMPACT STORAGE (Cassandra 3.0.16+/3.11.2+), or exclude the table (ExcludeTables).",
                isTransient: false);
        }

        _allIds = schema.AllTableIds;
        Uncaptured = schema.Uncaptured;
        return schema.Tables;
    }

    /// <summary>The tables of the last load that are not captured but known, to read past their updates in a mutation
    /// that also updates a captured table: from <c>system_schema</c> the other tables of the captured tables' keyspaces,
    /// from statements those the filter leaves out.</summary>
    public IReadOnlyList<CassandraTable> Uncaptured { get; private set; } = [];

    /// <summary>The schema the reader decodes with: the captured tables of the last load and <see cref="Uncaptured"/>.</summary>
    public CassandraSchema Schema(IEnumerable<CqlTableDefinition> captured) => new(captured.Select(d => d.Table), Uncaptured);

    /// <summary>Whether a mutation of <paramref name="tableId"/>, which the tables do not hold, calls for reading
    /// <c>system_schema</c> again: only from <c>system_schema</c>, only for an id the last read did not know (a table
    /// without CDC or not selected is known), and once per id.</summary>
    public bool ShouldReread(Guid tableId)
    {
        return FromSystemSchema && !_allIds.Contains(tableId) && _reread.Add(tableId);
    }

    /// <summary>Logs why <c>system_schema</c> is read again for an error that may come of a changed table.</summary>
    public void Rereading(string reason) => CassandraSchemaLog.Rereading(_logger, _sourceName, reason);

    private async Task<SystemSchema> ReadSystemSchemaAsync(CancellationToken cancellationToken)
    {
        var settings = _options.SchemaConnection.Settings();
        try
        {
            var connection = await CqlConnection.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
            await using var disposeConnection = connection.ConfigureAwait(false);
            var schema = await SystemSchemaReader.ReadAsync(connection, _options.SchemaConnection.PageSize, (keyspace, table) => _filter.Captures(keyspace, table), cancellationToken).ConfigureAwait(false);
            CassandraSchemaLog.Read(_logger, _sourceName, settings.ToString(), connection.Authenticator ?? "no authentication",
                schema.Tables.Count, schema.AllTableIds.Count);
            return schema;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var transient = ex switch
            {
                CqlServerException server => server.IsTransient,
                IOException or TimeoutException or System.Net.Sockets.SocketException => true,
                _ => false,
            };
            throw new SourceException($"Cassandra source '{_sourceName}': cannot read the schema from system_schema at {settings} ({nameof(CassandraSourceOptions.SchemaConnection)}): {ex.Message}", transient, ex);
        }
        finally
        {
            if (settings.TrustedCertificates is { } certificates)
            {
                foreach (var certificate in certificates)
                {
                    certificate.Dispose();
                }
            }
        }
    }
}

/// <summary>Thrown out of a poll when a mutation suggests the schema changed while the source ran; the connector reads
/// <c>system_schema</c> again and goes on from the entry at <see cref="At"/>.</summary>
internal sealed class CassandraSchemaChangedException : Exception
{
    public CassandraSchemaChangedException(CommitLogPosition at, string reason, Exception? inner = null)
        : base(reason, inner)
    {
        At = at;
    }

    /// <summary>The position of the entry that did not decode.</summary>
    public CommitLogPosition At { get; }
}
