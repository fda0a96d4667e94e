using System.Buffers;
using System.Diagnostics;
using System.Threading.Tasks.Sources;
using Confluent.Kafka;

namespace DataMesh.Producer.Emitting;

/// <summary>
/// One accepted event from <c>Emit</c> to Kafka's acknowledgement: its serialized bytes, headers' data, and its
/// completion (an <see cref="IValueTaskSource"/> awaited by <c>EmitAsync</c>, or a callback). Pooled by
/// <see cref="EventEmitter"/>: an instance is reused after its outcome was observed, so that emitting allocates nothing.
/// </summary>
internal sealed class PendingEvent : IValueTaskSource
{
    public const int Idle = 0;
    public const int Pending = 1;
    public const int Done = 2;
    private const int MaxRetainedBuffer = 64 * 1024;

    private readonly EventEmitter _owner;
    private ManualResetValueTaskSourceCore<bool> _core;

    public PendingEvent(EventEmitter owner)
    {
        _owner = owner;
        _core.RunContinuationsAsynchronously = true;
        Handler = report => owner.OnDelivery(this, report);
    }

    /// <summary>The delivery handler given to the Kafka client: created once per instance, not per event.</summary>
    public Action<DeliveryReport<byte[], byte[]>> Handler { get; }

    /// <summary>The key's Avro body (the first <see cref="KeyLength"/> bytes) then the value's.</summary>
    public ArrayBufferWriter<byte> Buffer { get; private set; } = new(256);

    public int KeyLength;
    public RegisteredEvent? Type;
    public RawMessage? Raw;
    public Guid EventId;
    public long TimeTicks;
    public bool HasTrace;
    public ActivityTraceId TraceId;
    public ActivitySpanId SpanId;
    public ActivityTraceFlags TraceFlags;
    public Activity? Activity;
    public Action<EventDelivery>? Callback;
    public bool Awaited;
    public long AcceptedAt;
    public int Attempts;
    public int State;
    public int Partition = -1;
    public long Offset = -1;
    public PendingEvent? Previous;
    public PendingEvent? Next;

    public string Topic => Type?.Topic ?? Raw?.Topic ?? string.Empty;

    public short Version => _core.Version;

    public void SetResult() => _core.SetResult(true);

    public void SetException(Exception exception) => _core.SetException(exception);

    public void GetResult(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _owner.Return(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <summary>Clears the instance for reuse.</summary>
    public void Reset()
    {
        if (Buffer.Capacity > MaxRetainedBuffer)
        {
            Buffer = new ArrayBufferWriter<byte>(256);
        }
        else
        {
            Buffer.ResetWrittenCount();
        }

        Type = null;
        Raw = null;
        Activity = null;
        Callback = null;
        HasTrace = false;
        Attempts = 0;
        Partition = -1;
        Offset = -1;
        Previous = null;
        Next = null;
        State = Idle;
        _core.Reset();
    }
}

/// <summary>A message already in the wire format, as the outbox relay reads it from the table.</summary>
internal sealed record RawMessage(string Topic, byte[]? Key, byte[] Value, Headers Headers, DateTime Time);
