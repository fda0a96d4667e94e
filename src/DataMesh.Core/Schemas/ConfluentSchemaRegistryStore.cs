using System.Globalization;
using System.Net;
using Avro;
using Confluent.SchemaRegistry;
using AvroSchema = Avro.Schema;
using RegistrySchema = Confluent.SchemaRegistry.Schema;

namespace DataMesh.Schemas;

/// <summary>
/// An <see cref="ISchemaStore"/> over a Confluent Schema Registry (or a registry with the same REST API), through
/// Confluent.SchemaRegistry's client.
/// </summary>
/// <remarks>
/// <para>
/// Registration first looks the schema up under the subject (an existing version returns its id), then checks it
/// against the subject's versions at the subject's compatibility level with <see cref="SchemaCompatibility"/>, so
/// that a refusal names the field and the rule, and only then registers it. The registry still checks on its own;
/// a 409 from it becomes a <see cref="SchemaIncompatibleException"/> too.
/// </para>
/// <para>Avro schemas without references only; ids and versions are the registry's.</para>
/// </remarks>
public sealed class ConfluentSchemaRegistryStore : ISchemaStore, IDisposable
{
    // Schema Registry error codes (Confluent's documented REST API).
    private const int SubjectNotFound = 40401;
    private const int VersionNotFound = 40402;
    private const int SchemaNotFound = 40403;
    private const int SubjectCompatibilityNotConfigured = 40408;

    private readonly ISchemaRegistryClient _client;
    private readonly bool _ownsClient;

    /// <summary>Creates a store over <paramref name="client"/>, which the caller keeps owning.</summary>
    /// <param name="client">The registry client, e.g. a <see cref="CachedSchemaRegistryClient"/>.</param>
    public ConfluentSchemaRegistryStore(ISchemaRegistryClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
    }

    /// <summary>Creates a store with its own <see cref="CachedSchemaRegistryClient"/>, disposed with the store.</summary>
    /// <param name="config">The registry client settings (<see cref="SchemaRegistryConfig.Url"/> at least).</param>
    public ConfluentSchemaRegistryStore(SchemaRegistryConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        _client = new CachedSchemaRegistryClient(WithUrlCredentials(config));
        _ownsClient = true;
    }

    /// <summary>
    /// The settings with a URL's user information (<c>https://user:password@host</c>) moved to Basic credentials
    /// (<see cref="SchemaRegistryConfig.BasicAuthUserInfo"/>, unless set already): Confluent's client neither sends it
    /// nor keeps it out of its error messages, which name the URL.
    /// </summary>
    internal static SchemaRegistryConfig WithUrlCredentials(SchemaRegistryConfig config)
    {
        if (config.Url is not { } urls || !urls.Contains('@', StringComparison.Ordinal))
        {
            return config;
        }

        string? userInfo = null;
        var stripped = urls.Split(',').Select(url =>
        {
            var trimmed = url.Trim();
            if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var uri) || uri.UserInfo.Length == 0)
            {
                return trimmed;
            }

            // user:password; a user alone (a token) has an empty password.
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            userInfo ??= colon < 0
                ? Uri.UnescapeDataString(uri.UserInfo) + ":"
                : Uri.UnescapeDataString(uri.UserInfo[..colon]) + ":" + Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            return new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty }.Uri.ToString();
        }).ToList();

        var copy = new SchemaRegistryConfig();
        foreach (var (key, value) in config)
        {
            copy.Set(key, value);
        }

        copy.Url = string.Join(",", stripped);
        if (userInfo is not null && string.IsNullOrEmpty(config.BasicAuthUserInfo))
        {
            copy.BasicAuthCredentialsSource = AuthCredentialsSource.UserInfo;
            copy.BasicAuthUserInfo = userInfo;
        }

        return copy;
    }

    /// <inheritdoc />
    public async ValueTask<int> RegisterAsync(string subject, AvroSchema schema, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ArgumentNullException.ThrowIfNull(schema);
        var text = schema.ToString();
        var candidate = new RegistrySchema(text, SchemaType.Avro);

        try
        {
            var existing = await _client.LookupSchemaAsync(subject, candidate, ignoreDeletedSchemas: true, normalize: false)
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            return existing.Id;
        }
        catch (SchemaRegistryException e) when (e.ErrorCode is SubjectNotFound or SchemaNotFound)
        {
            // Not registered under the subject yet.
        }

        var level = await GetCompatibilityAsync(subject, cancellationToken).ConfigureAwait(false);
        if (level != CompatibilityLevel.None)
        {
            var versions = await GetVersionsCoreAsync(subject, latestOnly: level is CompatibilityLevel.Backward or CompatibilityLevel.Forward or CompatibilityLevel.Full, cancellationToken)
                .ConfigureAwait(false);
            SchemaCompatibility.EnsureCompatible(subject, level, schema, versions);
        }

        try
        {
            return await _client.RegisterSchemaAsync(subject, candidate, normalize: false).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SchemaRegistryException e) when (e.Status == HttpStatusCode.Conflict)
        {
            var latest = await GetLatestAsync(subject, cancellationToken).ConfigureAwait(false);
            throw new SchemaIncompatibleException(
                subject,
                level,
                [new SchemaCompatibilityProblem(latest?.Version ?? 0, CompatibilityLevel.Backward, string.Empty, "the registry refused it: " + e.Message)]);
        }
    }

    /// <inheritdoc />
    public async ValueTask<AvroSchema> GetByIdAsync(int id, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(id, 1);
        try
        {
            var schema = await _client.GetSchemaAsync(id).WaitAsync(cancellationToken).ConfigureAwait(false);
            return ParseAvro(schema, $"id {id.ToString(CultureInfo.InvariantCulture)}");
        }
        catch (SchemaRegistryException e) when (e.ErrorCode == SchemaNotFound || e.Status == HttpStatusCode.NotFound)
        {
            throw new KeyNotFoundException($"The schema registry has no schema with id {id.ToString(CultureInfo.InvariantCulture)}.", e);
        }
    }

    /// <inheritdoc />
    public async ValueTask<RegisteredSchema?> GetLatestAsync(string subject, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);

        // Not GetLatestSchemaAsync: CachedSchemaRegistryClient may serve "latest" from a cache that a registration
        // does not refresh. The version list is read fresh, and a (subject, version) pair never changes.
        var numbers = await GetVersionNumbersAsync(subject, cancellationToken).ConfigureAwait(false);
        if (numbers.Count == 0)
        {
            return null;
        }

        try
        {
            var latest = await _client.GetRegisteredSchemaAsync(subject, numbers.Max(), ignoreDeletedSchemas: true)
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            return ToRegistered(latest);
        }
        catch (SchemaRegistryException e) when (e.ErrorCode is SubjectNotFound or VersionNotFound)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<RegisteredSchema>> GetVersionsAsync(string subject, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        return await GetVersionsCoreAsync(subject, latestOnly: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> GetSubjectsAsync(CancellationToken cancellationToken = default)
    {
        var subjects = await _client.GetAllSubjectsAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        return [.. subjects.Order(StringComparer.Ordinal)];
    }

    /// <inheritdoc />
    public async ValueTask<RegisteredSchema?> FindAsync(string subject, AvroSchema schema, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ArgumentNullException.ThrowIfNull(schema);
        try
        {
            var found = await _client.LookupSchemaAsync(subject, new RegistrySchema(schema.ToString(), SchemaType.Avro), ignoreDeletedSchemas: true, normalize: false)
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            return ToRegistered(found);
        }
        catch (SchemaRegistryException e) when (e.ErrorCode is SubjectNotFound or SchemaNotFound)
        {
            return null;
        }
    }

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">Always: Confluent.SchemaRegistry's client has no delete.</exception>
    public ValueTask<bool> DeleteVersionAsync(string subject, int version, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException(
            $"The Confluent Schema Registry store cannot delete version {version.ToString(CultureInfo.InvariantCulture)} of subject '{subject}': " +
            "Confluent.SchemaRegistry's client has no delete operation. Delete it at the registry itself " +
            $"(DELETE <registry url>/subjects/{Uri.EscapeDataString(subject)}/versions/{version.ToString(CultureInfo.InvariantCulture)}).");

    /// <inheritdoc />
    public async ValueTask<CompatibilityLevel> GetCompatibilityAsync(string? subject, CancellationToken cancellationToken = default)
    {
        if (subject is not null)
        {
            try
            {
                var own = await _client.GetCompatibilityAsync(subject).WaitAsync(cancellationToken).ConfigureAwait(false);
                return FromRegistry(own);
            }
            catch (SchemaRegistryException e) when (e.ErrorCode is SubjectNotFound or SubjectCompatibilityNotConfigured)
            {
                // No level of its own: the default applies.
            }
        }

        var global = await _client.GetCompatibilityAsync(null).WaitAsync(cancellationToken).ConfigureAwait(false);
        return FromRegistry(global);
    }

    /// <inheritdoc />
    public async ValueTask SetCompatibilityAsync(string? subject, CompatibilityLevel level, CancellationToken cancellationToken = default)
    {
        if (subject is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        }

        await _client.UpdateCompatibilityAsync(ToRegistry(level), subject).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Disposes the registry client if the store created it.</summary>
    public void Dispose()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    private async Task<List<RegisteredSchema>> GetVersionsCoreAsync(string subject, bool latestOnly, CancellationToken cancellationToken)
    {
        if (latestOnly)
        {
            var latest = await GetLatestAsync(subject, cancellationToken).ConfigureAwait(false);
            return latest is null ? [] : [latest];
        }

        var numbers = await GetVersionNumbersAsync(subject, cancellationToken).ConfigureAwait(false);
        var versions = new List<RegisteredSchema>(numbers.Count);
        foreach (var number in numbers.Order())
        {
            var registered = await _client.GetRegisteredSchemaAsync(subject, number, ignoreDeletedSchemas: true)
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            versions.Add(ToRegistered(registered));
        }

        return versions;
    }

    private async Task<List<int>> GetVersionNumbersAsync(string subject, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.GetSubjectVersionsAsync(subject).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SchemaRegistryException e) when (e.ErrorCode == SubjectNotFound)
        {
            return [];
        }
    }

    private static RegisteredSchema ToRegistered(Confluent.SchemaRegistry.RegisteredSchema registered) =>
        new(registered.Subject, registered.Version, registered.Id,
            ParseAvro(registered.Schema, $"subject '{registered.Subject}' version {registered.Version.ToString(CultureInfo.InvariantCulture)}"));

    private static AvroSchema ParseAvro(RegistrySchema schema, string what)
    {
        if (schema.SchemaType != SchemaType.Avro)
        {
            throw new NotSupportedException($"The registry's schema for {what} is {schema.SchemaType}, not Avro.");
        }

        if (schema.References is { Count: > 0 })
        {
            throw new NotSupportedException($"The registry's schema for {what} has schema references, which DataMesh does not resolve.");
        }

        try
        {
            return AvroSchema.Parse(schema.SchemaString);
        }
        catch (SchemaParseException e)
        {
            throw new InvalidOperationException($"The registry's schema for {what} is not a valid Avro schema: {e.Message}", e);
        }
    }

    private static CompatibilityLevel FromRegistry(Compatibility compatibility) => compatibility switch
    {
        Compatibility.None => CompatibilityLevel.None,
        Compatibility.Backward => CompatibilityLevel.Backward,
        Compatibility.Forward => CompatibilityLevel.Forward,
        Compatibility.Full => CompatibilityLevel.Full,
        Compatibility.BackwardTransitive => CompatibilityLevel.BackwardTransitive,
        Compatibility.ForwardTransitive => CompatibilityLevel.ForwardTransitive,
        Compatibility.FullTransitive => CompatibilityLevel.FullTransitive,
        _ => throw new NotSupportedException($"Unknown registry compatibility level {compatibility}."),
    };

    private static Compatibility ToRegistry(CompatibilityLevel level) => level switch
    {
        CompatibilityLevel.None => Compatibility.None,
        CompatibilityLevel.Backward => Compatibility.Backward,
        CompatibilityLevel.Forward => Compatibility.Forward,
        CompatibilityLevel.Full => Compatibility.Full,
        CompatibilityLevel.BackwardTransitive => Compatibility.BackwardTransitive,
        CompatibilityLevel.ForwardTransitive => Compatibility.ForwardTransitive,
        CompatibilityLevel.FullTransitive => Compatibility.FullTransitive,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "Unknown compatibility level."),
    };
}
