using System.Globalization;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Logging;

namespace DataMesh.Hosting;

/// <summary>
/// Creates topics through Kafka's admin API for <see cref="KafkaConnection"/> and the Kafka schema store, and turns a
/// cluster that does not answer into an error that names the bootstrap servers, says what did not answer (no broker at
/// all, or only the admin API) and what to set. Messages name the client settings in use, never their values but for
/// <see cref="ShownSettings"/>: a <c>sasl.password</c> never appears.
/// </summary>
internal static partial class KafkaAdmin
{
    /// <summary>Settings whose values a message may show; every other setting is named without its value.</summary>
    private static readonly HashSet<string> ShownSettings = new(StringComparer.Ordinal) { "security.protocol", "sasl.mechanism", "sasl.mechanisms" };

    /// <summary>The longest wait for the metadata request that tells "no broker answers" from "only the admin API does not".</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Creates a topic unless it exists (asked first, so a cluster without the admin API serves topics that exist).</summary>
    /// <param name="config">The admin client's settings (bootstrap servers, the user's settings).</param>
    /// <param name="userSettings">The settings the user gave, for messages (names, and the values of harmless ones).</param>
    /// <param name="topic">The topic to create.</param>
    /// <param name="timeout">How long the cluster may take to answer.</param>
    /// <param name="logger">Receives the admin client's own log lines (Debug).</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>True when this call created the topic; false when it existed.</returns>
    /// <exception cref="TimeoutException">No broker answered, or the brokers answer but the admin API did not; the message
    /// says which and what to set.</exception>
    /// <exception cref="InvalidOperationException">The cluster refused to create the topic (authorisation, policy, invalid
    /// settings); the message names the topic, the reason and what to do.</exception>
    public static async Task<bool> CreateTopicAsync(
        AdminClientConfig config,
        IEnumerable<KeyValuePair<string, string>> userSettings,
        TopicSpecification topic,
        TimeSpan timeout,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        // What the client last saw go wrong, for the message: a refused connection, a handshake without an answer ...
        // "1/1 brokers are down" follows the error that says why; keep the why.
        string? lastError = null;
        var admin = new AdminClientBuilder(config)
            .SetLogHandler((_, m) =>
            {
                lastError = Failure(m) ?? lastError;

                HostingLog.AdminClient(logger, m.Facility, m.Message);
            })
            .SetErrorHandler((_, e) =>
            {
                if (e.Code != ErrorCode.Local_AllBrokersDown || lastError is null)
                {
                    lastError = e.Reason;
                }
            })
            .Build();
        Task<Metadata>? lookup = null;
        try
        {
            // Asked first, with a request that creates nothing: a topic that exists needs no admin API (a cluster without
            // one, such as another process's embedded cluster reached over TCP, then works with the topics it has).
            Metadata metadata;
            try
            {
                lookup = Task.Run(() => admin.GetMetadata(timeout), CancellationToken.None);
                metadata = await lookup.WaitAsync(timeout + ProbeTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsNoAnswer(ex) && !cancellationToken.IsCancellationRequested)
            {
                throw NoAnswer(config.BootstrapServers, $"listing the topics before creating topic '{topic.Name}'", timeout, lastError, userSettings, ex);
            }

            if (metadata.Topics.Any(t => t.Topic == topic.Name && !t.Error.IsError))
            {
                return false;
            }

            try
            {
                await admin.CreateTopicsAsync([topic], new CreateTopicsOptions { RequestTimeout = timeout, OperationTimeout = timeout })
                    .WaitAsync(timeout + ProbeTimeout, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (CreateTopicsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
            {
                return false;
            }
            catch (CreateTopicsException ex) when (ex.Results.FirstOrDefault(r => IsRefusal(r.Error.Code)) is { } refused)
            {
                throw new InvalidOperationException(
                    $"Kafka at {config.BootstrapServers} refused to create topic '{topic.Name}': {refused.Error.Code} ({refused.Error.Reason}). " +
                    $"Create it beforehand ({Describe(topic)}) with every other topic DataMesh uses and set DataMesh:Kafka:CreateTopics=false, " +
                    "or allow this client to create topics (a CREATE ACL on the cluster or the topics). " + SettingsInUse(userSettings),
                    ex);
            }
            catch (Exception ex) when (IsNoAnswer(ex) && !cancellationToken.IsCancellationRequested)
            {
                var operation = $"creating topic '{topic.Name}' through the admin API (CreateTopics)";
                if (await AnswersMetadataAsync(admin, timeout, cancellationToken).ConfigureAwait(false))
                {
                    throw new TimeoutException(
                        $"Kafka at {config.BootstrapServers} did not answer the admin API: {operation} got no answer within {Seconds(timeout)}, " +
                        "although the brokers answer metadata requests. Where the admin API is not allowed or not supported (some managed " +
                        $"clusters and proxies), create topic '{topic.Name}' beforehand ({Describe(topic)}) with every other topic DataMesh " +
                        "uses (table topics, positions, schemas, schema history) and set DataMesh:Kafka:CreateTopics=false. " + SettingsInUse(userSettings),
                        ex);
                }

                throw NoAnswer(config.BootstrapServers, operation, timeout, lastError, userSettings, ex);
            }
        }
        finally
        {
            if (lookup is { IsCompleted: false })
            {
                // Cancelled while the lookup runs on the client's handle: disposed once it ended, never under it.
                _ = lookup.ContinueWith(_ => admin.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
            else
            {
                DisposeLater(admin);
            }
        }
    }

    /// <summary>Disposes a Kafka client on a thread-pool thread: librdkafka's destroy waits for the client's threads (about
    /// 150 ms for an admin client, measured on the embedded cluster), which a caller done with the client need not wait for.</summary>
    /// <param name="client">The client, no longer used.</param>
    internal static void DisposeLater(IDisposable client) => _ = Task.Run(client.Dispose);

    /// <summary>What a client's log line says went wrong with a connection (librdkafka's FAIL lines: a refused
    /// connection, a handshake without an answer), without the thread prefix; null for any other line.</summary>
    public static string? Failure(LogMessage message) => message.Facility == "FAIL" ? ThreadPrefix().Replace(message.Message, string.Empty) : null;

    /// <summary>The error for a cluster where no broker answered.</summary>
    /// <param name="bootstrapServers">The servers tried.</param>
    /// <param name="operation">What got no answer ("creating topic 'x' ...", "reading positions from topic 'y'").</param>
    /// <param name="timeout">How long it waited.</param>
    /// <param name="clientError">The Kafka client's last error (connection refused, a timed-out handshake), or null.</param>
    /// <param name="userSettings">The user's client settings, for the message.</param>
    /// <param name="inner">The error that showed it.</param>
    public static TimeoutException NoAnswer(string bootstrapServers, string operation, TimeSpan timeout, string? clientError, IEnumerable<KeyValuePair<string, string>> userSettings, Exception inner) =>
        new(
            $"Kafka at {bootstrapServers} did not answer: {operation} got no answer within {Seconds(timeout)}, and no broker answered a metadata " +
            $"request ({clientError ?? inner.Message}). Check DataMesh:Kafka:BootstrapServers: the cluster's listeners, host:port, reachable " +
            "from here. A cluster that requires TLS or SASL also needs DataMesh:Kafka:Settings, e.g. security.protocol=SSL or SASL_SSL " +
            "with sasl.mechanism, sasl.username and sasl.password. " + SettingsInUse(userSettings),
            inner);

    /// <summary>Whether an error means that the cluster did not answer (a timeout, no connection), not that it refused.</summary>
    /// <param name="exception">The error.</param>
    public static bool IsNoAnswer(Exception exception) => exception switch
    {
        TimeoutException => true,
        CreateTopicsException create => create.Results.Any(r => r.Error.Code == ErrorCode.RequestTimedOut),
        KafkaException kafka => kafka.Error.Code is ErrorCode.Local_TimedOut or ErrorCode.RequestTimedOut or ErrorCode.Local_Transport or
            ErrorCode.Local_AllBrokersDown or ErrorCode.Local_Resolve or ErrorCode.NetworkException,
        _ => false,
    };

    /// <summary>Whether a topic error is the cluster's refusal, which retrying does not change.</summary>
    /// <param name="code">The error.</param>
    public static bool IsRefusal(ErrorCode code) => code is ErrorCode.TopicAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed or
        ErrorCode.PolicyViolation or ErrorCode.InvalidConfig or ErrorCode.InvalidPartitions or ErrorCode.InvalidReplicationFactor or
        ErrorCode.InvalidReplicaAssignment or ErrorCode.TopicException;

    private static string SettingsInUse(IEnumerable<KeyValuePair<string, string>> settings)
    {
        var named = settings.OrderBy(s => s.Key, StringComparer.Ordinal)
            .Select(s => ShownSettings.Contains(s.Key) ? $"{s.Key}={s.Value}" : s.Key)
            .ToList();
        return named.Count == 0
            ? "DataMesh:Kafka:Settings sets nothing now."
            : $"DataMesh:Kafka:Settings sets {string.Join(", ", named)} now (values other than security.protocol and sasl.mechanism are not shown).";
    }

    private static string Describe(TopicSpecification topic) =>
        topic.NumPartitions.ToString(CultureInfo.InvariantCulture) + (topic.NumPartitions == 1 ? " partition" : " partitions") +
        string.Concat((topic.Configs ?? []).OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $", {c.Key}={c.Value}"));

    private static string Seconds(TimeSpan timeout) => timeout.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s";

    /// <summary>Whether a broker answers a metadata request (of all topics, so that none is auto-created) within the timeout,
    /// at most <see cref="ProbeTimeout"/>.</summary>
    private static async Task<bool> AnswersMetadataAsync(IAdminClient admin, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            var wait = timeout < ProbeTimeout ? timeout : ProbeTimeout;
            var metadata = await Task.Run(() => admin.GetMetadata(wait), cancellationToken).ConfigureAwait(false);
            return metadata.Brokers.Count > 0;
        }
        catch (KafkaException)
        {
            return false;
        }
    }

    /// <summary>The "[thrd:...]: " that starts librdkafka's log lines.</summary>
    [GeneratedRegex(@"^\[thrd:[^\]]*\]:\s*")]
    private static partial Regex ThreadPrefix();
}
