using System.Collections.Frozen;
using System.Data.Common;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using DataMesh.Hosting;
using DataMesh.Producer.Outbox;
using DataMesh.Producer.Serialization;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DataMesh.Producer.Emitting;

/// <summary>
/// The <see cref="IEventEmitter"/>: serializes an event on the caller's thread into a pooled <see cref="PendingEvent"/>,
/// takes one of <see cref="ProducerOptions.QueueCapacity"/> slots (waiting, or following the queue-full policy),
/// and queues it for the single sender loop, which hands it to an idempotent Kafka producer. The slot is given back
/// when Kafka acknowledged the event or it finally failed; every accepted event is tracked until then, so that none
/// can be lost without its emitter being told.
/// </summary>
internal sealed partial class EventEmitter : IEventEmitter, IAsyncDisposable, IDisposable
{
    private readonly ProducerOptions _options;
    private readonly KafkaConnection _kafka;
    private readonly ISchemaStore _schemas;
    private readonly ILogger _logger;
    private readonly string _source;
    private readonly Lazy<FrozenDictionary<Type, RegisteredEvent>> _registry;
    private readonly Admission _admission;
    private readonly Channel<PendingEvent> _queue;
    private readonly Lock _gate = new();
    private readonly Stack<PendingEvent> _pool = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly OutboxWriter _outbox;
    private PendingEvent? _newest;
    private PendingEvent? _oldest;
    private int _tracked;
    private volatile bool _stopped;

    public EventEmitter(
        IOptions<ProducerOptions> options,
        IOptions<DataMeshOptions> dataMesh,
        KafkaConnection kafka,
        ISchemaStore schemas,
        ILogger<EventEmitter>? logger = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(dataMesh);
        _options = options.Value;
        _kafka = kafka;
        _schemas = schemas;
        _logger = logger ?? NullLogger<EventEmitter>.Instance;
        _source = _options.Source ?? "app";
        var prefix = _options.TopicPrefix ?? dataMesh.Value.Events.TopicPrefix;
        _registry = new Lazy<FrozenDictionary<Type, RegisteredEvent>>(() => BuildRegistry(_options, prefix, _source), LazyThreadSafetyMode.ExecutionAndPublication);
        _admission = new Admission(_options.QueueCapacity, Accept);
        _queue = Channel.CreateBounded<PendingEvent>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _outbox = new OutboxWriter(_options.Outbox);
        Metrics = new ProducerMetrics(meterFactory, () => Volatile.Read(ref _tracked), () => KafkaUnreachable(out _) ? 0 : 1);
    }

    public ProducerMetrics Metrics { get; }

    /// <summary>The event types, by CLR type; built on first use (schemas derived, writers compiled).</summary>
    public FrozenDictionary<Type, RegisteredEvent> Registry => _registry.Value;

    /// <summary>Events accepted and not yet acknowledged or failed.</summary>
    public int Outstanding => Volatile.Read(ref _tracked);

    public int Capacity => _options.QueueCapacity;

    public ProducerOptions Options => _options;

    public ValueTask EmitAsync<TEvent>(TEvent @event, CancellationToken cancellationToken = default)
    {
        if (@event is null)
        {
            throw new ArgumentNullException(nameof(@event));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var pending = Prepare(ref @event);
        pending.Awaited = true;
        // Taken before it is accepted: once accepted, it may complete and go back to the pool on another thread.
        var token = pending.Version;
        return _admission.TryEnter(pending) ? new ValueTask(pending, token) : WaitForRoomAsync(pending, token, cancellationToken);
    }

    public Guid Emit<TEvent>(TEvent @event, Action<EventDelivery>? onDelivered = null)
    {
        if (@event is null)
        {
            throw new ArgumentNullException(nameof(@event));
        }

        var pending = Prepare(ref @event);
        pending.Awaited = false;
        pending.Callback = onDelivered;
        var id = pending.EventId;
        if (!_admission.TryEnter(pending))
        {
            HandleFullQueue(pending); // accepts it in turn, or rejects it
        }

        return id;
    }

    public async ValueTask<Guid> EmitAsync<TEvent>(TEvent @event, DbTransaction transaction, CancellationToken cancellationToken = default)
    {
        if (@event is null)
        {
            throw new ArgumentNullException(nameof(@event));
        }

        ArgumentNullException.ThrowIfNull(transaction);
        var type = Resolve(@event);
        // The schema ids are needed for the wire format: they are known once the producer has started.
        await _started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        if (type.Serializer is EventSerializer<TEvent> typed)
        {
            typed.Write(ref @event, buffer, out var keyLength);
            return await InsertAsync(type, buffer, keyLength, typed.KeyText(ref @event)).ConfigureAwait(false);
        }
        else
        {
            type.Serializer.WriteBoxed(@event, buffer, out var keyLength);
            return await InsertAsync(type, buffer, keyLength, type.Serializer.KeyTextBoxed(@event)).ConfigureAwait(false);
        }

        async Task<Guid> InsertAsync(RegisteredEvent type, System.Buffers.ArrayBufferWriter<byte> buffer, int keyLength, string? keyText)
        {
            var id = Guid.CreateVersion7();
            var time = DateTime.UtcNow;
            var row = OutboxRow.Create(type, buffer.WrittenSpan, keyLength, keyText, id, time, _source, Activity.Current);
            await _outbox.InsertAsync(transaction, row, cancellationToken).ConfigureAwait(false);
            return id;
        }
    }

    /// <summary>Queues a message already in the wire format (the outbox relay's rows); completes when Kafka acknowledged it.</summary>
    public async ValueTask EmitRawAsync(RawMessage message, Guid eventId, CancellationToken cancellationToken)
    {
        if (_stopped)
        {
            throw new InvalidOperationException("The DataMesh producer has stopped; no more events are accepted.");
        }

        var pending = Rent();
        pending.Raw = message;
        pending.EventId = eventId;
        pending.TimeTicks = message.Time.Ticks;
        pending.Awaited = true;
        var token = pending.Version;
        try
        {
            await _admission.EnterAsync(pending, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Return(pending);
            throw;
        }

        await new ValueTask(pending, token).ConfigureAwait(false);
    }

    /// <summary>Completes when the producer has started (schemas registered, Kafka producer created).</summary>
    public Task WaitStartedAsync(CancellationToken cancellationToken) => _started.Task.WaitAsync(cancellationToken);

    private RegisteredEvent Resolve<TEvent>(TEvent @event)
    {
        var registry = Registry;
        if (registry.TryGetValue(typeof(TEvent), out var type) || registry.TryGetValue(@event!.GetType(), out type))
        {
            return type;
        }

        var name = @event!.GetType().Name;
        throw new InvalidOperationException(
            $"Event type '{@event.GetType().FullName}' was not added to the producer: call o.AddEvent<{name}>() in AddDataMeshProducer, so that its schema is registered when the host starts.");
    }

    /// <summary>Serializes the event into a pooled instance, on the caller's thread, so that a value that does not fit its
    /// schema throws here, naming the member.</summary>
    private PendingEvent Prepare<TEvent>(ref TEvent @event)
    {
        if (_stopped)
        {
            throw new InvalidOperationException("The DataMesh producer has stopped; no more events are accepted.");
        }

        var type = Resolve(@event);
        var pending = Rent();
        try
        {
            if (type.Serializer is EventSerializer<TEvent> typed)
            {
                typed.Write(ref @event, pending.Buffer, out pending.KeyLength);
            }
            else
            {
                type.Serializer.WriteBoxed(@event!, pending.Buffer, out pending.KeyLength);
            }
        }
        catch
        {
            Return(pending);
            throw;
        }

        pending.Type = type;
        pending.EventId = Guid.CreateVersion7();
        pending.TimeTicks = DateTime.UtcNow.Ticks;
        var activity = ProducerMetrics.ActivitySource.StartActivity(type.ActivityName, ActivityKind.Producer);
        if (activity is not null)
        {
            activity.SetTag("messaging.system", "kafka");
            activity.SetTag("messaging.operation.type", "send");
            activity.SetTag("messaging.destination.name", type.Topic);
            activity.SetTag("messaging.message.id", pending.EventId.ToString());
            pending.Activity = activity;
        }

        if ((activity ?? Activity.Current) is { IdFormat: ActivityIdFormat.W3C } trace)
        {
            pending.HasTrace = true;
            pending.TraceId = trace.TraceId;
            pending.SpanId = trace.SpanId;
            pending.TraceFlags = trace.ActivityTraceFlags;
        }

        return pending;
    }

    private async ValueTask WaitForRoomAsync(PendingEvent pending, short token, CancellationToken cancellationToken)
    {
        try
        {
            // Accepted in turn, behind every call that waited before it.
            await _admission.EnterAsync(pending, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            pending.Activity?.Stop();
            Return(pending);
            throw;
        }

        await new ValueTask(pending, token).ConfigureAwait(false);
    }

    /// <summary>Applies the queue-full policy of <c>Emit</c>; returns true when the event was accepted after all (in turn).</summary>
    private bool HandleFullQueue(PendingEvent pending)
    {
        if (_options.QueueFullPolicy == QueueFullPolicy.Block && _admission.Enter(pending, _options.QueueFullTimeout))
        {
            return true;
        }

        var error = new EventDeliveryException(
            pending.EventId,
            pending.Topic,
            EventDeliveryFailure.QueueFull,
            $"The producer's queue holds {_options.QueueCapacity} events not yet acknowledged by Kafka (DataMesh:Producer:QueueCapacity); event {pending.EventId} for topic '{pending.Topic}' was not queued.");
        Metrics.Rejected.Add(1);
        ProducerLog.Rejected(_logger, pending.EventId, pending.Topic, _options.QueueCapacity, _options.QueueFullPolicy);
        var callback = pending.Callback;
        var delivery = new EventDelivery(pending.EventId, pending.Topic, -1, -1, error);
        pending.Activity?.SetStatus(ActivityStatusCode.Error, "queue full");
        pending.Activity?.Stop();
        Return(pending);
        if (_options.QueueFullPolicy != QueueFullPolicy.Reject)
        {
            throw error;
        }

        InvokeCallback(callback, delivery);
        return false;
    }

    /// <summary>Tracks a pending event that holds a slot and queues it for the sender.</summary>
    private void Accept(PendingEvent pending)
    {
        pending.AcceptedAt = Stopwatch.GetTimestamp();
        pending.State = PendingEvent.Pending;
        Track(pending);
        Metrics.Emitted.Add(1);
        if (!_queue.Writer.TryWrite(pending))
        {
            // Only when the producer stopped between the check in Prepare and now.
            Fail(pending, EventDeliveryFailure.Shutdown, "The DataMesh producer stopped before the event was queued.");
        }
    }

    private PendingEvent Rent()
    {
        lock (_gate)
        {
            if (_pool.TryPop(out var pending))
            {
                return pending;
            }
        }

        return new PendingEvent(this);
    }

    /// <summary>Gives an instance back to the pool once its outcome was observed.</summary>
    internal void Return(PendingEvent pending)
    {
        pending.Reset();
        lock (_gate)
        {
            if (_pool.Count < _options.QueueCapacity)
            {
                _pool.Push(pending);
            }
        }
    }

    private void Track(PendingEvent pending)
    {
        lock (_gate)
        {
            pending.Previous = _newest;
            pending.Next = null;
            if (_newest is not null)
            {
                _newest.Next = pending;
            }

            _newest = pending;
            _oldest ??= pending;
            _tracked++;
        }
    }

    private void Untrack(PendingEvent pending)
    {
        lock (_gate)
        {
            if (pending.Previous is not null)
            {
                pending.Previous.Next = pending.Next;
            }
            else
            {
                _oldest = pending.Next;
            }

            if (pending.Next is not null)
            {
                pending.Next.Previous = pending.Previous;
            }
            else
            {
                _newest = pending.Previous;
            }

            pending.Previous = null;
            pending.Next = null;
            _tracked--;
        }
    }

    /// <summary>How long the oldest outstanding event has waited, or zero.</summary>
    public TimeSpan OldestOutstandingAge()
    {
        lock (_gate)
        {
            return _oldest is null ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_oldest.AcceptedAt);
        }
    }

    private List<PendingEvent> SnapshotOutstanding()
    {
        lock (_gate)
        {
            var list = new List<PendingEvent>(_tracked);
            for (var pending = _oldest; pending is not null; pending = pending.Next)
            {
                list.Add(pending);
            }

            return list;
        }
    }

    private void InvokeCallback(Action<EventDelivery>? callback, EventDelivery delivery)
    {
        if (callback is null)
        {
            return;
        }

        try
        {
            callback(delivery);
        }
        catch (Exception ex)
        {
            ProducerLog.CallbackFailed(_logger, delivery.EventId, ex);
        }
    }

    private static FrozenDictionary<Type, RegisteredEvent> BuildRegistry(ProducerOptions options, string prefix, string source)
    {
        var serializers = options.EventTypes.Select(EventSchemaBuilder.Build).ToList();
        var topics = serializers.ToDictionary(s => s.EventType, s => TopicOf(s.EventType, options, prefix, source));
        var shared = topics.Values.GroupBy(t => t, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        return serializers.ToFrozenDictionary(
            s => s.EventType,
            s =>
            {
                var topic = topics[s.EventType];
                // One type on a topic: Confluent's TopicNameStrategy. Several: TopicRecordNameStrategy, so each keeps its own history.
                var valueSubject = shared.Contains(topic) ? $"{topic}-{s.FullName}" : $"{topic}-value";
                return new RegisteredEvent(s, topic, valueSubject, $"{topic}-key");
            });
    }

    /// <summary>The topic of an event type: <see cref="ProducerOptions.Topics"/>, then <see cref="EventTopicAttribute"/>,
    /// then <c>&lt;prefix&gt;.&lt;source&gt;.&lt;kebab-case type name&gt;</c>.</summary>
    internal static string TopicOf(Type type, ProducerOptions options, string prefix, string source)
    {
        if ((type.FullName is { } fullName && options.Topics.TryGetValue(fullName, out var topic)) || options.Topics.TryGetValue(type.Name, out topic))
        {
            return topic;
        }

        if (type.GetCustomAttributes(typeof(EventTopicAttribute), inherit: false) is [EventTopicAttribute attribute])
        {
            return attribute.Topic;
        }

        var name = KebabCase(type.IsGenericType ? type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)] : type.Name);
        return prefix.Length == 0 ? $"{source}.{name}" : $"{prefix}.{source}.{name}";
    }

    internal static string KebabCase(string name)
    {
        var builder = new System.Text.StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                var boundary = i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1])));
                if (boundary)
                {
                    builder.Append('-');
                }

                builder.Append(char.ToLowerInvariant(c));
            }
            else
            {
                builder.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '-');
            }
        }

        return builder.ToString();
    }
}
