using System.Data.Common;
using System.Globalization;

namespace DataMesh.Connectors.Sinks;

/// <summary>Settings shared by the database table sinks (<see cref="PostgresTableSink"/>, <see cref="MySqlTableSink"/>).</summary>
public abstract class TableSinkOptions
{
    /// <summary>The sink's name in logs, metrics and dead-letter headers. Default: <c>postgres-table</c> or <c>mysql-table</c>.</summary>
    public string? Name { get; set; }

    /// <summary>The connection string of the target database. Either this or <see cref="DataSource"/> is required.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>A data source of the target database (an <c>NpgsqlDataSource</c> or a <c>MySqlDataSource</c>), used instead of <see cref="ConnectionString"/>. The sink does not dispose it.</summary>
    public DbDataSource? DataSource { get; set; }

    /// <summary>
    /// The target table of each record. <see langword="null"/> (the default): the last dot-separated segment of the record's
    /// topic (<c>dm.shop.public.orders</c> → <c>orders</c>). Otherwise a fixed name, or a template with <c>{table}</c> (that
    /// last segment) and <c>{topic}</c> (the whole topic with dots replaced by <c>_</c>), e.g. <c>copy_{table}</c>.
    /// The name is used as it is (quoted), never folded to lower case.
    /// </summary>
    public string? Table { get; set; }

    /// <summary>The schema (PostgreSQL) or database (MySQL) of the target tables; default: the connection's (<c>public</c> by the search path, or the connection string's database).</summary>
    public string? Schema { get; set; }

    /// <summary>What the sink may create or change in the database. Default: <see cref="SchemaEvolution.None"/>.</summary>
    public SchemaEvolution SchemaEvolution { get; set; } = SchemaEvolution.None;

    /// <summary>The timeout of each statement (and of a COPY). Default 60 seconds; at least 1 second.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The most rows in one statement (multi-row insert or delete); larger batches take several statements in the same transaction. Default 1,000; 1 to 10,000.</summary>
    public int MaxRowsPerStatement { get; set; } = 1000;

    /// <summary>
    /// The text that stands for a value the source did not send: a PostgreSQL source puts it in place of an unchanged TOASTed
    /// value (<see cref="Events.ChangeEventOptions.UnavailableValuePlaceholder"/>; an UPDATE that did not touch a large value of a
    /// table without <c>REPLICA IDENTITY FULL</c>). A string or JSON column whose value is exactly this text, or a bytes column
    /// whose value is exactly its UTF-8 bytes, is left as it is in the target row; a row that is not in the target yet is
    /// refused (dead-lettered) rather than written with the placeholder or NULL. Set it to the source's placeholder if that
    /// was changed; <see langword="null"/> writes every value as it is. Default <c>__datamesh_unavailable_value</c>.
    /// </summary>
    public string? UnavailableValuePlaceholder { get; set; } = Events.ChangeEventOptions.DefaultUnavailableValuePlaceholder;

    /// <summary>Why <see cref="ConnectionString"/> is not a valid connection string of the sink's driver (the driver's error,
    /// redacted), or null; the reason starts with <paramref name="prefix"/>.</summary>
    private protected abstract string? ConnectionStringProblem(string prefix);

    /// <summary>Checks the settings.</summary>
    /// <param name="typeName">The options type, for messages.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    internal void Validate(string typeName)
    {
        if (string.IsNullOrWhiteSpace(ConnectionString) == (DataSource is null))
        {
            throw new ArgumentException($"{typeName}: set exactly one of ConnectionString and DataSource.");
        }

        if (!string.IsNullOrWhiteSpace(ConnectionString) && ConnectionStringProblem(typeName + ".") is { } connectionStringProblem)
        {
            throw new ArgumentException(connectionStringProblem);
        }

        if (Table is not null)
        {
            if (string.IsNullOrWhiteSpace(Table))
            {
                throw new ArgumentException($"{typeName}.Table: the table name or template is empty; leave it null to use the last segment of each record's topic.");
            }

            var rest = Table.Replace("{table}", string.Empty, StringComparison.Ordinal).Replace("{topic}", string.Empty, StringComparison.Ordinal);
            if (rest.Contains('{', StringComparison.Ordinal) || rest.Contains('}', StringComparison.Ordinal))
            {
                throw new ArgumentException($"{typeName}.Table: '{Table}' has a placeholder other than {{table}} and {{topic}}.");
            }
        }

        if (Schema is not null && string.IsNullOrWhiteSpace(Schema))
        {
            throw new ArgumentException($"{typeName}.Schema: the schema name is empty; leave it null for the connection's default.");
        }

        if (!Enum.IsDefined(SchemaEvolution))
        {
            throw new ArgumentException($"{typeName}.SchemaEvolution: {SchemaEvolution} is not one of None, CreateTable, CreateAndAddColumns.");
        }

        if (CommandTimeout < TimeSpan.FromSeconds(1) || CommandTimeout > TimeSpan.FromDays(1))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{typeName}.CommandTimeout: {CommandTimeout} is outside 1 second to 1 day."));
        }

        if (UnavailableValuePlaceholder is { Length: 0 })
        {
            throw new ArgumentException($"{typeName}.UnavailableValuePlaceholder: the placeholder is empty, which would match every empty string; set it to the source's placeholder, or null to write every value as it is.");
        }

        if (MaxRowsPerStatement is < 1 or > 10_000)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{typeName}.MaxRowsPerStatement: {MaxRowsPerStatement} is outside 1 to 10,000."));
        }
    }
}

/// <summary>Settings of a <see cref="PostgresTableSink"/>.</summary>
public sealed class PostgresTableSinkOptions : TableSinkOptions
{
    private protected override string? ConnectionStringProblem(string prefix) => ConnectionStringErrors.CheckNpgsql(prefix, ConnectionString);
}

/// <summary>Settings of a <see cref="MySqlTableSink"/> (MySQL 8, MariaDB 10.11).</summary>
public sealed class MySqlTableSinkOptions : TableSinkOptions
{
    private protected override string? ConnectionStringProblem(string prefix) => ConnectionStringErrors.CheckMySql(prefix, ConnectionString);
}
