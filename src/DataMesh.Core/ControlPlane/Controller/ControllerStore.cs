using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Sources;

namespace DataMesh.ControlPlane.Controller;

/// <summary>The applied definition, as the controller keeps it: the file's text (secret references unresolved; a file
/// holding a literal secret is refused before it gets here) and the hash of each component's settings.</summary>
/// <param name="Generation">Counts applies: 1 for the first.</param>
/// <param name="AppliedAt">When it was applied.</param>
/// <param name="Text">The definition file's text.</param>
/// <param name="Components">Each component (<c>source/NAME</c>, <c>pipeline/NAME</c>) with the hash of what it runs with.</param>
internal sealed record DefinitionRecord(long Generation, DateTimeOffset AppliedAt, string Text, Dictionary<string, string> Components);

/// <summary>A snapshot asked for with <c>datamesh snapshot</c>, waiting for the runner that holds the source.</summary>
internal sealed record SnapshotRequestRecord(string Id, List<string> Tables, string? Condition, DateTimeOffset RequestedAt);

/// <summary>A restart asked for with <c>datamesh resume</c> (a failed component starts again).</summary>
internal sealed record RestartRecord(string Id);

/// <summary>What one runner reports about one component it runs; for the source it holds, the source's registration:
/// its stored position and its tables with their value schemas.</summary>
internal sealed record StatusRecord(
    string Component,
    string Runner,
    string State,
    string? Message,
    string Hash,
    DateTimeOffset UpdatedAt,
    List<SnapshotTableStatus>? Snapshot,
    string? Position = null,
    List<TableRegistration>? Tables = null,
    long? RecordsRead = null,
    long? DeadLettered = null);

/// <summary>The controller's state, read from its topic.</summary>
internal sealed class ControllerState
{
    public DefinitionRecord? Definition { get; set; }

    public HashSet<string> Paused { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> Restarts { get; } = new(StringComparer.Ordinal);

    /// <summary>Snapshot requests not handled yet, by their key after <c>snapshot/</c>: <c>SOURCE/ID</c>, one per request, so
    /// that a second request never replaces a first one no runner has read yet, and a runner removes only what it handled.</summary>
    public Dictionary<string, SnapshotRequestRecord> Snapshots { get; } = new(StringComparer.Ordinal);

    /// <summary>The source a snapshot request is for, from its key in <see cref="Snapshots"/>.</summary>
    public static string SnapshotSource(string key) => key.LastIndexOf('/') is var slash and > 0 ? key[..slash] : key;

    /// <summary>The key (after <c>snapshot/</c>) of a request for <paramref name="source"/>.</summary>
    public static string SnapshotKey(string source, string id) => source + "/" + id;
}

/// <summary>
/// Keeps the controller's state in a compacted topic of one partition (<see cref="DataMeshControllerOptions.StateTopic"/>):
/// key <c>definition</c> holds the applied definition; <c>paused/COMPONENT</c>, <c>restart/COMPONENT</c> and
/// <c>snapshot/SOURCE/ID</c> what <c>pause</c>, <c>resume</c> and <c>snapshot</c> asked for (a tombstone undoes one). The
/// runners' reports go to a topic of their own (<c>STATE_TOPIC.status</c>), so that they never push the state out of a
/// bounded topic. Every process reads the same topics: the state survives a restart of every process.
/// </summary>
internal sealed class ControllerStore(KafkaConnection kafka, string topic) : IDisposable
{
    public const string DefinitionKey = "definition";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private readonly Lazy<IProducer<string, byte[]?>> _producer = new(() =>
    {
        var config = kafka.CreateProducerConfig();
        config.Acks = Acks.All;
        config.EnableIdempotence = true;
        // Unlike positions, a controller record that Kafka cannot take is an error to report, not a wait without end.
        config.MessageTimeoutMs = (int)Math.Min(int.MaxValue, kafka.Options.RequestTimeout.TotalMilliseconds);
        return new ProducerBuilder<string, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
    });

    private bool _ensured;

    public string Topic => topic;

    public string StatusTopic => topic + ".status";

    /// <summary>Reads the state: every record of the state topic, the latest of each key winning. Empty when the topic does not exist.</summary>
    /// <exception cref="InvalidOperationException">Records were deleted from the topic (retention), so the state read could be incomplete.</exception>
    public async Task<ControllerState> ReadAsync(CancellationToken cancellationToken)
    {
        var state = new ControllerState();
        if (!(await kafka.ListTopicsAsync(cancellationToken).ConfigureAwait(false)).ContainsKey(topic))
        {
            return state;
        }

        var first = await TopicReader.ReadToEndAsync(kafka, topic, "the controller's state", record => Apply(state, record.Key, record.Value), cancellationToken)
            .ConfigureAwait(false);
        if (first > 0)
        {
            throw new InvalidOperationException(
                $"The controller's state topic '{topic}' has lost records before offset {first} (retention or the embedded cluster's size limit); " +
                "the state read from it may be incomplete. Give the topic cleanup.policy=compact and no time or size retention, then apply the definition again.");
        }

        return state;
    }

    /// <summary>Reads the runners' latest reports.</summary>
    public async Task<List<StatusRecord>> ReadStatusAsync(CancellationToken cancellationToken)
    {
        var latest = new Dictionary<string, StatusRecord>(StringComparer.Ordinal);
        if (!(await kafka.ListTopicsAsync(cancellationToken).ConfigureAwait(false)).ContainsKey(StatusTopic))
        {
            return [];
        }

        await TopicReader.ReadToEndAsync(kafka, StatusTopic, "the runners' status", record =>
        {
            var key = Encoding.UTF8.GetString(record.Key);
            if (record.Value is null)
            {
                latest.Remove(key);
            }
            else if (JsonSerializer.Deserialize<StatusRecord>(record.Value, Json) is { } status)
            {
                latest[key] = status;
            }
        }, cancellationToken).ConfigureAwait(false);
        return [.. latest.Values];
    }

    /// <summary>Writes a state record (null: a tombstone) and waits until Kafka acknowledged it.</summary>
    public Task WriteAsync(string key, object? value, CancellationToken cancellationToken) => ProduceAsync(topic, key, value, cancellationToken);

    /// <summary>Writes a runner's report.</summary>
    public Task WriteStatusAsync(StatusRecord status, CancellationToken cancellationToken) =>
        ProduceAsync(StatusTopic, status.Component + "/" + status.Runner, status, cancellationToken);

    /// <summary>Removes a runner's report (the component stopped there).</summary>
    public Task DeleteStatusAsync(string component, string runner, CancellationToken cancellationToken) =>
        ProduceAsync(StatusTopic, component + "/" + runner, null, cancellationToken);

    public void Dispose()
    {
        if (_producer.IsValueCreated)
        {
            _producer.Value.Flush(TimeSpan.FromSeconds(5));
            _producer.Value.Dispose();
        }
    }

    internal static void Apply(ControllerState state, byte[]? keyBytes, byte[]? value)
    {
        if (keyBytes is null)
        {
            return;
        }

        var key = Encoding.UTF8.GetString(keyBytes);
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var (kind, name) = slash < 0 ? (key, string.Empty) : (key[..slash], key[(slash + 1)..]);
        switch (kind)
        {
            case DefinitionKey:
                state.Definition = value is null ? null : JsonSerializer.Deserialize<DefinitionRecord>(value, Json);
                break;
            case "paused":
                _ = value is null ? state.Paused.Remove(name) : state.Paused.Add(name);
                break;
            case "restart":
                if (value is null)
                {
                    state.Restarts.Remove(name);
                }
                else if (JsonSerializer.Deserialize<RestartRecord>(value, Json) is { } restart)
                {
                    state.Restarts[name] = restart.Id;
                }

                break;
            case "snapshot":
                if (value is null)
                {
                    state.Snapshots.Remove(name);
                }
                else if (JsonSerializer.Deserialize<SnapshotRequestRecord>(value, Json) is { } request)
                {
                    state.Snapshots[name] = request;
                }

                break;
        }
    }

    private async Task ProduceAsync(string target, string key, object? value, CancellationToken cancellationToken)
    {
        if (!_ensured)
        {
            // Each is looked for first (KafkaConnection.CreateTopicAsync): a cluster reached without the admin API (the
            // embedded one of another process) has them already.
            foreach (var name in new[] { topic, StatusTopic })
            {
                await kafka.EnsureTopicAsync(name, 1, TopicRetention.Compacted, cancellationToken).ConfigureAwait(false);
            }

            _ensured = true;
        }

        var bytes = value is null ? null : JsonSerializer.SerializeToUtf8Bytes(value, value.GetType(), Json);
        await _producer.Value.ProduceAsync(target, new Message<string, byte[]?> { Key = key, Value = bytes }, cancellationToken).ConfigureAwait(false);
    }
}
