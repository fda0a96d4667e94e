using System.Globalization;
using System.Text.Json;
using Avro;

namespace DataMesh.Schemas;

/// <summary>The fate of one record of the schema log, the same for every reader.</summary>
internal abstract record SchemaLogOutcome
{
    /// <summary>A registration accepted, or found to repeat a version the subject has.</summary>
    public sealed record Registered(RegisteredSchema Schema) : SchemaLogOutcome;

    /// <summary>A registration refused by the compatibility check at its position in the log.</summary>
    public sealed record Incompatible(string Subject, CompatibilityLevel Level, IReadOnlyList<SchemaCompatibilityProblem> Problems) : SchemaLogOutcome;

    /// <summary>A record that could not be applied (unparsable, unknown kind, id space exhausted).</summary>
    public sealed record Invalid(string Reason) : SchemaLogOutcome;

    /// <summary>A compatibility level set.</summary>
    public sealed record ConfigApplied : SchemaLogOutcome;
}

/// <summary>
/// The deterministic state machine behind <see cref="KafkaSchemaStore"/>: the state of every subject after the
/// records of the schema topic's single partition, applied in offset order. Every store instance that applies the
/// same records gets the same ids, versions and rejections; nothing depends on which instance wrote a record,
/// on time, or on anything else outside the log.
/// </summary>
/// <remarks>
/// <para>Record value (UTF-8 JSON; the key is the subject, for readability only):</para>
/// <list type="bullet">
/// <item><description><c>{"format":1,"kind":"register","subject":S,"schema":JSON}</c></description></item>
/// <item><description><c>{"format":1,"kind":"config","subject":S or null,"level":"BACKWARD"}</c></description></item>
/// </list>
/// <para>A registration record at offset <c>o</c> for subject <c>S</c> and schema <c>X</c> is applied so:</para>
/// <list type="number">
/// <item><description>if <c>S</c> has a version whose canonical form (<see cref="SchemaCanonicalForm"/>) equals <c>X</c>'s,
/// the outcome is that version (idempotent registration; no new version);</description></item>
/// <item><description>else <c>X</c> is checked against <c>S</c>'s versions at <c>S</c>'s level as it stands at <c>o</c>
/// (the last config record before <c>o</c>); on problems the record is rejected and changes nothing;</description></item>
/// <item><description>else <c>X</c> becomes <c>S</c>'s next version. Its id is the id of the first accepted registration
/// (in any subject) with the same canonical form, or, if there is none, <c>o + 1</c>: offsets in one partition are
/// unique, so ids are unique, positive, and need no coordination. Offsets from <see cref="int.MaxValue"/> on are
/// rejected (the Confluent wire format has 32-bit ids).</description></item>
/// </list>
/// <para>Records of an unknown format or kind are skipped by every reader alike.</para>
/// </remarks>
internal sealed class SchemaLog
{
    public const int Format = 1;

    private readonly Dictionary<int, Schema> _byId = [];
    private readonly Dictionary<string, int> _idByCanonical = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Subject> _subjects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CompatibilityLevel> _levels = new(StringComparer.Ordinal);
    private CompatibilityLevel _defaultLevel = CompatibilityLevel.Backward;

    /// <summary>The number of distinct schemas (ids).</summary>
    public int SchemaCount => _byId.Count;

    public static byte[] EncodeRegistration(string subject, Schema schema)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("format", Format);
            json.WriteString("kind", "register");
            json.WriteString("subject", subject);
            json.WriteString("schema", schema.ToString());
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static byte[] EncodeConfig(string? subject, CompatibilityLevel level)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("format", Format);
            json.WriteString("kind", "config");
            json.WriteString("subject", subject);
            json.WriteString("level", SchemaIncompatibleException.LevelName(level));
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static bool TryParseLevel(string? name, out CompatibilityLevel level)
    {
        switch (name)
        {
            case "NONE": level = CompatibilityLevel.None; return true;
            case "BACKWARD": level = CompatibilityLevel.Backward; return true;
            case "FORWARD": level = CompatibilityLevel.Forward; return true;
            case "FULL": level = CompatibilityLevel.Full; return true;
            case "BACKWARD_TRANSITIVE": level = CompatibilityLevel.BackwardTransitive; return true;
            case "FORWARD_TRANSITIVE": level = CompatibilityLevel.ForwardTransitive; return true;
            case "FULL_TRANSITIVE": level = CompatibilityLevel.FullTransitive; return true;
            default: level = default; return false;
        }
    }

    /// <summary>Applies the record at <paramref name="offset"/>.</summary>
    public SchemaLogOutcome Apply(long offset, ReadOnlySpan<byte> value)
    {
        string kind;
        string? subject;
        string? schemaText;
        string? levelName;
        try
        {
            var reader = new Utf8JsonReader(value);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object ||
                !root.TryGetProperty("format", out var format) || !format.TryGetInt32(out var f) || f != Format ||
                !root.TryGetProperty("kind", out var kindElement) || kindElement.ValueKind != JsonValueKind.String)
            {
                return new SchemaLogOutcome.Invalid($"record at offset {offset.ToString(CultureInfo.InvariantCulture)} is not a format {Format} schema log record");
            }

            kind = kindElement.GetString()!;
            subject = root.TryGetProperty("subject", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            schemaText = root.TryGetProperty("schema", out var x) && x.ValueKind == JsonValueKind.String ? x.GetString() : null;
            levelName = root.TryGetProperty("level", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null;
        }
        catch (JsonException e)
        {
            return new SchemaLogOutcome.Invalid($"record at offset {offset.ToString(CultureInfo.InvariantCulture)} is not JSON: {e.Message}");
        }

        switch (kind)
        {
            case "register" when subject is not null && schemaText is not null:
                return ApplyRegistration(offset, subject, schemaText);
            case "config" when TryParseLevel(levelName, out var level):
                if (subject is null)
                {
                    _defaultLevel = level;
                }
                else
                {
                    _levels[subject] = level;
                }

                return new SchemaLogOutcome.ConfigApplied();
            default:
                return new SchemaLogOutcome.Invalid($"record at offset {offset.ToString(CultureInfo.InvariantCulture)} has an unknown kind '{kind}' or lacks fields");
        }
    }

    public bool TryGetById(int id, out Schema schema) => _byId.TryGetValue(id, out schema!);

    public RegisteredSchema? Latest(string subject) =>
        _subjects.TryGetValue(subject, out var s) && s.Versions.Count > 0 ? s.Versions[^1] : null;

    public IReadOnlyList<RegisteredSchema> Versions(string subject) =>
        _subjects.TryGetValue(subject, out var s) ? [.. s.Versions] : [];

    public CompatibilityLevel LevelOf(string? subject) =>
        subject is not null && _levels.TryGetValue(subject, out var level) ? level : _defaultLevel;

    /// <summary>The version of <paramref name="subject"/> with the same canonical form, if any.</summary>
    public RegisteredSchema? Find(string subject, string canonical) =>
        _subjects.TryGetValue(subject, out var s) && s.ByCanonical.TryGetValue(canonical, out var found) ? found : null;

    /// <summary>What applying a registration would do now, without applying it.</summary>
    public IReadOnlyList<SchemaCompatibilityProblem> Check(string subject, Schema schema) =>
        SchemaCompatibility.Check(LevelOf(subject), schema, Versions(subject));

    private SchemaLogOutcome ApplyRegistration(long offset, string subject, string schemaText)
    {
        Schema schema;
        try
        {
            schema = Schema.Parse(schemaText);
        }
        catch (SchemaParseException e)
        {
            return new SchemaLogOutcome.Invalid($"the schema at offset {offset.ToString(CultureInfo.InvariantCulture)} does not parse: {e.Message}");
        }

        var canonical = SchemaCanonicalForm.Of(schema);
        if (Find(subject, canonical) is { } existing)
        {
            return new SchemaLogOutcome.Registered(existing);
        }

        var level = LevelOf(subject);
        var problems = SchemaCompatibility.Check(level, schema, Versions(subject));
        if (problems.Count > 0)
        {
            return new SchemaLogOutcome.Incompatible(subject, level, problems);
        }

        if (!_idByCanonical.TryGetValue(canonical, out var id))
        {
            if (offset >= int.MaxValue)
            {
                return new SchemaLogOutcome.Invalid(
                    $"the schema at offset {offset.ToString(CultureInfo.InvariantCulture)} cannot get an id: ids are offset + 1 and must fit in an int32");
            }

            id = checked((int)offset + 1);
            _idByCanonical.Add(canonical, id);
            _byId.Add(id, schema);
        }

        if (!_subjects.TryGetValue(subject, out var state))
        {
            state = new Subject();
            _subjects.Add(subject, state);
        }

        var registered = new RegisteredSchema(subject, state.Versions.Count + 1, id, _byId[id]);
        state.Versions.Add(registered);
        state.ByCanonical.Add(canonical, registered);
        return new SchemaLogOutcome.Registered(registered);
    }

    private sealed class Subject
    {
        public List<RegisteredSchema> Versions { get; } = [];

        public Dictionary<string, RegisteredSchema> ByCanonical { get; } = new(StringComparer.Ordinal);
    }
}
