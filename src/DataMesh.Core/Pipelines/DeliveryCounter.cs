using Confluent.Kafka;

namespace DataMesh.Pipelines;

/// <summary>Counts Kafka deliveries that must be acknowledged before something else may happen (a batch written by the Kafka sink, the dead letters of a batch).</summary>
internal sealed class DeliveryCounter
{
    private readonly Lock _lock = new();
    private int _pending;
    private Exception? _error;
    private TaskCompletionSource? _drained;

    public Action<DeliveryReport<byte[]?, byte[]?>> Handler { get; }

    public DeliveryCounter() => Handler = OnDelivered;

    public void Add()
    {
        lock (_lock)
        {
            _pending++;
        }
    }

    /// <summary>Completes when every delivery added so far arrived; faults when one failed.</summary>
    public Task WaitAsync()
    {
        lock (_lock)
        {
            if (_pending == 0)
            {
                return _error is null ? Task.CompletedTask : Task.FromException(_error);
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _drained.Task;
        }
    }

    public void Reset()
    {
        lock (_lock)
        {
            _pending = 0;
            _error = null;
            _drained = null;
        }
    }

    private void OnDelivered(DeliveryReport<byte[]?, byte[]?> report)
    {
        lock (_lock)
        {
            if (report.Error.IsError)
            {
                _error ??= new KafkaException(report.Error);
            }

            if (--_pending == 0 && _drained is { } drained)
            {
                _drained = null;
                if (_error is null)
                {
                    drained.TrySetResult();
                }
                else
                {
                    drained.TrySetException(_error);
                }
            }
        }
    }
}
