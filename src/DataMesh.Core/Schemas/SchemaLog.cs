using System.Globalization;
using System.Security.Cryptography;
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

    /// <summary>A version of a subject deleted (soft: its id still resolves).</summary>
    public sealed record Deleted(string Subject, int Version) : SchemaLogOutcome;

    /// <summary>A compatibility level set.</summary>
    public sealed record ConfigApplied : SchemaLogOutcome;

    /// <summary>The genesis record at offset 0 (<paramref name="Applied"/>), or a later one, ignored (a concurrent start).</summary>
    public sealed record Genesis(bool Applied) : SchemaLogOutcome;

    /// <summary>
    /// A record stamped by another store than the one this log started with (or not stamped, in a log that has a store id):
    /// not applied, by every reader alike. The store checks that it is not itself the one out of date.
    /// </summary>
    public sealed record Foreign(Guid? Store) : SchemaLogOutcome;
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
/// <item><description><c>{"format":1,"kind":"genesis","store":UUID,"idBase":N}</c>, at offset 0 only</description></item>
/// <item><description><c>{"format":1,"kind":"register","subject":S,"schema":JSON}</c></description></item>
/// <item><description><c>{"format":1,"kind":"config","subject":S or null,"level":"BACKWARD"}</c></description></item>
/// <item><description><c>{"format":1,"kind":"delete","subject":S,"version":N}</c>: deletes version N of S if S has it
/// (else the record is <see cref="SchemaLogOutcome.Invalid"/> and changes nothing). A deleted version is no longer listed,
/// found or checked against; its number is never given again; its id still resolves. A later registration of the same
/// schema makes a new version with the same id.</description></item>
/// </list>
/// <para>
/// The log must be read whole, from offset 0, without gaps: an id is an offset, so a log missing records (deleted by
/// retention, compacted, or dropped by the embedded cluster past 5 MB per partition) would give missing or different
/// schemas. <see cref="Apply"/> and <see cref="End"/> refuse a gap or a step back with an
/// <see cref="InvalidOperationException"/>; the store then stops.
/// </para>
/// <para>
/// Identity: the record at offset 0 of a log written by this version is a genesis record, written by the store that
/// found the topic empty. It names the store (a random UUID) and the base of its ids (random, from 2^20 to 2^30), so a
/// topic deleted and created again is another store whose ids are disjoint from the old one's: data encoded with an old
/// id finds no schema (an error) instead of a different one. Every later record carries the store's UUID in its
/// <c>datamesh-store</c> header; a record of another store (written by an instance still on the old topic) is not
/// applied (<see cref="SchemaLogOutcome.Foreign"/>). A log whose offset 0 is not a genesis record was written before
/// store identities: its id base is 1 (ids are offset + 1) and its records are not stamped.
/// </para>
/// <para>A registration record at offset <c>o</c> for subject <c>S</c> and schema <c>X</c> is applied so:</para>
/// <list type="number">
/// <item><description>if <c>S</c> has a version whose canonical form (<see cref="SchemaCanonicalForm"/>) equals <c>X</c>'s,
/// the outcome is that version (idempotent registration; no new version);</description></item>
/// <item><description>else <c>X</c> is checked against <c>S</c>'s versions at <c>S</c>'s level as it stands at <c>o</c>
/// (the last config record before <c>o</c>); on problems the record is rejected and changes nothing;</description></item>
/// <item><description>else <c>X</c> becomes <c>S</c>'s next version (one more than the highest it ever had, deleted or not). Its id is the id of the first accepted registration
/// (in any subject) with the same canonical form, or, if there is none, <c>base + o</c>: offsets in one partition are
/// unique, so ids are unique, positive, and need no coordination. Offsets whose id would pass <see cref="int.MaxValue"/>
/// are rejected (the Confluent wire format has 32-bit ids).</description></item>
/// </list>
/// <para>Records of an unknown format or kind are skipped by every reader alike.</para>
/// </remarks>
internal sealed class SchemaLog
{
    public const int Format = 1;

    /// <summary>The id base of a log written before store identities (no genesis record): ids are offset + 1.</summary>
    public const int LegacyIdBase = 1;

    /// <summary>The header that names the store a record belongs to (16 bytes, a UUID).</summary>
    public const string StoreHeader = "datamesh-store";

    private readonly Dictionary<int, Schema> _byId = [];
    private readonly Dictionary<string, int> _idByCanonical = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Subject> _subjects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CompatibilityLevel> _levels = new(StringComparer.Ordinal);
    private CompatibilityLevel _defaultLevel = CompatibilityLevel.Backward;

    /// <summary>The number of distinct schemas (ids).</summary>
    public int SchemaCount => _byId.Count;

    /// <summary>The next offset to apply: every record before it was applied, in order.</summary>
    public long Position { get; private set; }

    /// <summary>The store's UUID from the genesis record; null for a log written before store identities, or before offset 0 is applied.</summary>
    public Guid? StoreId { get; private set; }

    /// <summary>The id of the record at offset 0 would be this (ids are <c>IdBase + offset</c>); 0 until offset 0 is applied.</summary>
    public int IdBase { get; private set; }

    /// <summary>A random id base for a new store, from 2^20 to 2^30, leaving room for 2^30 offsets.</summary>
    public static int NewIdBase() => RandomNumberGenerator.GetInt32(1 << 20, 1 << 30);

    public static byte[] EncodeGenesis(Guid store, int idBase) => Encode("genesis", json =>
    {
        json.WriteString("store", store.ToString("D"));
        json.WriteNumber("idBase", idBase);
    });

    /// <summary>Reads the store's UUID from a genesis record, or null if <paramref name="value"/> is not one.</summary>
    public static Guid? ReadGenesisStore(ReadOnlySpan<byte> value) =>
        Parse(0, value, out _) is { Kind: "genesis", IdBase: >= 1, Store: { } store } && Guid.TryParse(store, out var id) ? id : null;

    /// <summary>Whether <paramref name="id"/> is one this log could have given: from its base up to its position.</summary>
    public bool CouldHaveIssued(int id) => IdBase > 0 && id >= IdBase && id - (long)IdBase < Position;

    /// <summary>
    /// Checks that the end of the partition at <paramref name="offset"/> (where a read found no more records) leaves no
    /// record unread.
    /// </summary>
    /// <exception cref="InvalidOperationException">Records before <paramref name="offset"/> were never applied: they are missing.</exception>
    public void End(long offset)
    {
        if (offset > Position)
        {
            throw Missing(Position, offset);
        }
    }

    public static byte[] EncodeRegistration(string subject, Schema schema) => Encode("register", json =>
    {
        json.WriteString("subject", subject);
        json.WriteString("schema", schema.ToString());
    });

    public static byte[] EncodeConfig(string? subject, CompatibilityLevel level) => Encode("config", json =>
    {
        json.WriteString("subject", subject);
        json.WriteString("level", SchemaIncompatibleException.LevelName(level));
    });

    public static byte[] EncodeDelete(string subject, int version) => Encode("delete", json =>
    {
        json.WriteString("subject", subject);
        json.WriteNumber("version", version);
    });

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

    /// <summary>Applies the record at <paramref name="offset"/>, the next one (<see cref="Position"/>).</summary>
    /// <param name="offset">The record's offset.</param>
    /// <param name="value">The record's value.</param>
    /// <param name="store">The record's <see cref="StoreHeader"/>, or null when it has none.</param>
    /// <exception cref="InvalidOperationException">
    /// <paramref name="offset"/> is not <see cref="Position"/>: records are missing (a gap) or the log went back (the topic
    /// was deleted and created again).
    /// </exception>
    public SchemaLogOutcome Apply(long offset, ReadOnlySpan<byte> value, Guid? store = null)
    {
        if (offset > Position)
        {
            throw Missing(Position, offset);
        }

        if (offset < Position)
        {
            throw new InvalidOperationException(
                $"the log went back from offset {Position.ToString(CultureInfo.InvariantCulture)} to {offset.ToString(CultureInfo.InvariantCulture)}: " + Recreated);
        }

        Position = offset + 1;
        var record = Parse(offset, value, out var invalid);
        if (record.Kind == "genesis" && Guid.TryParse(record.Store, out var genesisStore) && record.IdBase >= 1)
        {
            if (offset > 0)
            {
                return new SchemaLogOutcome.Genesis(Applied: false);
            }

            StoreId = genesisStore;
            IdBase = record.IdBase;
            return new SchemaLogOutcome.Genesis(Applied: true);
        }

        if (offset == 0)
        {
            IdBase = LegacyIdBase;
        }

        if (store != StoreId)
        {
            return new SchemaLogOutcome.Foreign(store);
        }

        if (invalid is not null)
        {
            return invalid;
        }

        switch (record.Kind)
        {
            case "register" when record.Subject is not null && record.Schema is not null:
                return ApplyRegistration(offset, record.Subject, record.Schema);
            case "config" when TryParseLevel(record.Level, out var level):
                if (record.Subject is null)
                {
                    _defaultLevel = level;
                }
                else
                {
                    _levels[record.Subject] = level;
                }

                return new SchemaLogOutcome.ConfigApplied();
            case "delete" when record.Subject is not null && record.Version >= 1:
                return ApplyDelete(offset, record.Subject, record.Version);
            default:
                return new SchemaLogOutcome.Invalid($"record at offset {offset.ToString(CultureInfo.InvariantCulture)} has an unknown kind '{record.Kind}' or lacks fields");
        }
    }

    public bool TryGetById(int id, out Schema schema) => _byId.TryGetValue(id, out schema!);

    /// <summary>The subjects that have at least one version, in ordinal order.</summary>
    public IReadOnlyList<string> Subjects() =>
        [.. _subjects.Where(s => s.Value.Versions.Count > 0).Select(s => s.Key).Order(StringComparer.Ordinal)];

    /// <summary>Whether <paramref name="subject"/> has version <paramref name="version"/> (not deleted).</summary>
    public bool HasVersion(string subject, int version) =>
        _subjects.TryGetValue(subject, out var s) && s.Versions.Exists(v => v.Version == version);

    public RegisteredSchema? Latest(string subject) =>
        _subjects.TryGetValue(subject, out var s) && s.Versions.Count > 0 ? s.Versions[^1] : null;

    public IReadOnlyList<RegisteredSchema> Versions(string subject) =>
        _subjects.TryGetValue(subject, out var s) ? [.. s.Versions] : [];

    /// <summary>The versions of <paramref name="subject"/> that were deleted, by version.</summary>
    public IReadOnlyList<RegisteredSchema> DeletedVersions(string subject) =>
        _subjects.TryGetValue(subject, out var s) ? [.. s.Deleted.OrderBy(v => v.Version)] : [];

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
        string canonical;
        CompatibilityLevel level;
        IReadOnlyList<SchemaCompatibilityProblem> problems;
        try
        {
            // Apache.Avro returns null for some JSON it does not recognise as a schema.
            schema = Schema.Parse(schemaText) ?? throw new SchemaParseException("it is not a schema");
            canonical = SchemaCanonicalForm.Of(schema);
            if (Find(subject, canonical) is { } existing)
            {
                return new SchemaLogOutcome.Registered(existing);
            }

            level = LevelOf(subject);
            problems = SchemaCompatibility.Check(level, schema, Versions(subject));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Any client that may write the topic can forge a record, and Apache.Avro is not hardened: on hostile text its
            // parser throws its own exceptions, its JSON reader's, ArgumentException, InvalidCastException,
            // NullReferenceException..., and what it parses may print as invalid JSON (found by SchemaLogFuzzTests).
            // Whatever is thrown, the record is skipped: the log goes on.
            return new SchemaLogOutcome.Invalid($"the schema at offset {offset.ToString(CultureInfo.InvariantCulture)} does not parse or cannot be checked: {e.Message}");
        }

        if (problems.Count > 0)
        {
            return new SchemaLogOutcome.Incompatible(subject, level, problems);
        }

        if (!_idByCanonical.TryGetValue(canonical, out var id))
        {
            if (offset > int.MaxValue - (long)IdBase)
            {
                return new SchemaLogOutcome.Invalid(
                    $"the schema at offset {offset.ToString(CultureInfo.InvariantCulture)} cannot get an id: ids are " +
                    $"{IdBase.ToString(CultureInfo.InvariantCulture)} + offset and must fit in an int32");
            }

            id = checked(IdBase + (int)offset);
            _idByCanonical.Add(canonical, id);
            _byId.Add(id, schema);
        }

        if (!_subjects.TryGetValue(subject, out var state))
        {
            state = new Subject();
            _subjects.Add(subject, state);
        }

        state.LastVersion++;
        var registered = new RegisteredSchema(subject, state.LastVersion, id, _byId[id]);
        state.Versions.Add(registered);
        state.ByCanonical.Add(canonical, registered);
        return new SchemaLogOutcome.Registered(registered);
    }

    private SchemaLogOutcome ApplyDelete(long offset, string subject, int version)
    {
        if (!_subjects.TryGetValue(subject, out var state) || state.Versions.FindIndex(v => v.Version == version) is var index && index < 0)
        {
            return new SchemaLogOutcome.Invalid(
                $"the delete at offset {offset.ToString(CultureInfo.InvariantCulture)} names version {version.ToString(CultureInfo.InvariantCulture)} of subject '{subject}', which it does not have");
        }

        var deleted = state.Versions[index];
        state.Versions.RemoveAt(index);
        state.Deleted.Add(deleted);
        foreach (var (canonical, registered) in state.ByCanonical)
        {
            if (registered == deleted)
            {
                state.ByCanonical.Remove(canonical);
                break;
            }
        }

        return new SchemaLogOutcome.Deleted(subject, version);
    }

    /// <summary>The error for offsets <paramref name="from"/> to <paramref name="to"/> (exclusive) missing from the log.</summary>
    internal static InvalidOperationException Missing(long from, long to) =>
        new(from == 0
            ? $"the topic does not start at offset 0: {(to == 1 ? "offset 0 is" : $"offsets 0 to {(to - 1).ToString(CultureInfo.InvariantCulture)} are")} missing. " + Lost
            : $"{(to - from == 1 ? $"offset {from.ToString(CultureInfo.InvariantCulture)} is" : $"offsets {from.ToString(CultureInfo.InvariantCulture)} to {(to - 1).ToString(CultureInfo.InvariantCulture)} are")} missing. " + Lost);

    /// <summary>What a store that finds its topic deleted and created again under it says, and what to do.</summary>
    public const string Recreated =
        "the topic was deleted and created again (or lost records) while this instance ran, and the instance stops rather than mix two stores' schemas. " +
        "Restart every instance to load the topic as it is now. Data encoded with the earlier store's ids cannot be decoded with a new store (the ids are unknown there): " +
        "do not delete the schema topic while such data exists";

    private const string Lost =
        "Records of the schema log were deleted (by retention or compaction, or dropped by the embedded Kafka cluster, which keeps at most 5 MB per partition). " +
        "Ids are offsets of this log, so a partial log would give missing or wrong schemas: the store refuses it. " +
        "Restore the topic from a copy; or, if no data encoded with its ids is left, delete the topic so that a new store (with new ids) is created. " +
        "A schema topic must keep every record (cleanup.policy=delete, retention.ms=-1, retention.bytes=-1, never compacted, as DataMesh creates it), " +
        "and in production it must be on a real Kafka cluster (DataMesh:Kafka:BootstrapServers)";

    private static byte[] Encode(string kind, Action<Utf8JsonWriter> fields)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("format", Format);
            json.WriteString("kind", kind);
            fields(json);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static Record Parse(long offset, ReadOnlySpan<byte> value, out SchemaLogOutcome.Invalid? invalid)
    {
        invalid = null;
        try
        {
            var reader = new Utf8JsonReader(value);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object ||
                !root.TryGetProperty("format", out var format) || !format.TryGetInt32(out var f) || f != Format ||
                !root.TryGetProperty("kind", out var kind) || kind.ValueKind != JsonValueKind.String)
            {
                invalid = new SchemaLogOutcome.Invalid($"record at offset {offset.ToString(CultureInfo.InvariantCulture)} is not a format {Format} schema log record");
                return default;
            }

            return new Record(
                kind.GetString()!,
                String(root, "subject"),
                String(root, "schema"),
                String(root, "level"),
                String(root, "store"),
                root.TryGetProperty("idBase", out var b) && b.TryGetInt32(out var idBase) ? idBase : 0,
                root.TryGetProperty("version", out var v) && v.TryGetInt32(out var version) ? version : 0);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-8, met when it is read.
            invalid = new SchemaLogOutcome.Invalid($"record at offset {offset.ToString(CultureInfo.InvariantCulture)} is not JSON: {e.Message}");
            return default;
        }

        static string? String(JsonElement root, string name) =>
            root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
    }

    /// <summary>The fields of one record of the log.</summary>
    private readonly record struct Record(string? Kind, string? Subject, string? Schema, string? Level, string? Store, int IdBase, int Version);

    private sealed class Subject
    {
        public List<RegisteredSchema> Versions { get; } = [];

        public Dictionary<string, RegisteredSchema> ByCanonical { get; } = new(StringComparer.Ordinal);

        /// <summary>The versions deleted (softly: their ids still resolve), in the order they were deleted.</summary>
        public List<RegisteredSchema> Deleted { get; } = [];

        /// <summary>The highest version the subject ever had, deleted or not; 0 before its first.</summary>
        public int LastVersion { get; set; }
    }
}
