using System.Security.Cryptography.X509Certificates;

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
    /// Without one and without <see cref="ClientCertificates"/>, the API answers only requests that arrive over loopback
    /// (127.0.0.1, ::1), and says so at start; with both, a request needs both.
    /// Set it from configuration (<c>DataMesh:Server:Controller:BearerToken</c>, e.g. the environment variable
    /// <c>DATAMESH__DataMesh__Server__Controller__BearerToken</c> for <c>datamesh run</c>), never in a definition file.
    /// </summary>
    public string? BearerToken { get; set; }

    /// <summary>
    /// Client certificates (mutual TLS) for the API: when <see cref="ClientCertificateOptions.CaPaths"/> is set, every API
    /// request must come over a TLS connection whose client certificate chains to one of those CAs. With
    /// <see cref="BearerToken"/> set as well, a request needs both. Without either, the API answers loopback only.
    /// </summary>
    public ClientCertificateOptions ClientCertificates { get; set; } = new();

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
/// Which client certificates the controller's API accepts (<c>DataMesh:Server:Controller:ClientCertificates</c>), checked
/// with <see cref="X509Chain"/> against the CAs given here only (not the
/// machine's trust store). A certificate is accepted when it is valid now, chains to a root read from <see cref="CaPaths"/>,
/// passes the <see cref="RevocationMode"/> check, has the client-authentication extended key usage (1.3.6.1.5.5.7.3.2) if
/// it lists extended key usages at all, and, when <see cref="AllowedSubjects"/> or <see cref="AllowedThumbprints"/> is set,
/// matches one of their entries. The server must ask for the certificate during the TLS handshake: Kestrel's
/// <c>ClientCertificateMode.AllowCertificate</c> (see <c>docs/server.md</c>; <c>datamesh run --http https://...</c> sets it).
/// </summary>
public sealed class ClientCertificateOptions
{
    /// <summary>
    /// PEM files (one or more <c>-----BEGIN CERTIFICATE-----</c> blocks each; relative paths from the current directory)
    /// holding the CAs client certificates must chain to. Self-signed certificates in them are the trusted roots; the others
    /// are intermediates used to build the chain. Empty (the default): no client certificate is asked for. The files are read
    /// at start; a change needs a restart.
    /// </summary>
    public IList<string> CaPaths { get; } = [];

    /// <summary>
    /// When set (with or without <see cref="AllowedThumbprints"/>), only these certificates are accepted among those that
    /// chain to <see cref="CaPaths"/>: an entry with <c>=</c> is a distinguished name compared with the certificate's subject
    /// (<c>CN=deployer, O=Example</c>; spaces after commas do not matter, case does not), one without is compared with its
    /// common name (<c>deployer</c>). An entry of either list accepts the certificate.
    /// </summary>
    public IList<string> AllowedSubjects { get; } = [];

    /// <summary>
    /// When set, certificates whose SHA-256 fingerprint is listed here are accepted among those that chain to
    /// <see cref="CaPaths"/>: 64 hexadecimal digits, colons allowed (<c>openssl x509 -noout -fingerprint -sha256 -in client.pem</c>).
    /// </summary>
    public IList<string> AllowedThumbprints { get; } = [];

    /// <summary>
    /// How the revocation of the client certificate and its intermediates is checked. Default
    /// <see cref="X509RevocationMode.Online"/> (as ASP.NET Core's certificate
    /// authentication): each certificate's CRL distribution point is read, and a certificate whose revocation cannot be
    /// checked (its CA publishes no CRL, or the CRL cannot be fetched) is refused. A private CA without CRLs needs
    /// <see cref="X509RevocationMode.NoCheck"/>; <c>Offline</c> uses cached CRLs only.
    /// </summary>
    public X509RevocationMode RevocationMode { get; set; } = X509RevocationMode.Online;

    /// <summary>Whether client certificates are required: <see cref="CaPaths"/> has a file.</summary>
    internal bool IsConfigured => CaPaths.Count > 0;
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
