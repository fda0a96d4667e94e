namespace DataMesh;

/// <summary>
/// Settings of DataMesh's HTTP face (<see cref="DataMeshServerServiceCollectionExtensions.AddDataMeshServer(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{DataMeshServerOptions}?)"/>),
/// bound from the <c>DataMesh:Server</c> configuration section or set in code, and checked when the host starts.
/// </summary>
public sealed class DataMeshServerOptions
{
    /// <summary>The configuration section the server binds by default.</summary>
    public const string SectionName = "DataMesh:Server";

    /// <summary>The Schema Registry REST API's settings.</summary>
    public SchemaRegistryApiOptions SchemaRegistry { get; set; } = new();

    /// <summary>The Prometheus scraping endpoint's settings.</summary>
    public PrometheusEndpointOptions Prometheus { get; set; } = new();

    /// <summary>The controller's API and web page.</summary>
    public ControllerApiOptions Controller { get; set; } = new();
}

/// <summary>
/// Settings of the controller's HTTP API (validate, plan, apply, pause, resume, snapshot, delete and status of the definition
/// applied on the host's cluster) and of the web page over it. Both are mapped when the host has a <see cref="Hosting.KafkaConnection"/>
/// (<c>AddDataMesh()</c>); see <c>docs/server.md</c>.
/// </summary>
public sealed class ControllerApiOptions
{
    /// <summary>Whether <c>MapDataMesh()</c> maps the controller's API and page. Default <see langword="true"/>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The path the API is mapped under. Default <c>/api</c>. Starts with <c>/</c> and does not end with one.</summary>
    public string PathPrefix { get; set; } = "/api";

    /// <summary>The web page's path. Default <c>/ui</c>; null or empty: no page. Starts with <c>/</c> and does not end with one.</summary>
    public string? PagePath { get; set; } = "/ui";

    /// <summary>
    /// The token every API request must present as <c>Authorization: Bearer TOKEN</c> (16 characters or more), or null.
    /// Without one, the API answers only requests that arrive over loopback (127.0.0.1, ::1), and says so at start.
    /// Set it from configuration (<c>DataMesh:Server:Controller:BearerToken</c>, e.g. the environment variable
    /// <c>DATAMESH__DataMesh__Server__Controller__BearerToken</c> for <c>datamesh run</c>), never in a definition file.
    /// </summary>
    public string? BearerToken { get; set; }

    /// <summary>The largest definition accepted, in bytes. Default 1 MiB.</summary>
    public int MaxRequestBytes { get; set; } = 1 << 20;

    /// <summary>
    /// The controller's settings: the state topic, and the source and table sink types definitions may use (the connectors'
    /// <c>ConnectorSourceTypes.All</c> and <c>ConnectorSinkTypes.All</c>; the server does not reference the connectors
    /// itself). Give the same settings as the host's <c>AddDefinitionRunner(...)</c>.
    /// </summary>
    public DataMeshControllerOptions Settings { get; set; } = new();
}

/// <summary>
/// Settings of the endpoint that serves DataMesh's metrics (every meter of
/// <see cref="DataMeshMeterProviderBuilderExtensions.AddDataMeshInstrumentation"/>) in Prometheus' text format.
/// </summary>
public sealed class PrometheusEndpointOptions
{
    /// <summary>Whether <c>MapDataMesh()</c> maps the endpoint. Default <see langword="true"/>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The endpoint's path. Default <c>/metrics</c>. Starts with <c>/</c> and does not end with one.</summary>
    public string Path { get; set; } = "/metrics";
}

/// <summary>Settings of the Confluent-compatible Schema Registry REST API.</summary>
public sealed class SchemaRegistryApiOptions
{
    /// <summary>Whether <c>MapDataMesh()</c> maps the Schema Registry API. Default <see langword="true"/>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The path the API is mapped under: empty (the default) maps <c>/subjects</c>, <c>/schemas/ids/{id}</c> ... at the
    /// root, as Schema Registry clients expect of a URL without a path; <c>/registry</c> maps <c>/registry/subjects</c> ...,
    /// for clients given <c>http://host/registry</c>. Starts with <c>/</c> and does not end with one.
    /// </summary>
    public string PathPrefix { get; set; } = string.Empty;

    /// <summary>
    /// Refuses every change (registering, deleting, setting compatibility) with Confluent's error 42205, "operation not
    /// permitted", so that clients can read and decode but only DataMesh itself registers schemas. Default
    /// <see langword="false"/>.
    /// </summary>
    public bool ReadOnly { get; set; }

    /// <summary>The largest request body accepted, in bytes (a schema with its JSON wrapping). Default 1 MiB.</summary>
    public int MaxRequestBytes { get; set; } = 1 << 20;
}
