using DataMesh.Connectors.Sinks;
using DataMesh.Pipelines.Sinks;

namespace DataMesh;

/// <summary>
/// The table sinks of this package for definition files (<c>docs/definitions.md</c>): <c>postgres_table</c> and
/// <c>mysql_table</c> (MySQL and MariaDB). Each binds a pipeline's <c>sink</c> settings to its options
/// (<see cref="PostgresTableSinkOptions"/>, <see cref="MySqlTableSinkOptions"/>), checks them by the same rules as a sink
/// built in code, and creates the sink for the definition runner.
/// </summary>
public static class ConnectorSinkTypes
{
    /// <summary>Every table sink type of the package.</summary>
    public static IReadOnlyList<ISinkType> All { get; } =
    [
        new SinkType<PostgresTableSinkOptions>("postgres_table", "a PostgreSQL table", o => new PostgresTableSink(o)),
        new SinkType<MySqlTableSinkOptions>("mysql_table", "a MySQL/MariaDB table", o => new MySqlTableSink(o)),
    ];

    private sealed class SinkType<TOptions>(string name, string description, Func<TOptions, PipelineSink> create) : ISinkType
        where TOptions : TableSinkOptions, new()
    {
        public string Name => name;

        public string Description => description;

        public object CreateOptions() => new TOptions();

        public IReadOnlyList<string> Validate(object options)
        {
            var typed = (TOptions)options;
            if (string.IsNullOrWhiteSpace(typed.ConnectionString))
            {
                return [$"{nameof(TableSinkOptions.ConnectionString)} is required: the database the table is in (write the password as ${{env:NAME}})"];
            }

            try
            {
                typed.Validate(typeof(TOptions).Name);
                return [];
            }
            catch (ArgumentException ex)
            {
                // "PostgresTableSinkOptions.Table: reason" -> "Table: reason", which the definition names table.
                var prefix = typeof(TOptions).Name + ".";
                return [ex.Message.StartsWith(prefix, StringComparison.Ordinal) ? ex.Message[prefix.Length..] : ex.Message];
            }
        }

        public PipelineSink Create(object options) => create((TOptions)options);
    }
}
