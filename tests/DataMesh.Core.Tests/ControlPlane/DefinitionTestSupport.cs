using DataMesh.Events;
using DataMesh.Schemas;
using DataMesh.Tests.Pipelines;
using Microsoft.Extensions.Configuration;

namespace DataMesh.Tests.ControlPlane;

/// <summary>What the definition tests validate against: the connectors' source types, fixed environment variables and
/// configuration keys (the secrets of the samples and the corpus), and a schema store holding the orders table.</summary>
internal static class DefinitionTestSupport
{
    public const string ShopPassword = "pg-Pa55word-of-shop";
    public const string BillingPassword = "maria-Pa55word-of-billing";
    public const string MaskKey = "a-mask-key-of-32-bytes-for-hmac!";
    public const string ShortMaskKey = "short-key";
    public const string LedgerPassword = "crdb-Pa55word-of-ledger";

    public static readonly Dictionary<string, string> Environment = new(StringComparer.Ordinal)
    {
        ["SHOP_PG_PASSWORD"] = ShopPassword,
        ["BILLING_MARIADB_PASSWORD"] = BillingPassword,
        ["MASK_KEY"] = MaskKey,
        ["SHORT_MASK_KEY"] = ShortMaskKey,
    };

    public static DefinitionValidationOptions Options(ISchemaStore? store = null)
    {
        var options = new DefinitionValidationOptions
        {
            EnvironmentVariables = name => Environment.GetValueOrDefault(name),
            Configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Secrets:LedgerPassword"] = LedgerPassword }).Build(),
            SchemaStore = store,
        };
        options.AddConnectorTypes();

        return options;
    }

    /// <summary>The problems as the datamesh tool prints them: <c>FILE:line:column: path: reason</c>.</summary>
    public static async Task<string[]> LinesAsync(string file, string text, ISchemaStore? store = null)
    {
        var validation = await DefinitionFile.ValidateAsync(text, Options(store));
        return [.. validation.Problems.Select(p => $"{file}:{p}")];
    }

    /// <summary>The repository's root, found from the test assembly's folder.</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "DataMesh.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No DataMesh.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>A schema store holding the value schema of <c>dm.shop.public.orders</c> (the pipeline tests' orders table).</summary>
    public static ISchemaStore OrdersStore() =>
        new FixedSchemaStore(new Dictionary<string, global::Avro.Schema>(StringComparer.Ordinal)
        {
            [TopicNames.ValueSubject("dm.shop.public.orders")] = PipelineTestData.SchemasOf().EnvelopeSchema,
        });

    /// <summary>A read-only store of fixed schemas (version 1 of each subject, ids from 1 in subject order), standing for a
    /// registry whose subjects a source registered.</summary>
    private sealed class FixedSchemaStore(Dictionary<string, global::Avro.Schema> subjects) : ISchemaStore
    {
        private readonly RegisteredSchema[] _schemas =
            [.. subjects.OrderBy(s => s.Key, StringComparer.Ordinal).Select((s, i) => new RegisteredSchema(s.Key, 1, i + 1, s.Value))];

        public ValueTask<int> RegisterAsync(string subject, global::Avro.Schema schema, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<global::Avro.Schema> GetByIdAsync(int id, CancellationToken cancellationToken = default) =>
            _schemas.FirstOrDefault(s => s.Id == id) is { } found ? ValueTask.FromResult(found.Schema) : throw new KeyNotFoundException($"No schema has id {id}.");

        public ValueTask<RegisteredSchema?> GetLatestAsync(string subject, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(_schemas.FirstOrDefault(s => s.Subject == subject));

        public ValueTask<IReadOnlyList<RegisteredSchema>> GetVersionsAsync(string subject, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyList<RegisteredSchema>>([.. _schemas.Where(s => s.Subject == subject)]);

        public ValueTask<IReadOnlyList<string>> GetSubjectsAsync(CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyList<string>>([.. _schemas.Select(s => s.Subject)]);

        public ValueTask<RegisteredSchema?> FindAsync(string subject, global::Avro.Schema schema, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(_schemas.FirstOrDefault(s => s.Subject == subject && s.Schema.Equals(schema)));

        public ValueTask<bool> DeleteVersionAsync(string subject, int version, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<CompatibilityLevel> GetCompatibilityAsync(string? subject, CancellationToken cancellationToken = default) => ValueTask.FromResult(CompatibilityLevel.Backward);

        public ValueTask SetCompatibilityAsync(string? subject, CompatibilityLevel level, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
