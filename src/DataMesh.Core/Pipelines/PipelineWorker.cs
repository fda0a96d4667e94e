using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using DataMesh.Avro;
using DataMesh.Pipelines.Sinks;
using DataMesh.Pipelines.Transforms;

namespace DataMesh.Pipelines;

/// <summary>
/// One worker of a pipeline: reads the frames of its source partitions from its <see cref="Pipe"/>, runs the transform
/// chain into a batch, and hands batches to the sink in order — up to the sink's
/// <see cref="PipelineSink.MaxBatchesInFlight"/> at once — while it fills the next. A frame's bytes stay in
/// the pipe (not consumed) until its batch is done, so that a record the sink rejects can be dead-lettered as it was
/// read, and the pipe's size bounds what is read but not done (the consumer waits when it is full).
/// </summary>
internal sealed class PipelineWorker
{
    private readonly KafkaPipeline _owner;
    private readonly Pipe _pipe;
    private readonly int _maxBatch;
    private readonly int _maxInFlight;
    private readonly Queue<(SinkBatch Batch, Task Write)> _writing = new();
    private readonly Stack<SinkBatch> _spare = new();
    private SinkBatch _current = new();
    private long _consumed;
    private long _processed;
    private byte[] _scratch = new byte[4096];

    /// <summary>With <see cref="Need.MaskedKeyId"/>: the topic the masked key schema is to be registered for.</summary>
    private string? _pendingTopic;

    public PipelineWorker(KafkaPipeline owner, int index, int bufferBytes, int maxBatch, int maxInFlight)
    {
        _owner = owner;
        Index = index;
        _maxBatch = maxBatch;
        _maxInFlight = maxInFlight;
        _pipe = new Pipe(new PipeOptions(pauseWriterThreshold: bufferBytes, resumeWriterThreshold: bufferBytes / 2, useSynchronizationContext: false, minimumSegmentSize: 16 * 1024));
    }

    public int Index { get; }

    public PipeWriter Writer => _pipe.Writer;

    /// <summary>Whether frames were written since the last flush (set and cleared by the consumer).</summary>
    public bool Dirty { get; set; }

    public async Task RunAsync()
    {
        var reader = _pipe.Reader;
        try
        {
            while (!_owner.IsFaulted)
            {
                ReadResult read;
                var pending = reader.ReadAsync();
                if (!pending.IsCompleted && _writing.TryPeek(out var oldest))
                {
                    var write = oldest.Write;
                    // Nothing new to read: wake up when the batch being written is done, to mark it done.
                    if (write.IsCompleted)
                    {
                        reader.CancelPendingRead();
                        read = await pending.ConfigureAwait(false);
                    }
                    else
                    {
                        var readTask = pending.AsTask();
                        if (await Task.WhenAny(readTask, write).ConfigureAwait(false) != readTask)
                        {
                            reader.CancelPendingRead();
                        }

                        read = await readTask.ConfigureAwait(false);
                    }
                }
                else
                {
                    read = await pending.ConfigureAwait(false);
                }

                var buffer = read.Buffer;
                while (_writing.TryPeek(out var done) && done.Write.IsCompleted)
                {
                    await CompleteWriteAsync(buffer).ConfigureAwait(false);
                }

                var unprocessed = buffer.Slice(_processed - _consumed);
                while (!_owner.IsFaulted)
                {
                    var length = Frames.PeekLength(unprocessed);
                    if (length == 0 || unprocessed.Length < length)
                    {
                        break;
                    }

                    var frame = unprocessed.Slice(0, length);
                    var need = TryProcess(Span(frame), _processed, length, out var schemaId);
                    while (need != Need.Nothing)
                    {
                        await LoadAsync(need, schemaId).ConfigureAwait(false);
                        need = TryProcess(Span(frame), _processed, length, out schemaId);
                    }

                    _processed += length;
                    unprocessed = unprocessed.Slice(length);
                    if (_current.Count >= _maxBatch)
                    {
                        while (_writing.Count >= _maxInFlight)
                        {
                            await CompleteWriteAsync(buffer).ConfigureAwait(false);
                        }

                        Submit();
                    }
                }

                if (_current.Progress.Count > 0 && _writing.Count < _maxInFlight)
                {
                    Submit();
                }

                if (read.IsCompleted)
                {
                    // The consumer stopped: finish what was read.
                    if (_current.Progress.Count > 0)
                    {
                        while (_writing.Count >= _maxInFlight)
                        {
                            await CompleteWriteAsync(buffer).ConfigureAwait(false);
                        }

                        Submit();
                    }

                    while (_writing.Count > 0)
                    {
                        await CompleteWriteAsync(buffer).ConfigureAwait(false);
                    }

                    reader.AdvanceTo(buffer.End);
                    break;
                }

                var keep = _writing.TryPeek(out var head) ? head.Batch.StartPosition : _current.Progress.Count > 0 ? _current.StartPosition : _processed;
                reader.AdvanceTo(buffer.GetPosition(keep - _consumed), buffer.End);
                _consumed = keep;
            }
        }
        catch (Exception e)
        {
            _owner.Fail(e);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private ValueTask LoadAsync(Need need, int schemaId)
    {
        switch (need)
        {
            case Need.KeyMasking:
                return _owner.LoadKeyMaskingAsync(schemaId);
            case Need.MaskedKeyId:
                _owner.TryGetKeyMasking(schemaId, out var masking);
                return _owner.RegisterMaskedAsync(masking, _pendingTopic!, schemaId);
            default:
                return _owner.LoadSchemaAsync(need == Need.Plan, schemaId);
        }
    }

    private ReadOnlySpan<byte> Span(in ReadOnlySequence<byte> frame)
    {
        if (frame.IsSingleSegment)
        {
            return frame.FirstSpan;
        }

        if (_scratch.Length < frame.Length)
        {
            _scratch = new byte[Math.Max((int)frame.Length, _scratch.Length * 2)];
        }

        frame.CopyTo(_scratch);
        return _scratch.AsSpan(0, (int)frame.Length);
    }

    /// <summary>Hands the batch being filled to the sink (in order after the batches already written) and starts a new one.</summary>
    private void Submit()
    {
        var batch = _current;
        _current = _spare.TryPop(out var spare) ? spare : new SinkBatch();
        _writing.Enqueue((batch, _owner.WriteAsync(batch)));
    }

    /// <summary>Waits for the oldest batch being written, dead-letters what the sink rejected, and marks its offsets done.</summary>
    private async ValueTask CompleteWriteAsync(ReadOnlySequence<byte> buffer)
    {
        var (batch, write) = _writing.Peek();
        await write.ConfigureAwait(false);
        if (batch.RejectedCount > 0)
        {
            for (var i = 0; i < batch.Count; i++)
            {
                if (batch.GetRejection(i) is { } reason)
                {
                    ref var entry = ref batch.EntryAt(i);
                    var frame = buffer.Slice(entry.FramePosition - _consumed, entry.FrameLength);
                    _owner.DeadLetter(Span(frame), entry.Source, entry.SourceOffset, _owner.Sink.Name, reason, batch);
                }
            }
        }

        await batch.DeadLetters.WaitAsync().WaitAsync(_owner.StopToken).ConfigureAwait(false);
        _owner.Completed(batch);
        batch.Clear();
        _writing.Dequeue();
        _spare.Push(batch);
    }

    private Need TryProcess(ReadOnlySpan<byte> frame, long position, int length, out int schemaId)
    {
        schemaId = 0;
        Frames.Read(frame, out var slot, out var generation, out var offset, out var key, out var hasKey, out var value, out var hasValue);
        var partition = _owner.PartitionAt(slot);
        if (generation != partition.Generation)
        {
            // Read before the partition was revoked: its new owner reads it again from the committed offset.
            return Need.Nothing;
        }

        if (Frames.IsFenced(frame))
        {
            // Dropped by the epoch fence (KafkaPipeline.Frame): done, in order, and counted.
            _current.Fenced++;
            _current.Taken(partition, generation, offset, position);
            return Need.Nothing;
        }

        var batch = _current;
        var entry = new SinkBatch.Entry
        {
            Topic = _owner.DefaultTopic ?? partition.Topic,
            Source = partition,
            Generation = generation,
            SourceOffset = offset,
            FramePosition = position,
            FrameLength = length,
            KeyLength = -1,
            ValueLength = -1,
        };

        if (!hasValue && _owner.DropsTombstones)
        {
            Dropped(batch, in entry);
            return Need.Nothing;
        }

        // With masks, the key's schema tells which of its columns to mask: known before anything is written.
        if (hasKey && _owner.MasksColumns && ConfluentWireFormat.TryReadHeader(key, out var keySchemaId, out _) && !_owner.TryGetKeyMasking(keySchemaId, out _))
        {
            schemaId = keySchemaId;
            return Need.KeyMasking;
        }

        if (!hasValue)
        {
            return AddKeyAndTake(frame, batch, ref entry, key, hasKey, out schemaId);
        }

        if (!ConfluentWireFormat.TryReadHeader(value, out var id, out var payload))
        {
            Reject(frame, in entry, "schema", "the value is not in the Confluent wire format (magic byte 0 and a 4-byte schema id)");
            return Need.Nothing;
        }

        if (!_owner.TryGetPlan(id, out var plan))
        {
            schemaId = id;
            return Need.Plan;
        }

        if (plan.Chain is not { } chain)
        {
            Reject(frame, in entry, "schema", plan.Error!);
            return Need.Nothing;
        }

        var output = batch.Buffer;
        var start = output.WrittenCount;
        var context = default(RecordContext);
        TransformOutcome outcome;
        var started = Stopwatch.GetTimestamp();
        try
        {
            outcome = chain.Execute(payload, output, ref context);
        }
        catch (TransformException e)
        {
            Reject(frame, in entry, e.Stage ?? "transform", e.Message);
            return Need.Nothing;
        }
        finally
        {
            batch.TransformTicks += Stopwatch.GetTimestamp() - started;
        }

        if (context.Topic is { } routed)
        {
            entry.Topic = routed;
        }

        switch (outcome)
        {
            case TransformOutcome.Drop:
                Dropped(batch, in entry);
                return Need.Nothing;
            case TransformOutcome.Tombstone:
                return AddKeyAndTake(frame, batch, ref entry, key, hasKey, out schemaId);
        }

        if (context.IsRaw)
        {
            // The outbox router: [framed value][key][headers JSON], the value with its own schema id.
            var framed = output.WrittenSpan.Slice(start, context.RawValueLength);
            if (!ConfluentWireFormat.TryReadHeader(framed, out var rawId, out _))
            {
                Reject(frame, in entry, "schema", "the routed payload is not in the Confluent wire format (magic byte 0 and a 4-byte schema id)");
                return Need.Nothing;
            }

            if (!_owner.TryGetRawSchema(rawId, out var rawSchema))
            {
                schemaId = rawId;
                return Need.RawSchema;
            }

            if (rawSchema is null)
            {
                Reject(frame, in entry, "schema", $"schema {rawId} of the routed payload is not a record schema in the schema store");
                return Need.Nothing;
            }

            entry.ValueStart = start + ConfluentWireFormat.HeaderLength;
            entry.ValueLength = context.RawValueLength - ConfluentWireFormat.HeaderLength;
            entry.ValueSchema = rawSchema;
            entry.ValueSchemaId = rawId;
            entry.KeyStart = start + context.RawValueLength;
            entry.KeyLength = context.RawKeyLength;
            entry.HeadersStart = entry.KeyStart + Math.Max(context.RawKeyLength, 0);
            entry.HeadersLength = context.RawHeadersLength;
        }
        else
        {
            entry.ValueStart = start;
            entry.ValueLength = output.WrittenCount - start;
            entry.ValueSchema = chain.OutputSchema;
            return AddKeyAndTake(frame, batch, ref entry, key, hasKey, out schemaId);
        }

        Take(batch, in entry);
        return Need.Nothing;
    }

    /// <summary>
    /// Adds the record's key (with its masked columns masked, when the chain masks columns of the key) and takes the record;
    /// or rejects the record when its key cannot be masked; or asks for the masked key schema's id for the record's topic.
    /// </summary>
    private Need AddKeyAndTake(ReadOnlySpan<byte> frame, SinkBatch batch, ref SinkBatch.Entry entry, ReadOnlySpan<byte> key, bool hasKey, out int schemaId)
    {
        schemaId = 0;
        if (!hasKey)
        {
            Take(batch, in entry);
            return Need.Nothing;
        }

        var buffer = batch.Buffer;
        if (!_owner.MasksColumns || !ConfluentWireFormat.TryReadHeader(key, out var keySchemaId, out var datum)
            || !_owner.TryGetKeyMasking(keySchemaId, out var masking) || ReferenceEquals(masking, RecordMasking.AsRead))
        {
            // No mask, or a key that is not an Avro record with a masked column: as it was read.
            entry.KeyStart = buffer.WrittenCount;
            entry.KeyLength = key.Length;
            buffer.Write(key);
            Take(batch, in entry);
            return Need.Nothing;
        }

        if (masking.Error is { } error)
        {
            Reject(frame, in entry, "key", error);
            return Need.Nothing;
        }

        if (!masking.Ids.TryGetValue(entry.Topic, out var registered))
        {
            _pendingTopic = entry.Topic;
            schemaId = keySchemaId;
            return Need.MaskedKeyId;
        }

        if (registered.Error is { } unregistered)
        {
            Reject(frame, in entry, "key", unregistered);
            return Need.Nothing;
        }

        var start = buffer.WrittenCount;
        if (!masking.TryWrite(datum, registered.Id, buffer, out var reason))
        {
            Reject(frame, in entry, "key", "the key cannot be masked: " + reason);
            return Need.Nothing;
        }

        entry.KeyStart = start;
        entry.KeyLength = buffer.WrittenCount - start;
        Take(batch, in entry);
        return Need.Nothing;
    }

    private static void Take(SinkBatch batch, in SinkBatch.Entry entry)
    {
        if (entry.ValueLength < 0)
        {
            batch.Tombstones++;
        }

        batch.Add(in entry);
        batch.Taken(entry.Source, entry.Generation, entry.SourceOffset, entry.FramePosition);
    }

    private static void Dropped(SinkBatch batch, in SinkBatch.Entry entry)
    {
        batch.Dropped++;
        batch.Taken(entry.Source, entry.Generation, entry.SourceOffset, entry.FramePosition);
    }

    private void Reject(ReadOnlySpan<byte> frame, in SinkBatch.Entry entry, string stage, string reason)
    {
        var batch = _current;
        _owner.DeadLetter(frame, entry.Source, entry.SourceOffset, stage, reason, batch);
        batch.Taken(entry.Source, entry.Generation, entry.SourceOffset, entry.FramePosition);
    }

    /// <summary>What a record waits for before it can be processed.</summary>
    private enum Need
    {
        Nothing,
        Plan,
        RawSchema,

        /// <summary>The masking of a key schema (the chain masks columns).</summary>
        KeyMasking,

        /// <summary>The id of a masked key schema for the record's topic.</summary>
        MaskedKeyId,
    }
}
