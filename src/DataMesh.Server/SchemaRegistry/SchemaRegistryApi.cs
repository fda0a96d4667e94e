using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using DataMesh.Schemas;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using AvroSchema = Avro.Schema;

namespace DataMesh.Server.SchemaRegistry;

/// <summary>
/// The handlers of the Confluent-compatible Schema Registry REST API, over whichever <see cref="ISchemaStore"/> is
/// registered. Request and response bodies, status codes and error codes follow Confluent's API as its registry answers
/// (its resources and rest-utils' exception mappers); media types are those of <see cref="SchemaRegistryMediaTypes"/>.
/// </summary>
/// <remarks>
/// <para>
/// Thread-safe: one instance serves every request. Schemas by id are immutable in every store, so the body of
/// <c>GET /schemas/ids/{id}</c> is kept once made (up to <see cref="MaxCachedBodies"/> ids).
/// </para>
/// <para>
/// Where DataMesh differs from Confluent's registry: Avro only (<c>schemaType</c> other than AVRO, and schema references,
/// are refused as invalid, 42201); <c>GET /config/{subject}</c> answers the level in force for the subject (its own, else
/// the default, as Confluent's <c>defaultToGlobal=true</c>); deletes are soft only (<c>permanent=true</c> is refused,
/// 42205, as are <c>DELETE /subjects/{subject}</c> and <c>DELETE /config</c>); <c>deleted=true</c> reaches deleted
/// versions in a subject's reads and version listing only; the mode is READWRITE (READONLY for a read-only API) and cannot be changed,
/// as with Confluent's <c>mode.mutability=false</c>.
/// </para>
/// </remarks>
internal sealed class SchemaRegistryApi
{
    /// <summary>Confluent's modes, which <c>PUT /mode</c> knows (and refuses to set).</summary>
    private static readonly string[] Modes = ["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT", "FORWARD"];

    /// <summary>How many <c>GET /schemas/ids/{id}</c> bodies are kept.</summary>
    public const int MaxCachedBodies = 10_000;

    private readonly ISchemaStore _store;
    private readonly SchemaRegistryApiOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<int, byte[]> _bodiesById = new();

    public SchemaRegistryApi(ISchemaStore store, IOptions<DataMeshServerOptions> options, ILogger<SchemaRegistryApi>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _options = options.Value.SchemaRegistry;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Says at start where the API is and over which store.</summary>
    public void LogMapped() =>
        ServerLog.RegistryMapped(_logger, _options.PathPrefix ?? string.Empty, _store.GetType().Name, _options.ReadOnly ? ", read-only" : string.Empty);

    /// <summary><c>GET /schemas/ids/{id}</c>: <c>{"schema": "..."}</c>.</summary>
    public Task GetSchemaByIdAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var id = ParseId(context);
        if (!_bodiesById.TryGetValue(id, out var body))
        {
            var schema = await GetByIdAsync(id, ct).ConfigureAwait(false);
            body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["schema"] = schema.ToString() });
            if (_bodiesById.Count < MaxCachedBodies)
            {
                _bodiesById.TryAdd(id, body);
            }
        }

        await WriteAsync(context, body, ct).ConfigureAwait(false);
    });

    /// <summary><c>GET /schemas/ids/{id}/schema</c>: the schema itself.</summary>
    public Task GetRawSchemaByIdAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var schema = await GetByIdAsync(ParseId(context), ct).ConfigureAwait(false);
        await WriteAsync(context, System.Text.Encoding.UTF8.GetBytes(schema.ToString()), ct).ConfigureAwait(false);
    });

    /// <summary><c>GET /schemas/ids/{id}/versions</c>: <c>[{"subject": "...", "version": N}]</c>, every subject version with the id.</summary>
    public Task GetVersionsOfIdAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var found = await FindVersionsOfIdAsync(ParseId(context), ct).ConfigureAwait(false);
        await WriteJsonAsync(context, json =>
        {
            json.WriteStartArray();
            foreach (var version in Page(context, found))
            {
                json.WriteStartObject();
                json.WriteString("subject", version.Subject);
                json.WriteNumber("version", version.Version);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }, ct).ConfigureAwait(false);
    });

    /// <summary><c>GET /schemas/ids/{id}/subjects</c>: <c>["...", ...]</c>, every subject with a version of the id.</summary>
    public Task GetSubjectsOfIdAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var found = await FindVersionsOfIdAsync(ParseId(context), ct).ConfigureAwait(false);
        await WriteJsonAsync(context, json =>
        {
            json.WriteStartArray();
            foreach (var subject in Page(context, found.Select(v => v.Subject).Distinct(StringComparer.Ordinal)))
            {
                json.WriteStringValue(subject);
            }

            json.WriteEndArray();
        }, ct).ConfigureAwait(false);
    });

    /// <summary><c>GET /schemas/types</c>: <c>["AVRO"]</c>.</summary>
    public Task GetSchemaTypesAsync(HttpContext context) => RunAsync(context, ct =>
        WriteJsonAsync(context, json =>
        {
            json.WriteStartArray();
            json.WriteStringValue("AVRO");
            json.WriteEndArray();
        }, ct));

    /// <summary>
    /// <c>GET /associations/resources/{name}</c>: <c>[]</c>. DataMesh associates no subject with a topic, so clients whose
    /// subject name strategy asks for associations (Confluent's serializers from 2.12 do) fall back to the topic name strategy.
    /// </summary>
    public Task GetAssociationsAsync(HttpContext context) => RunAsync(context, ct =>
        WriteJsonAsync(context, json =>
        {
            json.WriteStartArray();
            json.WriteEndArray();
        }, ct));

    /// <summary>
    /// <c>GET /subjects</c>: <c>["a-value", ...]</c>; <c>subjectPrefix</c> keeps those that start with it (<c>:*:</c>, every
    /// one), <c>offset</c> and <c>limit</c> page, as Confluent's.
    /// </summary>
    public Task GetSubjectsAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var prefix = context.Request.Query["subjectPrefix"].ToString();
        var subjects = await _store.GetSubjectsAsync(ct).ConfigureAwait(false);
        var listed = Page(context, prefix is "" or ":*:" ? subjects : subjects.Where(s => s.StartsWith(prefix, StringComparison.Ordinal)));
        await WriteJsonAsync(context, json =>
        {
            json.WriteStartArray();
            foreach (var subject in listed)
            {
                json.WriteStringValue(subject);
            }

            json.WriteEndArray();
        }, ct).ConfigureAwait(false);
    });

    /// <summary>
    /// <c>GET /subjects/{subject}/versions</c>: <c>[1, 2, ...]</c>, paged by <c>offset</c> and <c>limit</c>; 40401 when the
    /// subject has none. With <c>deleted=true</c> deleted versions are listed too, with <c>deletedOnly=true</c> only they
    /// (Confluent's SubjectVersionsResource.listVersions).
    /// </summary>
    public Task GetVersionNumbersAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var subject = Subject(context);
        var deletedOnly = IsTrue(context, "deletedOnly");
        IReadOnlyList<RegisteredSchema> versions = deletedOnly ? [] : await _store.GetVersionsAsync(subject, ct).ConfigureAwait(false);
        if (deletedOnly || IsTrue(context, "deleted"))
        {
            versions = [.. versions.Concat(await _store.GetDeletedVersionsAsync(subject, ct).ConfigureAwait(false)).OrderBy(v => v.Version)];
        }

        if (versions.Count == 0 && (!deletedOnly || (await _store.GetVersionsAsync(subject, ct).ConfigureAwait(false)).Count == 0))
        {
            throw SchemaRegistryError.SubjectNotFound(subject);
        }

        await WriteJsonAsync(context, json =>
        {
            json.WriteStartArray();
            foreach (var version in Page(context, versions))
            {
                json.WriteNumberValue(version.Version);
            }

            json.WriteEndArray();
        }, ct).ConfigureAwait(false);
    });

    /// <summary>
    /// <c>GET /subjects/{subject}/versions/{version|latest}</c>: <c>{"subject", "id", "version", "schema"}</c>; a deleted
    /// version only with <c>deleted=true</c> (40402 without).
    /// </summary>
    public Task GetVersionAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var registered = await ResolveVersionAsync(Subject(context), context, IsTrue(context, "deleted"), ct).ConfigureAwait(false);
        await WriteJsonAsync(context, json => WriteRegistered(json, registered), ct).ConfigureAwait(false);
    });

    /// <summary><c>GET /subjects/{subject}/versions/{version|latest}/schema</c>: the schema itself.</summary>
    public Task GetRawVersionAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var registered = await ResolveVersionAsync(Subject(context), context, IsTrue(context, "deleted"), ct).ConfigureAwait(false);
        await WriteAsync(context, System.Text.Encoding.UTF8.GetBytes(registered.Schema.ToString()), ct).ConfigureAwait(false);
    });

    /// <summary>
    /// <c>GET /subjects/{subject}/versions/{version|latest}/referencedby</c>: the ids of the schemas that reference the
    /// version, always <c>[]</c> since references are refused; the version's errors as for reading it with
    /// <c>deleted=true</c> (Confluent's SubjectVersionsResource.getReferencedBy looks deleted versions up too).
    /// </summary>
    public Task GetReferencedByAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        await ResolveVersionAsync(Subject(context), context, includeDeleted: true, ct).ConfigureAwait(false);
        await WriteJsonAsync(context, json =>
        {
            json.WriteStartArray();
            json.WriteEndArray();
        }, ct).ConfigureAwait(false);
    });

    /// <summary>
    /// <c>DELETE /subjects/{subject}/versions/{version|latest}</c>: the deleted version's number (a soft delete). A version
    /// deleted already is 40406, as Confluent's AbstractSchemaRegistry.validateDeleteSchemaVersion answers it; a subject
    /// whose versions are all deleted is 40402, not 40401.
    /// </summary>
    public Task DeleteVersionAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        EnsureWritable("deleting a version");
        if (IsTrue(context, "permanent"))
        {
            throw SchemaRegistryError.NotPermitted("DataMesh deletes versions softly only (the schema id keeps resolving, since data may be encoded with it); leave out permanent=true.");
        }

        var subject = Subject(context);
        if (ParseVersion(context) is { } number
            && (await _store.GetDeletedVersionsAsync(subject, ct).ConfigureAwait(false)).Any(v => v.Version == number))
        {
            throw SchemaRegistryError.VersionDeleted(subject, number);
        }

        var registered = await ResolveVersionAsync(subject, context, includeDeleted: true, ct).ConfigureAwait(false);
        bool deleted;
        try
        {
            deleted = await _store.DeleteVersionAsync(subject, registered.Version, ct).ConfigureAwait(false);
        }
        catch (NotSupportedException e)
        {
            throw SchemaRegistryError.NotPermitted(e.Message);
        }

        if (!deleted)
        {
            throw SchemaRegistryError.VersionNotFound(subject, registered.Version);
        }

        ServerLog.Deleted(_logger, subject, registered.Version);
        await WriteJsonAsync(context, json => json.WriteNumberValue(registered.Version), ct).ConfigureAwait(false);
    });

    /// <summary>
    /// A path of the API that no route takes (404), or a method that none of the path's routes takes (405, with
    /// <c>Allow</c> naming <paramref name="methods"/>), in Confluent's error body.
    /// </summary>
    public Task AnswerUnknownAsync(HttpContext context, IReadOnlyList<string> methods) => RunAsync(context, _ =>
    {
        throw methods.Count == 0 ? SchemaRegistryError.NotFound() : SchemaRegistryError.MethodNotAllowed(methods);
    });

    /// <summary><c>DELETE /subjects/{subject}</c>: refused (42205); Confluent deletes the whole subject, DataMesh deletes version by version.</summary>
    public Task DeleteSubjectAsync(HttpContext context) => RunAsync(context, _ =>
    {
        var subject = Subject(context);
        throw SchemaRegistryError.NotPermitted(
            $"DataMesh does not delete a whole subject; delete its versions one by one (DELETE /subjects/{subject}/versions/{{version}}), softly: their schema ids keep resolving.");
    });

    /// <summary><c>POST /subjects/{subject}/versions</c> with <c>{"schema": "..."}</c>: registers, answers <c>{"id": N}</c>; 409 when incompatible.</summary>
    public Task RegisterAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        EnsureWritable("registering a schema");
        var subject = Subject(context);
        var schema = await ReadSchemaAsync(context, ct).ConfigureAwait(false);
        int id;
        try
        {
            id = await _store.RegisterAsync(subject, schema, ct).ConfigureAwait(false);
        }
        catch (SchemaIncompatibleException e)
        {
            throw SchemaRegistryError.Incompatible(e.Message);
        }

        ServerLog.Registered(_logger, subject, id);
        await WriteJsonAsync(context, json =>
        {
            json.WriteStartObject();
            json.WriteNumber("id", id);
            json.WriteEndObject();
        }, ct).ConfigureAwait(false);
    });

    /// <summary><c>POST /subjects/{subject}</c> with <c>{"schema": "..."}</c>: the version holding the schema; 40401 or 40403 when none.</summary>
    public Task LookUpAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var subject = Subject(context);
        var schema = await ReadSchemaAsync(context, ct).ConfigureAwait(false);
        var found = await _store.FindAsync(subject, schema, ct).ConfigureAwait(false);
        if (found is null)
        {
            throw await _store.GetLatestAsync(subject, ct).ConfigureAwait(false) is null
                ? SchemaRegistryError.SubjectNotFound(subject)
                : SchemaRegistryError.SchemaNotFound($"under subject '{subject}'");
        }

        await WriteJsonAsync(context, json => WriteRegistered(json, found), ct).ConfigureAwait(false);
    });

    /// <summary>
    /// <c>POST /compatibility/subjects/{subject}/versions/{version|latest}</c>: <c>{"is_compatible": bool}</c> against that
    /// version at the subject's level (<c>"messages"</c> too with <c>verbose=true</c>). As Confluent's: the version is
    /// checked before the schema (42202, 40402 also when the subject has no versions), and <c>latest</c> of a subject
    /// without versions is compatible with any valid schema.
    /// </summary>
    public Task CheckCompatibilityAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var subject = Subject(context);
        using var body = await ReadBodyAsync(context, ct).ConfigureAwait(false);
        var number = ParseVersion(context);
        var versions = await _store.GetVersionsAsync(subject, ct).ConfigureAwait(false);
        RegisteredSchema[] against = number is { } wanted
            ? [versions.FirstOrDefault(v => v.Version == wanted) ?? throw SchemaRegistryError.VersionNotFound(subject, wanted)]
            : versions.Count == 0 ? [] : [versions.MaxBy(v => v.Version)!];
        await WriteCompatibilityAsync(context, subject, body.RootElement, against, ct).ConfigureAwait(false);
    });

    /// <summary><c>POST /compatibility/subjects/{subject}/versions</c>: as registration would check, against the versions its level names.</summary>
    public Task CheckCompatibilityWithAllAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var subject = Subject(context);
        using var body = await ReadBodyAsync(context, ct).ConfigureAwait(false);
        var versions = await _store.GetVersionsAsync(subject, ct).ConfigureAwait(false);
        await WriteCompatibilityAsync(context, subject, body.RootElement, versions, ct).ConfigureAwait(false);
    });

    /// <summary><c>GET /config</c> and <c>GET /config/{subject}</c>: <c>{"compatibilityLevel": "BACKWARD"}</c>.</summary>
    public Task GetConfigAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var subject = OptionalSubject(context);
        var level = await _store.GetCompatibilityAsync(subject, ct).ConfigureAwait(false);
        await WriteJsonAsync(context, json =>
        {
            json.WriteStartObject();
            json.WriteString("compatibilityLevel", LevelName(level));
            json.WriteEndObject();
        }, ct).ConfigureAwait(false);
    });

    /// <summary>
    /// <c>PUT /config</c> and <c>PUT /config/{subject}</c> with <c>{"compatibility": "FULL"}</c>: sets the level and answers
    /// <c>{"compatibility": "FULL"}</c>; 42203 for an unknown level. As Confluent's ConfigResource and ConfigValue.update: a
    /// body without <c>"compatibility"</c> (<c>{}</c>, or only fields DataMesh does not keep) changes nothing and answers the
    /// level in force; <c>"compatibility": null</c>, which removes the level in Confluent's registry, is refused as
    /// <c>DELETE /config</c> is (42205).
    /// </summary>
    public Task SetConfigAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        EnsureWritable("setting a compatibility level");
        var subject = OptionalSubject(context);
        using var body = await ReadBodyAsync(context, ct).ConfigureAwait(false);
        var given = StringField(body.RootElement, "compatibility");
        CompatibilityLevel level;
        if (given is null && body.RootElement.TryGetProperty("compatibility", out _))
        {
            throw NoLevelRemoval(subject);
        }

        if (given is null)
        {
            level = await _store.GetCompatibilityAsync(subject, ct).ConfigureAwait(false);
        }
        else if (TryParseLevel(given, out level))
        {
            await _store.SetCompatibilityAsync(subject, level, ct).ConfigureAwait(false);
            ServerLog.CompatibilitySet(_logger, subject is null ? "the default" : $"subject '{subject}'", LevelName(level));
        }
        else
        {
            throw SchemaRegistryError.InvalidCompatibilityLevel(given);
        }

        await WriteJsonAsync(context, json =>
        {
            json.WriteStartObject();
            json.WriteString("compatibility", LevelName(level));
            json.WriteEndObject();
        }, ct).ConfigureAwait(false);
    });

    /// <summary><c>DELETE /config</c> and <c>DELETE /config/{subject}</c>: refused (42205); the store keeps a level until another is set.</summary>
    public Task DeleteConfigAsync(HttpContext context) => RunAsync(context, _ => throw NoLevelRemoval(OptionalSubject(context)));

    private static SchemaRegistryError NoLevelRemoval(string? subject) =>
        SchemaRegistryError.NotPermitted(
            $"DataMesh does not delete a compatibility level; set the one you want with PUT {(subject is null ? "/config" : $"/config/{subject}")}.");

    /// <summary>
    /// <c>GET /mode</c>: <c>{"mode": "READWRITE"}</c>, or READONLY for a read-only API. <c>GET /mode/{subject}</c>: no
    /// subject has a mode of its own, so 40409 as Confluent's, unless <c>defaultToGlobal=true</c> asks for the mode in force.
    /// </summary>
    public Task GetModeAsync(HttpContext context) => RunAsync(context, ct =>
    {
        if (OptionalSubject(context) is { } subject && !IsTrue(context, "defaultToGlobal"))
        {
            throw SchemaRegistryError.SubjectModeNotConfigured(subject);
        }

        return WriteJsonAsync(context, json =>
        {
            json.WriteStartObject();
            json.WriteString("mode", _options.ReadOnly ? "READONLY" : "READWRITE");
            json.WriteEndObject();
        }, ct);
    });

    /// <summary>
    /// <c>PUT /mode</c> and <c>PUT /mode/{subject}</c> with <c>{"mode": "..."}</c>: refused (42205) as Confluent's registry
    /// refuses it with <c>mode.mutability=false</c>; an unknown mode is 42204. The mode follows
    /// <c>DataMesh:Server:SchemaRegistry:ReadOnly</c>.
    /// </summary>
    public Task SetModeAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        OptionalSubject(context);
        using var body = await ReadBodyAsync(context, ct).ConfigureAwait(false);
        var mode = StringField(body.RootElement, "mode");
        if (mode is not null && !Modes.Contains(mode, StringComparer.OrdinalIgnoreCase))
        {
            throw SchemaRegistryError.InvalidMode(mode);
        }

        throw SchemaRegistryError.NotPermitted(
            "Mode changes are not allowed: the API is READWRITE, or READONLY with DataMesh:Server:SchemaRegistry:ReadOnly, for every subject.");
    });

    internal static string LevelName(CompatibilityLevel level) => level switch
    {
        CompatibilityLevel.None => "NONE",
        CompatibilityLevel.Backward => "BACKWARD",
        CompatibilityLevel.Forward => "FORWARD",
        CompatibilityLevel.Full => "FULL",
        CompatibilityLevel.BackwardTransitive => "BACKWARD_TRANSITIVE",
        CompatibilityLevel.ForwardTransitive => "FORWARD_TRANSITIVE",
        CompatibilityLevel.FullTransitive => "FULL_TRANSITIVE",
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "Unknown compatibility level."),
    };

    internal static bool TryParseLevel(string? text, out CompatibilityLevel level)
    {
        foreach (var candidate in Enum.GetValues<CompatibilityLevel>())
        {
            if (string.Equals(text, LevelName(candidate), StringComparison.OrdinalIgnoreCase))
            {
                level = candidate;
                return true;
            }
        }

        level = default;
        return false;
    }

    /// <summary>
    /// Checks the request's schema against <paramref name="against"/> at the subject's level and answers. With
    /// <c>verbose=true</c> an invalid schema is answered as not compatible, its reason the one message, as Confluent's
    /// CompatibilityResource answers it; without, it is 42201.
    /// </summary>
    private async Task WriteCompatibilityAsync(HttpContext context, string subject, JsonElement request, IReadOnlyCollection<RegisteredSchema> against, CancellationToken ct)
    {
        var verbose = IsTrue(context, "verbose");
        List<string> messages = [];
        try
        {
            var schema = ParseSchema(request);
            var level = await _store.GetCompatibilityAsync(subject, ct).ConfigureAwait(false);
            foreach (var problem in SchemaCompatibility.Check(level, schema, against))
            {
                messages.Add($"{problem.Message} (version {problem.Version.ToString(CultureInfo.InvariantCulture)}, {LevelName(problem.Direction)})");
            }
        }
        catch (SchemaRegistryError e) when (verbose && e.ErrorCode == 42201)
        {
            messages.Add(e.Message);
        }

        await WriteJsonAsync(context, json =>
        {
            json.WriteStartObject();
            json.WriteBoolean("is_compatible", messages.Count == 0);
            if (verbose)
            {
                json.WriteStartArray("messages");
                foreach (var message in messages)
                {
                    json.WriteStringValue(message);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Every subject version with schema id <paramref name="id"/>, by subject; 40403 when no schema has the id.</summary>
    private async Task<List<RegisteredSchema>> FindVersionsOfIdAsync(int id, CancellationToken ct)
    {
        await GetByIdAsync(id, ct).ConfigureAwait(false);
        var found = new List<RegisteredSchema>();
        foreach (var subject in await _store.GetSubjectsAsync(ct).ConfigureAwait(false))
        {
            found.AddRange((await _store.GetVersionsAsync(subject, ct).ConfigureAwait(false)).Where(v => v.Id == id));
        }

        return found;
    }

    private async Task<AvroSchema> GetByIdAsync(int id, CancellationToken ct)
    {
        try
        {
            return await _store.GetByIdAsync(id, ct).ConfigureAwait(false);
        }
        catch (KeyNotFoundException)
        {
            throw SchemaRegistryError.SchemaNotFound(id.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>The route's <c>{version}</c>: a number from 1, or <see langword="null"/> for <c>latest</c> or <c>-1</c>; 42202 otherwise.</summary>
    private static int? ParseVersion(HttpContext context)
    {
        var text = context.Request.RouteValues["version"] as string ?? string.Empty;
        if (text.Equals("latest", StringComparison.OrdinalIgnoreCase) || text == "-1")
        {
            return null;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed >= 1
            ? parsed
            : throw SchemaRegistryError.InvalidVersion(text);
    }

    /// <summary>
    /// The subject's version named by the route's <c>{version}</c>: a number from 1, <c>latest</c> or <c>-1</c> (the
    /// latest version not deleted). With <paramref name="includeDeleted"/> (Confluent's <c>deleted=true</c>) a numbered
    /// version may be a deleted one, and a subject whose versions are all deleted is known (40402, not 40401), as
    /// Confluent's SubjectVersionsResource.getSchemaByVersion and AbstractSchemaRegistry.get answer.
    /// </summary>
    private async Task<RegisteredSchema> ResolveVersionAsync(string subject, HttpContext context, bool includeDeleted, CancellationToken ct)
    {
        var number = ParseVersion(context);
        var versions = await _store.GetVersionsAsync(subject, ct).ConfigureAwait(false);
        var found = number is null ? versions.MaxBy(v => v.Version) : versions.FirstOrDefault(v => v.Version == number);
        if (found is not null)
        {
            return found;
        }

        var deleted = includeDeleted ? await _store.GetDeletedVersionsAsync(subject, ct).ConfigureAwait(false) : [];
        if (number is not null && deleted.FirstOrDefault(v => v.Version == number) is { } wasDeleted)
        {
            return wasDeleted;
        }

        throw versions.Count == 0 && deleted.Count == 0
            ? SchemaRegistryError.SubjectNotFound(subject)
            : SchemaRegistryError.VersionNotFound(subject, number ?? -1);
    }

    private static int ParseId(HttpContext context)
    {
        var text = context.Request.RouteValues["id"] as string ?? string.Empty;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id >= 1
            ? id
            : throw SchemaRegistryError.SchemaNotFound($"'{text}' (ids are positive 32-bit integers)");
    }

    /// <summary>The route's subject; Kestrel leaves <c>%2F</c> encoded in paths, so a subject with '/' arrives as it was sent.</summary>
    private static string Subject(HttpContext context) => OptionalSubject(context) ?? throw SchemaRegistryError.SubjectNotFound(string.Empty);

    private static string? OptionalSubject(HttpContext context)
    {
        if (context.Request.RouteValues["subject"] is not string subject)
        {
            return null;
        }

        subject = subject.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
        return string.IsNullOrWhiteSpace(subject) || subject.Any(char.IsControl)
            ? throw SchemaRegistryError.InvalidSubject(subject)
            : subject;
    }

    /// <summary>
    /// A listing's page, as Confluent's <c>offset</c> (how many to skip) and <c>limit</c> (how many at most, 0 or less for
    /// all) give it; a value that is not a number is left out, as a negative offset is.
    /// </summary>
    private static IEnumerable<T> Page<T>(HttpContext context, IEnumerable<T> items)
    {
        if (int.TryParse(context.Request.Query["offset"], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var offset) && offset > 0)
        {
            items = items.Skip(offset);
        }

        if (int.TryParse(context.Request.Query["limit"], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var limit) && limit > 0)
        {
            items = items.Take(limit);
        }

        return items;
    }

    private static bool IsTrue(HttpContext context, string parameter) =>
        context.Request.Query.TryGetValue(parameter, out var values) && string.Equals(values.ToString(), "true", StringComparison.OrdinalIgnoreCase);

    private void EnsureWritable(string what)
    {
        if (_options.ReadOnly)
        {
            throw SchemaRegistryError.NotPermitted($"{what} is refused: the API is read-only (DataMesh:Server:SchemaRegistry:ReadOnly).");
        }
    }

    /// <summary>Reads a request body <c>{"schema": "...", "schemaType": "AVRO", "references": []}</c> and parses its Avro schema.</summary>
    private async Task<AvroSchema> ReadSchemaAsync(HttpContext context, CancellationToken ct)
    {
        using var body = await ReadBodyAsync(context, ct).ConfigureAwait(false);
        return ParseSchema(body.RootElement);
    }

    /// <summary>The Avro schema of a request <c>{"schema": "...", "schemaType": "AVRO", "references": []}</c>; 42201 when it is not one.</summary>
    private static AvroSchema ParseSchema(JsonElement root)
    {
        var schemaText = StringField(root, "schema");
        if (string.IsNullOrWhiteSpace(schemaText))
        {
            throw SchemaRegistryError.InvalidSchema("the request has no schema; send it as a string in \"schema\".");
        }

        if (StringField(root, "schemaType") is { } type && !string.Equals(type, "AVRO", StringComparison.OrdinalIgnoreCase))
        {
            throw SchemaRegistryError.InvalidSchema($"schema type '{type}' is not supported; this registry holds Avro schemas only (schemaType AVRO).");
        }

        if (root.TryGetProperty("references", out var references) && references.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
        {
            throw SchemaRegistryError.BadRequest($"\"references\" must be an array, not {KindName(references.ValueKind)}.");
        }

        if (references.ValueKind == JsonValueKind.Array && references.GetArrayLength() > 0)
        {
            throw SchemaRegistryError.InvalidSchema("schema references are not supported; send the schema with its named types inline.");
        }

        try
        {
            // Apache.Avro returns null for some JSON it does not take as a schema, and throws its own exceptions, its JSON
            // reader's and others on text it cannot parse.
            var schema = AvroSchema.Parse(schemaText) ?? throw new FormatException("it is not an Avro schema");
            return AvroDefaults.Problem(schema) is { } problem ? throw new FormatException(problem) : schema;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw SchemaRegistryError.InvalidSchema(e.Message);
        }
    }

    private async Task<JsonDocument> ReadBodyAsync(HttpContext context, CancellationToken ct)
    {
        if (!SchemaRegistryMediaTypes.IsReadable(context.Request.ContentType))
        {
            throw new SchemaRegistryError(415, 415, $"HTTP 415 Unsupported Media Type: send the body as {SchemaRegistryMediaTypes.V1Json} or application/json, not '{context.Request.ContentType}'.");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = _options.MaxRequestBytes;
        }

        if (context.Request.ContentLength > _options.MaxRequestBytes)
        {
            throw new SchemaRegistryError(413, 413, $"The request body is larger than {_options.MaxRequestBytes.ToString(CultureInfo.InvariantCulture)} bytes (DataMesh:Server:SchemaRegistry:MaxRequestBytes).");
        }

        try
        {
            return await JsonDocument.ParseAsync(context.Request.Body, default, ct).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            throw SchemaRegistryError.BadRequest("The request body is not JSON: " + e.Message);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new SchemaRegistryError(413, 413, $"The request body is larger than {_options.MaxRequestBytes.ToString(CultureInfo.InvariantCulture)} bytes (DataMesh:Server:SchemaRegistry:MaxRequestBytes).");
        }
    }

    /// <summary>
    /// A string field of a request object, read as Confluent's Jackson reads it into a Java string: <see langword="null"/>
    /// when missing or null, a number's or a boolean's text as it was sent; an object or an array, or a body that is not a
    /// JSON object, is a request of the wrong shape (400, as rest-utils' JsonMappingExceptionMapper answers).
    /// </summary>
    private static string? StringField(JsonElement request, string name)
    {
        if (request.ValueKind != JsonValueKind.Object)
        {
            throw SchemaRegistryError.BadRequest($"The request body must be a JSON object, not {KindName(request.ValueKind)}.");
        }

        if (!request.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Null => null,
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
            _ => throw SchemaRegistryError.BadRequest($"\"{name}\" must be a string, not {KindName(value.ValueKind)}."),
        };
    }

    private static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static void WriteRegistered(Utf8JsonWriter json, RegisteredSchema registered)
    {
        json.WriteStartObject();
        json.WriteString("subject", registered.Subject);
        json.WriteNumber("version", registered.Version);
        json.WriteNumber("id", registered.Id);
        json.WriteString("schema", registered.Schema.ToString());
        json.WriteEndObject();
    }

    private static Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> write, CancellationToken ct)
    {
        context.Response.ContentType = SchemaRegistryMediaTypes.ResponseType(context.Request);
        using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            write(json);
        }

        return context.Response.BodyWriter.FlushAsync(ct).AsTask();
    }

    private static Task WriteAsync(HttpContext context, byte[] body, CancellationToken ct)
    {
        context.Response.ContentType = SchemaRegistryMediaTypes.ResponseType(context.Request);
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, ct).AsTask();
    }

    /// <summary>Runs a handler; an error becomes Confluent's error body, a store's failure 50001 (50002 for a timeout).</summary>
    private async Task RunAsync(HttpContext context, Func<CancellationToken, Task> handler)
    {
        var ct = context.RequestAborted;
        SchemaRegistryError error;
        try
        {
            if (Controller.CrossSiteRequests.Check(context.Request, loopbackOnly: false) is { } crossSite)
            {
                throw SchemaRegistryError.CrossSite(crossSite);
            }

            await handler(ct).ConfigureAwait(false);
            return;
        }
        catch (SchemaRegistryError e)
        {
            error = e;
            if (e.ErrorCode is 42205 or 40301)
            {
                ServerLog.Refused(_logger, context.Request.Method, Route(context), e.Message);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away: nobody is left to answer.
            return;
        }
        catch (TimeoutException e)
        {
            error = SchemaRegistryError.Timeout(e.Message);
            ServerLog.StoreFailed(_logger, context.Request.Method, Route(context), error.ErrorCode, e);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The store's own failures: stopped (its topic lost records), disposed, a remote registry's error, a schema it
            // holds that does not parse. The client gets Confluent's shape; the log gets the exception.
            error = SchemaRegistryError.Store(e.Message);
            ServerLog.StoreFailed(_logger, context.Request.Method, Route(context), error.ErrorCode, e);
        }

        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }

        context.Response.Clear();
        context.Response.StatusCode = error.Status;
        if (error.Allow is not null)
        {
            context.Response.Headers.Allow = error.Allow;
        }

        await WriteJsonAsync(context, json =>
        {
            json.WriteStartObject();
            json.WriteNumber("error_code", error.ErrorCode);
            json.WriteString("message", error.Message);
            json.WriteEndObject();
        }, CancellationToken.None).ConfigureAwait(false);
    }

    private static string Route(HttpContext context) =>
        (context.GetEndpoint() as Microsoft.AspNetCore.Routing.RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path.ToString();
}
