using System.Globalization;
using DataMesh.Producer.Emitting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DataMesh.Producer;

/// <summary>
/// The producer's health: Unhealthy while Kafka is unreachable (a connection error came after the last acknowledgement)
/// or after a fatal client error, or before start and after stop; Degraded while the queue is at least 90% full;
/// Healthy otherwise. The data carries the queue's size and capacity, the oldest waiting event's age and the delivered count.
/// Add it with <c>services.AddHealthChecks().AddCheck&lt;ProducerHealthCheck&gt;("datamesh-producer")</c>.
/// </summary>
public sealed class ProducerHealthCheck : IHealthCheck
{
    private readonly EventEmitter _emitter;

    /// <summary>Creates the check for the registered emitter.</summary>
    /// <param name="emitter">The emitter registered by <c>AddDataMeshProducer</c>.</param>
    public ProducerHealthCheck(IEventEmitter emitter)
    {
        ArgumentNullException.ThrowIfNull(emitter);
        _emitter = emitter as EventEmitter
            ?? throw new ArgumentException("ProducerHealthCheck checks the emitter that AddDataMeshProducer registers.", nameof(emitter));
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var outstanding = _emitter.Outstanding;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["queued"] = outstanding,
            ["capacity"] = _emitter.Capacity,
            ["oldest_age_seconds"] = Math.Round(_emitter.OldestOutstandingAge().TotalSeconds, 3),
            ["delivered"] = _emitter.DeliveredCount,
        };
        HealthCheckResult result;
        if (_emitter.Fatal)
        {
            result = HealthCheckResult.Unhealthy("The Kafka client had a fatal error; events cannot be delivered until the application restarts.", data: data);
        }
        else if (_emitter.Stopped)
        {
            result = HealthCheckResult.Unhealthy("The DataMesh producer has stopped.", data: data);
        }
        else if (!_emitter.Started)
        {
            result = HealthCheckResult.Unhealthy("The DataMesh producer has not started.", data: data);
        }
        else if (_emitter.KafkaUnreachable(out var reason))
        {
            result = HealthCheckResult.Unhealthy(string.Create(CultureInfo.InvariantCulture, $"Kafka is unreachable ({reason}); {outstanding} events wait, the SDK keeps retrying."), data: data);
        }
        else if (outstanding > 0 && outstanding * 10L >= _emitter.Capacity * 9L) // 90 % full, exactly for small capacities too
        {
            result = HealthCheckResult.Degraded(string.Create(CultureInfo.InvariantCulture, $"The queue holds {outstanding} of {_emitter.Capacity} events."), data: data);
        }
        else
        {
            result = HealthCheckResult.Healthy(string.Create(CultureInfo.InvariantCulture, $"{outstanding} events wait."), data);
        }

        return Task.FromResult(result);
    }
}
