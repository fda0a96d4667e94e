using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Producer.Emitting;
using DataMesh.Producer.Outbox;
using DataMesh.Producer.Serialization;
using Microsoft.Extensions.Options;

namespace DataMesh.Producer.Hosting;

/// <summary>Checks <see cref="ProducerOptions"/> at start, including every event type's schema derivation and topic;
/// each failure names the setting by its configuration path, or the event type and member.</summary>
internal sealed class ProducerOptionsValidator(IOptions<DataMeshOptions> dataMesh) : IValidateOptions<ProducerOptions>
{
    private const string Path = ProducerOptions.SectionName + ":";

    public ValidateOptionsResult Validate(string? name, ProducerOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Source))
        {
            failures.Add($"{Path}Source is required.");
        }

        if (options.QueueCapacity is < 1 or > 10_000_000)
        {
            failures.Add($"{Path}QueueCapacity must be between 1 and 10000000; it is {options.QueueCapacity}.");
        }

        if (options.TopicPartitions is < 1 or > 10_000)
        {
            failures.Add($"{Path}TopicPartitions must be between 1 and 10000; it is {options.TopicPartitions}.");
        }

        if (!Enum.IsDefined(options.QueueFullPolicy))
        {
            failures.Add($"{Path}QueueFullPolicy must be one of {string.Join(", ", Enum.GetNames<QueueFullPolicy>())}.");
        }

        Positive(failures, "QueueFullTimeout", options.QueueFullTimeout);
        Positive(failures, "ShutdownTimeout", options.ShutdownTimeout);
        Positive(failures, "RetryBackoff", options.RetryBackoff);
        Positive(failures, "MaxRetryBackoff", options.MaxRetryBackoff);
        if (options.DeliveryTimeout is { } delivery && delivery <= TimeSpan.Zero)
        {
            failures.Add($"{Path}DeliveryTimeout must be positive, or empty to retry until delivered; it is {delivery}.");
        }

        foreach (var key in options.KafkaSettings.Keys)
        {
            if (key is "bootstrap.servers" or "enable.idempotence" or "acks" or "message.timeout.ms" or "delivery.timeout.ms" or "dotnet.producer.delivery.report.fields" or "transactional.id"
                or "dotnet.producer.enable.delivery.reports" or "dotnet.producer.enable.background.poll")
            {
                failures.Add($"{Path}KafkaSettings:{key} is managed by DataMesh and cannot be overridden.");
            }
        }

        if (options.Outbox is { } outbox)
        {
            if (!OutboxSql.IsValidTableName(outbox.Table))
            {
                failures.Add($"{Path}Outbox:Table '{outbox.Table}' must be an identifier or schema.identifier of letters, digits and '_', the table's own name at most 57 characters (its lease table adds '_lease'; PostgreSQL cuts names at 63).");
            }

            if (!Enum.IsDefined(outbox.Dialect))
            {
                failures.Add($"{Path}Outbox:Dialect must be one of {string.Join(", ", Enum.GetNames<OutboxDialect>())}.");
            }

            if (outbox.RelayEnabled && outbox.DataSource is null)
            {
                failures.Add($"{Path}Outbox:RelayEnabled needs a data source: call o.Outbox.UseRelay(sp => <NpgsqlDataSource or MySqlDataSource>).");
            }

            if (outbox.BatchSize is < 1 or > 10_000)
            {
                failures.Add($"{Path}Outbox:BatchSize must be between 1 and 10000; it is {outbox.BatchSize}.");
            }

            Positive(failures, "Outbox:PollInterval", outbox.PollInterval);
            Positive(failures, "Outbox:LeaseDuration", outbox.LeaseDuration);
            Positive(failures, "Outbox:DeliveryTimeout", outbox.DeliveryTimeout);
            if (outbox.RelayEnabled && outbox.DeliveryTimeout > outbox.LeaseDuration / 2)
            {
                failures.Add(
                    $"{Path}Outbox:DeliveryTimeout ({outbox.DeliveryTimeout}) must be at most half of {Path}Outbox:LeaseDuration ({outbox.LeaseDuration}): " +
                    "the relay hands a row to Kafka only while its lease has DeliveryTimeout and a quarter of LeaseDuration left, so that a stalled " +
                    "send fails before another relay can take the lease. Lower DeliveryTimeout or raise LeaseDuration.");
            }

            foreach (var linger in new[] { "linger.ms", "queue.buffering.max.ms" })
            {
                if (outbox.RelayEnabled && options.KafkaSettings.TryGetValue(linger, out var text)
                    && double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms >= outbox.DeliveryTimeout.TotalMilliseconds)
                {
                    failures.Add($"{Path}KafkaSettings:{linger} ({text}) must be shorter than {Path}Outbox:DeliveryTimeout ({outbox.DeliveryTimeout}), the relay's message.timeout.ms.");
                }
            }
        }

        if (options.EventTypes.Count == 0)
        {
            failures.Add($"{Path}: no event type was added; call o.AddEvent<TEvent>() for each event the application emits.");
        }

        var prefix = options.TopicPrefix ?? dataMesh.Value.Events?.TopicPrefix ?? string.Empty;
        foreach (var type in options.EventTypes)
        {
            try
            {
                EventSchemaBuilder.Build(type);
            }
            catch (NotSupportedException ex)
            {
                failures.Add(ex.Message);
            }

            var topic = EventEmitter.TopicOf(type, options, prefix, options.Source ?? "app");
            if (!TopicNames.IsValid(topic, out var reason))
            {
                failures.Add($"Event type '{type.FullName}': topic '{topic}' is not valid: {reason}.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Positive(List<string> failures, string setting, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            failures.Add($"{Path}{setting} must be positive; it is {value}.");
        }
    }
}
