using DataMesh.Events;
using Microsoft.Extensions.Options;

namespace DataMesh.Hosting;

/// <summary>Checks <see cref="DataMeshOptions"/> at start; each failure names the setting by its configuration path.</summary>
internal sealed class DataMeshOptionsValidator : IValidateOptions<DataMeshOptions>
{
    public ValidateOptionsResult Validate(string? name, DataMeshOptions options)
    {
        var failures = new List<string>();
        const string Kafka = DataMeshOptions.SectionName + ":Kafka:";
        const string Store = DataMeshOptions.SectionName + ":SchemaStore:";
        const string Events = DataMeshOptions.SectionName + ":Events:";

        if (options.Kafka is null)
        {
            failures.Add($"{DataMeshOptions.SectionName}:Kafka is required.");
        }
        else
        {
            if (!string.IsNullOrWhiteSpace(options.Kafka.BootstrapServers))
            {
                foreach (var server in options.Kafka.BootstrapServers.Split(',', StringSplitOptions.TrimEntries))
                {
                    var colon = server.LastIndexOf(':');
                    if (colon <= 0 || !ushort.TryParse(server.AsSpan(colon + 1), out var port) || port == 0)
                    {
                        failures.Add($"{Kafka}BootstrapServers: '{server}' is not host:port.");
                    }
                }
            }
            else if (options.Kafka.EmbeddedBrokers is < 1 or > 32)
            {
                failures.Add($"{Kafka}EmbeddedBrokers must be between 1 and 32; it is {options.Kafka.EmbeddedBrokers}.");
            }

            if (options.Kafka.RequestTimeout <= TimeSpan.Zero || options.Kafka.RequestTimeout > TimeSpan.FromHours(1))
            {
                // Bounded: it becomes timers and librdkafka timeouts in milliseconds (an int), which a month would overflow.
                failures.Add($"{Kafka}RequestTimeout must be more than 0 and at most 1 hour; it is {options.Kafka.RequestTimeout}.");
            }

            foreach (var key in options.Kafka.Settings.Keys)
            {
                // message.timeout.ms (and its alias delivery.timeout.ms) is 0 for every DataMesh producer: a stored position
                // or a deleted outbox row never moves past an event Kafka has not acknowledged; delivery reports and their
                // background poll are how an acknowledgement is known at all.
                if (key is "bootstrap.servers" or "enable.idempotence" or "enable.auto.commit" or "acks" or "request.required.acks" or "enable.auto.offset.store"
                    or "message.timeout.ms" or "delivery.timeout.ms" or "transactional.id"
                    or "dotnet.producer.delivery.report.fields" or "dotnet.producer.enable.delivery.reports" or "dotnet.producer.enable.background.poll")
                {
                    failures.Add($"{Kafka}Settings:{key} is managed by DataMesh and cannot be overridden.");
                }
            }
        }

        if (options.SchemaStore is null)
        {
            failures.Add($"{DataMeshOptions.SectionName}:SchemaStore is required.");
        }
        else
        {
            if (!Enum.IsDefined(options.SchemaStore.Kind))
            {
                failures.Add($"{Store}Kind must be one of {string.Join(", ", Enum.GetNames<SchemaStoreKind>())}.");
            }
            else if (options.SchemaStore.Kind == SchemaStoreKind.Kafka && !TopicNames.IsValid(options.SchemaStore.Topic ?? string.Empty, out var reason))
            {
                failures.Add($"{Store}Topic is not a valid topic name: {reason}.");
            }
            else if (options.SchemaStore.Kind == SchemaStoreKind.ConfluentSchemaRegistry)
            {
                if (string.IsNullOrWhiteSpace(options.SchemaStore.RegistryUrl))
                {
                    failures.Add($"{Store}RegistryUrl is required when {Store}Kind is ConfluentSchemaRegistry.");
                }
                else
                {
                    foreach (var url in options.SchemaStore.RegistryUrl.Split(',', StringSplitOptions.TrimEntries))
                    {
                        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                        {
                            failures.Add($"{Store}RegistryUrl: '{url}' is not an http or https URL.");
                        }
                    }
                }
            }
        }

        if (options.Events is null)
        {
            failures.Add($"{DataMeshOptions.SectionName}:Events is required.");
        }
        else
        {
            try
            {
                options.Events.Validate();
            }
            catch (ArgumentException ex)
            {
                failures.Add($"{Events}{ex.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
