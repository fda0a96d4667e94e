using System.Text;
using DataMesh.Events;

namespace DataMesh.Sources;

/// <summary>What the runtime does with a column that a row image lacks (<see cref="ColumnValueState.Missing"/>) and that
/// the change's other image does not hold either.</summary>
public enum MissingValuePolicy
{
    /// <summary>Stop the source with an error naming the table, the column and <see cref="SourceTableInfo.MissingValueHint"/>.</summary>
    Fail,

    /// <summary>Text and bytes columns carry <see cref="ChangeEventOptions.UnavailableValuePlaceholder"/> (table sinks keep
    /// the column's stored value when they meet it); other columns stop the source as <see cref="Fail"/> does.</summary>
    Placeholder,
}

/// <summary>How a connector describes one of its tables to the runtime: the table, where it lives for the envelope's
/// <c>source</c> block, and what to do with values the log does not carry.</summary>
/// <param name="Table">Columns, types and key.</param>
/// <param name="Database">The <c>source.db</c> value (PostgreSQL: the database; MySQL: the table's database).</param>
/// <param name="Schema">The <c>source.schema</c> value (PostgreSQL: the table's schema; null where the database has none).</param>
public sealed record SourceTableInfo(TableDescription Table, string Database, string? Schema)
{
    /// <summary>What to do with a value the log did not carry. Default <see cref="MissingValuePolicy.Fail"/>.</summary>
    public MissingValuePolicy MissingValues { get; init; } = MissingValuePolicy.Fail;

    /// <summary>What the user can do so that the log carries every value (e.g. <c>ALTER TABLE t REPLICA IDENTITY FULL</c>),
    /// appended to the error a missing value raises.</summary>
    public string? MissingValueHint { get; init; }
}

/// <summary>
/// A table as the source runtime writes it: its schemas, registered schema ids and the constant parts of its envelopes.
/// Obtained from <see cref="SourceContext{TPosition}.Table"/>; one instance per table version (a schema change gives a new
/// one). Registration with the schema store and the topic's creation happen on first use.
/// </summary>
public sealed class SourceTable
{
    private Confluent.Kafka.TopicPartition?[]? _targets;

    internal SourceTable(SourceTableInfo info, ChangeEventSchemas schemas)
    {
        Info = info;
        Schemas = schemas;
        var table = schemas.Table;
        Nullable = table.Columns.Select(c => c.IsNullable).ToArray();
        KeyIndexes = [.. schemas.KeyColumnIndexes];
        KeyPositions = new int[table.Columns.Count];
        Array.Fill(KeyPositions, -1);
        for (var i = 0; i < KeyIndexes.Length; i++)
        {
            KeyPositions[KeyIndexes[i]] = i;
        }

        PlaceholderAllowed = table.Columns.Select(c => info.MissingValues == MissingValuePolicy.Placeholder && c.Type.Kind is
            DataTypeKind.String or DataTypeKind.Json or DataTypeKind.Text or DataTypeKind.Interval or DataTypeKind.Bits or
            DataTypeKind.TimeWithOffset or DataTypeKind.Bytes ||
            (info.MissingValues == MissingValuePolicy.Placeholder && c.Type.Kind is DataTypeKind.Decimal or DataTypeKind.VariableDecimal &&
             schemas.Options.DecimalHandling == DecimalHandling.String)).ToArray();
        PlaceholderUtf8 = Encoding.UTF8.GetBytes(schemas.Options.UnavailableValuePlaceholder);
        NameUtf8 = Encoding.UTF8.GetBytes(schemas.Source.Name);
        ConnectorUtf8 = Encoding.UTF8.GetBytes(schemas.Source.Connector);
        DatabaseUtf8 = Encoding.UTF8.GetBytes(info.Database);
        SchemaUtf8 = info.Schema is null ? null : Encoding.UTF8.GetBytes(info.Schema);
        TableUtf8 = Encoding.UTF8.GetBytes(table.Name);
        QualifiedName = $"{table.Schema}.{table.Name}";
    }

    /// <summary>The connector's description.</summary>
    public SourceTableInfo Info { get; }

    /// <summary>Whether a value of column <paramref name="index"/> that neither row image holds is written as
    /// <see cref="ChangeEventOptions.UnavailableValuePlaceholder"/> (<see cref="MissingValuePolicy.Placeholder"/>, and a
    /// text, bytes or text-carried type); when not, such a value stops the source.</summary>
    /// <param name="index">The column's index in the table's description.</param>
    public bool CarriesPlaceholder(int index) => PlaceholderAllowed[index];

    /// <summary>The table's schemas and topic.</summary>
    public ChangeEventSchemas Schemas { get; }

    /// <summary>The table's topic.</summary>
    public string Topic => Schemas.Topic;

    /// <summary><c>schema.table</c> (MySQL: <c>database.table</c>), for messages.</summary>
    public string QualifiedName { get; }

    /// <summary>Whether the table has a key (events of a keyless table have a null Kafka key and go to partition 0).</summary>
    public bool HasKey => KeyIndexes.Length > 0;

    /// <summary>Partitions of the table's topic (0 until registered).</summary>
    public int Partitions { get; internal set; }

    /// <summary>The topic and partition a record goes to, one instance per partition for the table's life (the producer
    /// reads it during Produce only): no allocation per record. Called by the source loop only.</summary>
    /// <param name="partition">The partition.</param>
    internal Confluent.Kafka.TopicPartition Target(int partition)
    {
        var targets = _targets;
        if (targets is null || partition >= targets.Length)
        {
            var larger = new Confluent.Kafka.TopicPartition?[Math.Max(partition + 1, Partitions)];
            targets?.CopyTo(larger, 0);
            _targets = targets = larger;
        }

        return targets[partition] ??= new Confluent.Kafka.TopicPartition(Topic, partition);
    }

    /// <summary>The partition of a keyed event: a hash (XxHash3) of the key's Avro body without its schema id, modulo
    /// <see cref="Partitions"/>. So a key keeps its partition, and its events their order, across key schema versions
    /// (a key column widened from int to bigint gets a new schema id, and the same body).</summary>
    /// <param name="framedKey">The key as produced (Confluent framing, then the Avro body).</param>
    internal int PartitionOf(ReadOnlySpan<byte> framedKey) =>
        Partitions <= 1 ? 0 : (int)(System.IO.Hashing.XxHash3.HashToUInt64(framedKey[Avro.ConfluentWireFormat.HeaderLength..]) % (ulong)Partitions);

    /// <summary>The key schema's id (0 until registered, and for keyless tables).</summary>
    public int KeySchemaId { get; internal set; }

    /// <summary>The envelope schema's id (0 until registered).</summary>
    public int ValueSchemaId { get; internal set; }

    /// <summary>Whether the schemas are registered and the topic exists.</summary>
    public bool IsRegistered { get; internal set; }

    /// <summary>A table of the source's own (snapshot watermarks, signals): read from the log, never produced.</summary>
    internal TableRole Role { get; set; }

    internal bool[] Nullable { get; }

    internal int[] KeyIndexes { get; }

    /// <summary>For each column its position in the key, or -1.</summary>
    internal int[] KeyPositions { get; }

    internal bool[] PlaceholderAllowed { get; }

    internal byte[] PlaceholderUtf8 { get; }

    internal byte[] NameUtf8 { get; }

    internal byte[] ConnectorUtf8 { get; }

    internal byte[] DatabaseUtf8 { get; }

    internal byte[]? SchemaUtf8 { get; }

    internal byte[] TableUtf8 { get; }

    /// <summary>Whether two descriptions give records of the same shape (names, types, nullability, key, and source block;
    /// column defaults aside).</summary>
    internal static bool SameShape(SourceTableInfo a, SourceTableInfo b)
    {
        if (a.Database != b.Database || a.Schema != b.Schema || a.MissingValues != b.MissingValues || a.MissingValueHint != b.MissingValueHint)
        {
            return false;
        }

        var x = a.Table;
        var y = b.Table;
        // Column defaults are not compared: they change no record's bytes, only its schema's text. A snapshot describes a
        // table from the catalog as it is now; the log may know a default the catalog no longer shows (MySQL: a column
        // added while the source ran), and the first of the two to reach the runtime stands for both.
        return x.Schema == y.Schema && x.Name == y.Name && x.KeyColumns.SequenceEqual(y.KeyColumns)
            && x.Columns.Count == y.Columns.Count
            && x.Columns.Zip(y.Columns).All(c => c.First.Name == c.Second.Name && c.First.Type == c.Second.Type && c.First.IsNullable == c.Second.IsNullable);
    }
}

/// <summary>What the runtime does with a table's changes.</summary>
internal enum TableRole
{
    /// <summary>Produced to its topic.</summary>
    Data,

    /// <summary>The snapshot watermark table: its rows open and close chunk windows.</summary>
    Watermark,

    /// <summary>The signal table: its inserted rows control snapshots.</summary>
    Signal,
}
