using System.Globalization;
using DataMesh.Connectors.Cassandra.Schema;

namespace DataMesh;

/// <summary>
/// Settings of one Cassandra source (<c>AddCassandraSource</c>): one node's <c>cdc_raw</c> directory, the CQL statements
/// that describe its tables, and the keys of encrypted segments. The settings every source has (tables as
/// <c>keyspace.table</c> patterns, partitions, intervals, retries, policies) are in <see cref="SourceOptions"/>. See
/// <c>docs/cassandra.md</c>.
/// </summary>
public sealed class CassandraSourceOptions : SourceOptions
{
    /// <summary>The node's <c>cdc_raw</c> directory (<c>cdc_raw_directory</c> in <c>cassandra.yaml</c>, by default
    /// <c>$CASSANDRA_HOME/data/cdc_raw</c>). Required; the source reads and (unless <see cref="KeepSegments"/>) deletes
    /// its segments, so it needs read, write and delete rights there.</summary>
    public string CdcRawDirectory { get; set; } = string.Empty;

    /// <summary>
    /// The <c>cdc_raw</c> of several nodes, by node name, for a source that reads the replicas of one cluster and publishes
    /// each write once (<see cref="Replicas"/>): each value is either the node's <c>cdc_raw</c> directory as this process
    /// sees it (a shared volume), or the <c>https://</c> address of the DataMesh agent that runs beside the node and serves
    /// its <c>cdc_raw</c> (<see cref="Agent"/>). Instead of <see cref="CdcRawDirectory"/> and <see cref="Node"/>. The
    /// position holds each node's segment and offset. See docs/cassandra.md, "Replica de-duplication" and "Agents".
    /// </summary>
    public IDictionary<string, string> Nodes { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>How the agents of the nodes given as <c>https://</c> addresses in <see cref="Nodes"/> are reached: their
    /// token, the CA of their certificates, the request timeout.</summary>
    public CassandraAgentConnection Agent { get; } = new();

    /// <summary>How the copies of a write read from <see cref="Nodes"/> are de-duplicated.</summary>
    public CassandraReplicaOptions Replicas { get; } = new();

    /// <summary>The node's name, stored with the position (positions are per node: segment ids and offsets mean nothing
    /// on another node). Default: this machine's name. A stored position of another node stops the source.</summary>
    public string? Node { get; set; }

    /// <summary>
    /// The CQL statements that describe the captured tables, as <c>DESCRIBE TABLE keyspace.table WITH INTERNALS</c> prints
    /// them: <c>CREATE TYPE</c> for the user-defined types they use, <c>CREATE TABLE keyspace.table (…) WITH id = … AND cdc =
    /// true</c> (the id is required: a commit log names tables by id), and for each dropped column
    /// <c>ALTER TABLE keyspace.table ADD column type</c> (unless <c>CREATE TABLE</c> declares it) followed by
    /// <c>ALTER TABLE keyspace.table DROP column</c>, so that older mutations that still carry its cells can be read.
    /// Each entry may hold several statements separated by <c>;</c>. Required, unless <see cref="SchemaConnection"/> is set.
    /// </summary>
    public IList<string> Tables { get; } = [];

    /// <summary>Read the tables from <c>system_schema</c> instead of <see cref="Tables"/>: the node to ask and how (set
    /// its <see cref="CassandraSchemaConnection.ContactPoint"/> to use it). Read at start and again when a mutation names
    /// a table or column the schema read did not know.</summary>
    public CassandraSchemaConnection SchemaConnection { get; } = new();

    /// <summary>The raw AES keys of encrypted segments (<c>transparent_data_encryption_options</c>), as hex, by key alias
    /// (e.g. <c>testing:1</c>; case-insensitive). .NET cannot open the node's JCEKS keystore: export each key's bytes with
    /// the JDK (see docs/cassandra.md). Plain and compressed segments need none.</summary>
    public IDictionary<string, string> EncryptionKeys { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Keep segments in <c>cdc_raw</c> after their events were acknowledged (another consumer or an operator
    /// deletes them). Default false: a segment and its <c>_cdc.idx</c> are deleted once Kafka acknowledged every event of
    /// it and its position is stored, so the node's <c>cdc_total_space</c> does not fill (when it does, writes to CDC
    /// tables fail).</summary>
    public bool KeepSegments { get; set; }

    /// <summary>How often <c>cdc_raw</c> is looked at for new segments and grown <c>_cdc.idx</c> offsets while nothing new
    /// was found. Default 250 ms. A change the file system reports (inotify on Linux: a segment linked or moved in, an index
    /// written after the node synced its commit log) wakes the source at once; the interval is the fallback, for changes
    /// not reported (a network file system, the watch limit reached: logged at start).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The node's name: <see cref="Node"/> or this machine's.</summary>
    internal string EffectiveNode => string.IsNullOrWhiteSpace(Node) ? Environment.MachineName : Node;

    /// <summary>The nodes read, by name: <see cref="Nodes"/> in name order, or the one node.</summary>
    internal IReadOnlyList<(string Name, string Directory)> NodeDirectories => Nodes.Count > 0
        ? [.. Nodes.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => (n.Key, n.Value))]
        : [(EffectiveNode, CdcRawDirectory)];

    /// <summary>The tables the statements declare.</summary>
    /// <exception cref="FormatException">A statement that is not valid.</exception>
    internal IReadOnlyList<CqlTableDefinition> ParseTables() => CqlSchemaParser.Parse(Tables);

    /// <summary>The encryption keys as bytes.</summary>
    internal Dictionary<string, byte[]> Keys() =>
        EncryptionKeys.ToDictionary(k => k.Key, k => Convert.FromHexString(k.Value.Replace(" ", string.Empty, StringComparison.Ordinal)), StringComparer.OrdinalIgnoreCase);

    private IEnumerable<string> ValidateNodes(string prefix)
    {
        if (!string.IsNullOrWhiteSpace(CdcRawDirectory) || !string.IsNullOrWhiteSpace(Node))
        {
            yield return prefix + $"{nameof(Nodes)} is set, and so is {nameof(CdcRawDirectory)} or {nameof(Node)}: give each node's cdc_raw directory in {nameof(Nodes)} (node name → directory) and leave the other two unset.";
        }

        if (Nodes.Count > 64)
        {
            yield return prefix + $"{nameof(Nodes)} names {Nodes.Count} nodes; one source reads at most 64.";
        }

        foreach (var (node, directory) in Nodes)
        {
            if (string.IsNullOrWhiteSpace(node))
            {
                yield return prefix + $"{nameof(Nodes)} has an entry without a node name.";
            }
            else if (directory is not null && CassandraAgentConnection.IsAgent(directory))
            {
                if (!Uri.TryCreate(directory, UriKind.Absolute, out var agent) || agent.Query.Length > 0 || agent.Fragment.Length > 0 || agent.UserInfo.Length > 0)
                {
                    yield return prefix + $"{nameof(Nodes)}:{node} '{directory}' is not an agent address: give https://host:port/ (and a path, if the agent is served under one), without a query, fragment or user.";
                }
            }
            else if (directory is not null && directory.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            {
                yield return prefix + $"{nameof(Nodes)}:{node} '{directory}' is plain HTTP: an agent serves commit-log data and takes a token, so it is reached over HTTPS only (https://…).";
            }
            else if (string.IsNullOrWhiteSpace(directory) || !Directory.Exists(directory))
            {
                yield return prefix + $"{nameof(Nodes)}:{node} '{directory}' does not exist: give node {node}'s cdc_raw directory as this process sees it (a mounted volume), with cdc_enabled: true on the node.";
            }
        }

        var duplicates = Nodes.GroupBy(n => CassandraAgentConnection.IsAgent(n.Value ?? string.Empty) ? n.Value!.TrimEnd('/').ToUpperInvariant() : Path.GetFullPath(string.IsNullOrWhiteSpace(n.Value) ? "." : n.Value))
            .Where(g => g.Count() > 1).Select(g => string.Join(", ", g.Select(n => n.Key)));
        foreach (var same in duplicates)
        {
            yield return prefix + $"{nameof(Nodes)}: nodes {same} have the same directory or agent; each node has its own cdc_raw.";
        }

        if (Nodes.Values.Any(v => v is not null && CassandraAgentConnection.IsAgent(v)))
        {
            foreach (var problem in Agent.Validate(prefix))
            {
                yield return problem;
            }
        }

        var factor = Replicas.ReplicationFactor ?? Nodes.Count;
        if (factor < 1)
        {
            yield return prefix + $"{nameof(Replicas)}:{nameof(CassandraReplicaOptions.ReplicationFactor)} must be at least 1; it is {factor}.";
        }
        else if (Replicas.ReplicationFactor is null && Nodes.Count > 3 && Replicas.ConsistencyLevel is CassandraConsistencyLevel.Quorum or CassandraConsistencyLevel.All)
        {
            // The default (the number of nodes) is right only when every node has every write: with more nodes than the
            // keyspaces' replication factor, Quorum/All would wait for copies no node writes and drop every write.
            yield return prefix + $"{nameof(Replicas)}:{nameof(CassandraReplicaOptions.ReplicationFactor)} is required with {nameof(Replicas)}:{nameof(CassandraReplicaOptions.ConsistencyLevel)} {Replicas.ConsistencyLevel} and {Nodes.Count} nodes: give the keyspaces' replication factor (the default, the number of nodes, would make every write wait for copies that fewer replicas write, and drop it).";
        }
        else
        {
            var required = Replicas.RequiredCopies(Nodes.Count);
            if (required > factor || required > Nodes.Count)
            {
                yield return prefix + string.Create(CultureInfo.InvariantCulture,
                    $"{nameof(Replicas)}:{nameof(CassandraReplicaOptions.ConsistencyLevel)} {Replicas.ConsistencyLevel} needs {required} copies of each write, but the replication factor is {factor} and {Nodes.Count} node(s) are read: nothing could be published.");
            }
        }

        if (Replicas.Window < TimeSpan.FromSeconds(1) || Replicas.Window > TimeSpan.FromHours(24))
        {
            yield return prefix + $"{nameof(Replicas)}:{nameof(CassandraReplicaOptions.Window)} must be between 1 second and 24 hours; it is {Replicas.Window}.";
        }

        if (Replicas.MaxEntries is < 1_000 or > 100_000_000)
        {
            yield return prefix + string.Create(CultureInfo.InvariantCulture, $"{nameof(Replicas)}:{nameof(CassandraReplicaOptions.MaxEntries)} must be between 1000 and 100000000; it is {Replicas.MaxEntries}.");
        }
    }

    /// <inheritdoc />
    public override IEnumerable<string> Validate(string sourceName)
    {
        foreach (var problem in base.Validate(sourceName))
        {
            yield return problem;
        }

        var prefix = $"Cassandra source '{sourceName}': ";
        if (Nodes.Count > 0)
        {
            foreach (var problem in ValidateNodes(prefix))
            {
                yield return problem;
            }
        }
        else if (Replicas.ConsistencyLevel != CassandraConsistencyLevel.One || Replicas.ReplicationFactor is not null)
        {
            yield return prefix + $"{nameof(Replicas)} is set but {nameof(Nodes)} is not: replica de-duplication needs one source reading every node's cdc_raw (give them in {nameof(Nodes)}); a source of one node publishes every copy it reads.";
        }

        if (Nodes.Count == 0 && string.IsNullOrWhiteSpace(CdcRawDirectory))
        {
            yield return prefix + $"{nameof(CdcRawDirectory)} is required: the node's cdc_raw directory (cdc_raw_directory in cassandra.yaml).";
        }
        else if (Nodes.Count == 0 && !Directory.Exists(CdcRawDirectory))
        {
            yield return prefix + $"{nameof(CdcRawDirectory)} '{CdcRawDirectory}' does not exist: give the node's cdc_raw directory (cdc_raw_directory in cassandra.yaml), and set cdc_enabled: true there.";
        }

        if (PollInterval < TimeSpan.FromMilliseconds(1) || PollInterval > TimeSpan.FromMinutes(10))
        {
            yield return prefix + $"{nameof(PollInterval)} must be between 1 ms and 10 minutes; it is {PollInterval}.";
        }

        foreach (var (alias, hex) in EncryptionKeys)
        {
            byte[]? key = null;
            try
            {
                key = Convert.FromHexString((hex ?? string.Empty).Replace(" ", string.Empty, StringComparison.Ordinal));
            }
            catch (FormatException)
            {
            }

            if (key is null || key.Length is not (16 or 24 or 32))
            {
                yield return prefix + $"{nameof(EncryptionKeys)} entry '{alias}' must be an AES key of 16, 24 or 32 bytes written as hex (its text is not shown here).";
            }
        }

        if (!SchemaConnection.IsSet && (!string.IsNullOrEmpty(SchemaConnection.User) || !string.IsNullOrEmpty(SchemaConnection.Password) || SchemaConnection.Tls))
        {
            yield return prefix + $"{nameof(SchemaConnection)} has a user, password or TLS but no {nameof(CassandraSchemaConnection.ContactPoint)}: set the node to read system_schema from, or remove the {nameof(SchemaConnection)} settings.";
        }

        string? tablesProblem = null;
        IReadOnlyList<CqlTableDefinition> tables = [];
        if (SchemaConnection.IsSet)
        {
            if (Tables.Count > 0)
            {
                yield return prefix + $"{nameof(Tables)} and {nameof(SchemaConnection)}.{nameof(CassandraSchemaConnection.ContactPoint)} are both set: describe the tables one way, by CQL statements or from system_schema.";
            }

            foreach (var problem in SchemaConnection.Validate(prefix))
            {
                yield return problem;
            }
        }
        else if (Tables.Count == 0)
        {
            tablesProblem = prefix + $"{nameof(Tables)} is empty: give the CREATE TABLE statement of each captured table (DESCRIBE TABLE keyspace.table WITH INTERNALS prints it, with its id), or set {nameof(SchemaConnection)}.{nameof(CassandraSchemaConnection.ContactPoint)} to read them from system_schema.";
        }
        else
        {
            try
            {
                tables = ParseTables();
            }
            catch (FormatException ex)
            {
                tablesProblem = prefix + $"{nameof(Tables)}: {ex.Message}";
            }
        }

        if (tablesProblem is not null)
        {
            yield return tablesProblem;
        }

        foreach (var table in tables.Where(t => !t.Cdc))
        {
            yield return prefix + $"{nameof(Tables)}: table {table.Table.QualifiedName} does not say WITH cdc = true: its mutations do not reach cdc_raw. Run ALTER TABLE {table.Table.QualifiedName} WITH cdc = true; and give the statement with it.";
        }

        foreach (var table in tables.Where(t => t.Table.Clustering.Count > 0))
        {
            foreach (var column in table.Table.Columns.Where(c => c.Name is Connectors.Cassandra.CassandraConnector.RangeStartColumn or Connectors.Cassandra.CassandraConnector.RangeEndColumn))
            {
                yield return prefix + $"{nameof(Tables)}: table {table.Table.QualifiedName} has a column named '{column.Name}', the name of the column that carries a range deletion's bounds in its events; this source cannot capture it.";
            }
        }

        foreach (var table in tables.Where(t => t.CompactStorage))
        {
            yield return prefix + string.Create(CultureInfo.InvariantCulture, $"{nameof(Tables)}: table {table.Table.QualifiedName} uses COMPACT STORAGE, which this source does not capture (run ALTER TABLE … DROP COMPACT STORAGE on Cassandra 3.0.16+/3.11.2+).");
        }
    }
}
