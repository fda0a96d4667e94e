using DataMesh.Connectors.Cassandra.Schema;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// The rows of <c>system_schema.tables</c>, <c>columns</c>, <c>types</c> and <c>dropped_columns</c> as a Cassandra 4.0
/// node holds them (column names and CQL types of its <c>SchemaKeyspace</c>), for <see cref="FakeCassandraServer"/> to
/// answer <see cref="SystemSchemaReader"/>'s queries with.
/// </summary>
internal sealed class FakeSystemSchema
{
    private static readonly ushort[] Text = [0x000D];
    private static readonly ushort[] Int = [0x0009];

    private readonly List<object?[]> _tables = [];
    private readonly List<object?[]> _columns = [];
    private readonly List<object?[]> _types = [];
    private readonly List<object?[]> _dropped = [];

    /// <summary>A table; <paramref name="flags"/> is <c>compound</c> for an ordinary CQL table.</summary>
    public FakeSystemSchema Table(string keyspace, string name, Guid id, bool cdc, params string[] flags)
    {
        _tables.Add([keyspace, name, "", cdc, new Dictionary<string, byte[]>(), flags.Length == 0 ? new[] { "compound" } : flags, 864000, id]);
        return this;
    }

    /// <summary>A column; <paramref name="kind"/> is partition_key, clustering, static or regular.</summary>
    public FakeSystemSchema Column(string keyspace, string table, string name, string kind, int position, string type, string order = "none")
    {
        _columns.Add([keyspace, table, name, order, kind, position, type]);
        return this;
    }

    public FakeSystemSchema Type(string keyspace, string name, string[] fields, string[] types)
    {
        _types.Add([keyspace, name, fields, types]);
        return this;
    }

    public FakeSystemSchema Dropped(string keyspace, string table, string name, string type)
    {
        _dropped.Add([keyspace, table, name, type]);
        return this;
    }

    /// <summary>Makes <paramref name="server"/> answer the four queries with these rows.</summary>
    public void AnswerOn(FakeCassandraServer server)
    {
        server.Answer(new FakeResult(SystemSchemaReader.TablesQuery, "system_schema", "tables",
            [("keyspace_name", Text), ("table_name", Text), ("comment", Text), ("cdc", [0x0004]), ("extensions", [0x0021, 0x000D, 0x0003]),
                ("flags", [0x0022, 0x000D]), ("gc_grace_seconds", Int), ("id", [0x000C])], [.. _tables]));
        server.Answer(new FakeResult(SystemSchemaReader.ColumnsQuery, "system_schema", "columns",
            [("keyspace_name", Text), ("table_name", Text), ("column_name", Text), ("clustering_order", Text), ("kind", Text), ("position", Int), ("type", Text)],
            [.. _columns]));
        server.Answer(new FakeResult(SystemSchemaReader.TypesQuery, "system_schema", "types",
            [("keyspace_name", Text), ("type_name", Text), ("field_names", [0x0020, 0x000D]), ("field_types", [0x0020, 0x000D])], [.. _types]));
        server.Answer(new FakeResult(SystemSchemaReader.DroppedQuery, "system_schema", "dropped_columns",
            [("keyspace_name", Text), ("table_name", Text), ("column_name", Text), ("type", Text)], [.. _dropped]));
    }
}
