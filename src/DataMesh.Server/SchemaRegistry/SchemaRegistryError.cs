using System.Globalization;

namespace DataMesh.Server.SchemaRegistry;

/// <summary>
/// An answer of the Schema Registry API that is an error, in Confluent's shape: an HTTP status and
/// <c>{"error_code": N, "message": "..."}</c>, where N is Confluent's documented code (the status, or the status and
/// two more digits).
/// </summary>
internal sealed class SchemaRegistryError : Exception
{
    public SchemaRegistryError(int status, int errorCode, string message)
        : base(message)
    {
        Status = status;
        ErrorCode = errorCode;
    }

    public SchemaRegistryError()
    {
    }

    public SchemaRegistryError(string message)
        : base(message)
    {
    }

    public SchemaRegistryError(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public int Status { get; } = 500;

    public int ErrorCode { get; } = 50001;

    /// <summary>The methods a path has, for the <c>Allow</c> header of a 405; <see langword="null"/> otherwise.</summary>
    public string? Allow { get; private init; }

    /// <summary>A path of the API that no route takes: Jersey's 404 as rest-utils maps it.</summary>
    public static SchemaRegistryError NotFound() => new(404, 404, "HTTP 404 Not Found");

    /// <summary>A path of the API asked with a method none of its routes takes: Jersey's 405 as rest-utils maps it.</summary>
    public static SchemaRegistryError MethodNotAllowed(IEnumerable<string> allowed) =>
        new(405, 405, "HTTP 405 Method Not Allowed") { Allow = string.Join(", ", allowed) };

    /// <summary>A body that is not JSON, or JSON of the wrong shape: Confluent answers these from rest-utils' Jackson exception mappers, status and code 400.</summary>
    public static SchemaRegistryError BadRequest(string message) => new(400, 400, message);

    public static SchemaRegistryError SubjectNotFound(string subject) => new(404, 40401, $"Subject '{subject}' not found.");

    /// <summary>40402; <paramref name="version"/> -1 is <c>latest</c> of a subject whose versions are all deleted.</summary>
    public static SchemaRegistryError VersionNotFound(string subject, int version) =>
        new(404, 40402, version == -1
            ? $"Version latest not found (subject '{subject}': every version of it was deleted)."
            : $"Version {version.ToString(CultureInfo.InvariantCulture)} not found (subject '{subject}').");

    /// <summary>A version deleted already, deleted again: 40406, as Confluent's Errors.schemaVersionSoftDeletedException.</summary>
    public static SchemaRegistryError VersionDeleted(string subject, int version) =>
        new(404, 40406, $"Subject '{subject}' Version {version.ToString(CultureInfo.InvariantCulture)} was soft deleted already; DataMesh does not delete permanently.");

    public static SchemaRegistryError SchemaNotFound(string what) => new(404, 40403, $"Schema {what} not found.");

    public static SchemaRegistryError InvalidSchema(string reason) => new(422, 42201, "Invalid schema: " + reason);

    public static SchemaRegistryError InvalidVersion(string version) =>
        new(422, 42202, $"The specified version '{version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\".");

    public static SchemaRegistryError InvalidCompatibilityLevel(string? level) =>
        new(422, 42203, $"Invalid compatibility level '{level}'. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive.");

    public static SchemaRegistryError SubjectModeNotConfigured(string subject) =>
        new(404, 40409, $"Subject '{subject}' does not have subject-level mode configured.");

    public static SchemaRegistryError InvalidMode(string mode) =>
        new(422, 42204, $"Invalid mode '{mode}'. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, IMPORT and FORWARD.");

    public static SchemaRegistryError InvalidSubject(string subject) =>
        new(422, 42208, $"Invalid subject '{subject}': a subject must not be blank or contain control characters.");

    public static SchemaRegistryError CrossSite(string reason) => new(403, 40301, reason);

    public static SchemaRegistryError NotPermitted(string reason) => new(422, 42205, "Operation not permitted: " + reason);

    public static SchemaRegistryError Incompatible(string details) => new(409, 409, "Schema being registered is incompatible with an earlier schema; " + details);

    public static SchemaRegistryError Store(string message) => new(500, 50001, "Error in the backend data store: " + Controller.SecretScrubber.Scrub(message));

    public static SchemaRegistryError Timeout(string message) => new(500, 50002, "Operation timed out: " + message);
}
