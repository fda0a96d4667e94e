using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Encodings.Web;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Pipelines.Sinks;

/// <summary>
/// Appends each record to a file as one line of JSON:
/// <c>{"topic":"…","partition":p,"offset":o,"key":…,"value":…}</c>, where topic, partition and offset are the record's
/// source coordinates, the key is decoded through the schema store and the value through its schema (null for a
/// tombstone). The file is fixed, or named per topic from a template (<see cref="JsonLinesSinkOptions.Path"/>).
/// </summary>
/// <remarks>
/// <para>
/// <b>Durability and delivery.</b> <see cref="WriteAsync"/> appends the batch and flushes it to disk (fsync) before it
/// returns. The files are append-only: when the pipeline restarts after a crash, the batches after the last committed
/// offsets are written again, so lines may repeat (at least once). Deduplicate by <c>topic</c>, <c>partition</c> and
/// <c>offset</c>. A line cut short by a crash is left as it is and the next line starts on a new line; readers should
/// skip a line that does not parse.
/// </para>
/// <para>
/// <b>Concurrency.</b> Batches of different partitions may be written concurrently; appends to one file are serialized,
/// and the lines of one batch stay together and in order.
/// </para>
/// <para>
/// <b>Rendering.</b> Keys in the Confluent wire format whose schema id the store knows are decoded; other keys (not
/// framed, an unknown id, bytes that do not match the schema) are written as a base64 string. Logical types are written
/// readably and exactly: decimals as strings with every digit, dates as <c>yyyy-MM-dd</c>, times as
/// <c>HH:mm:ss.ffffff</c>, timestamps as ISO-8601 UTC with microseconds, uuids as strings, bytes and fixed as base64,
/// enums as symbols, unions as the plain value, NaN and infinities as strings. A value whose bytes do not match its
/// schema is rejected (<see cref="SinkBatch.Reject"/>) and the others are written.
/// </para>
/// </remarks>
public sealed class JsonLinesSink : PipelineSink
{
    private static readonly JsonEncodedText TopicProperty = JsonEncodedText.Encode("topic");
    private static readonly JsonEncodedText PartitionProperty = JsonEncodedText.Encode("partition");
    private static readonly JsonEncodedText OffsetProperty = JsonEncodedText.Encode("offset");
    private static readonly JsonEncodedText KeyProperty = JsonEncodedText.Encode("key");
    private static readonly JsonEncodedText ValueProperty = JsonEncodedText.Encode("value");

    private readonly string _path;
    private readonly bool _perTopic;
    private readonly OutputFile? _single;
    private readonly ConcurrentDictionary<string, OutputFile> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, KeyDecoder?> _keySchemas = new();
    private readonly ConcurrentBag<Renderer> _renderers = [];
    private ISchemaStore? _schemas;
    private string _pipeline = string.Empty;
    private ILogger _logger = NullLogger.Instance;
    private int _disposed;

    /// <summary>Creates a sink; nothing is opened before the first batch.</summary>
    /// <param name="options">The file path or template.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public JsonLinesSink(JsonLinesSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _path = Path.GetFullPath(options.Path);
        _perTopic = _path.Contains(JsonLinesSinkOptions.TopicPlaceholder, StringComparison.Ordinal);
        if (!_perTopic)
        {
            _single = new OutputFile(this, _path);
        }

        Name = "jsonl(" + options.Path + ")";
    }

    /// <inheritdoc />
    public override string Name { get; }

    /// <inheritdoc />
    public override ValueTask StartAsync(SinkContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        _schemas = context.Schemas;
        _pipeline = context.PipelineName;
        _logger = context.LoggerFactory.CreateLogger<JsonLinesSink>();
        JsonLinesSinkLog.Started(_logger, _pipeline, _path);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override async ValueTask WriteAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var schemas = _schemas ?? throw new InvalidOperationException($"{Name}: StartAsync must be called before WriteAsync.");
        if (batch.Count == 0)
        {
            return;
        }

        // Key schemas are looked up before rendering, which runs over ref structs and cannot await.
        if (MissingKeySchemas(batch) is { } missing)
        {
            foreach (var id in missing)
            {
                await ResolveKeySchemaAsync(schemas, id, cancellationToken).ConfigureAwait(false);
            }
        }

        var renderer = _renderers.TryTake(out var pooled) ? pooled : new Renderer();
        try
        {
            Render(batch, renderer);
            foreach (var file in renderer.Files)
            {
                await file.AppendAsync(renderer, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            renderer.Clear();
            _renderers.Add(renderer);
        }
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_single is not null)
        {
            await _single.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var file in _files.Values)
        {
            await file.DisposeAsync().ConfigureAwait(false);
        }

        while (_renderers.TryTake(out var renderer))
        {
            renderer.Dispose();
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private List<int>? MissingKeySchemas(SinkBatch batch)
    {
        List<int>? missing = null;
        for (var i = 0; i < batch.Count; i++)
        {
            var record = batch[i];
            if (record.HasKey && ConfluentWireFormat.TryReadHeader(record.Key, out var id, out _) && id > 0 && !_keySchemas.ContainsKey(id)
                && !(missing?.Contains(id) ?? false))
            {
                (missing ??= []).Add(id);
            }
        }

        return missing;
    }

    private async ValueTask ResolveKeySchemaAsync(ISchemaStore schemas, int id, CancellationToken cancellationToken)
    {
        try
        {
            var schema = await schemas.GetByIdAsync(id, cancellationToken).ConfigureAwait(false);
            _keySchemas[id] = new KeyDecoder(AvroJsonWriter.For(schema), AvroSchemaPlan.Compile(schema));
        }
        catch (KeyNotFoundException)
        {
            if (_keySchemas.TryAdd(id, null))
            {
                JsonLinesSinkLog.UnknownKeySchema(_logger, _pipeline, id);
            }
        }
    }

    private void Render(SinkBatch batch, Renderer renderer)
    {
        var buffer = renderer.Buffer;
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch.GetRejection(i) is not null)
            {
                continue;
            }

            var record = batch[i];
            var file = FileFor(record.Topic);
            if (file is null)
            {
                batch.Reject(i, $"{Name}: the topic '{record.Topic}' cannot name a file (only A-Z, a-z, 0-9, '.', '_' and '-', and not '.' or '..').");
                continue;
            }

            if (!record.IsTombstone && record.ValueSchema is null)
            {
                batch.Reject(i, $"{Name}: the record has a value but no value schema, so it cannot be decoded.");
                continue;
            }

            var start = buffer.WrittenCount;
            try
            {
                WriteLine(renderer.Json, buffer, record);
            }
            catch (Exception e) when (e is AvroFormatException or InvalidOperationException)
            {
                buffer.Truncate(start);
                batch.Reject(i, $"{Name}: the value does not match its schema {record.ValueSchema!.Fullname}: {e.Message}");
                continue;
            }

            renderer.AddLine(file, start, buffer.WrittenCount - start);
        }
    }

    private void WriteLine(Utf8JsonWriter json, PooledBufferWriter buffer, SinkRecord record)
    {
        json.Reset(buffer);
        json.WriteStartObject();
        json.WriteString(TopicProperty, record.SourceTopic);
        json.WriteNumber(PartitionProperty, record.SourcePartition);
        json.WriteNumber(OffsetProperty, record.SourceOffset);
        json.WritePropertyName(KeyProperty);
        if (!record.HasKey)
        {
            json.WriteNullValue();
        }
        else
        {
            WriteKey(json, record.Key);
        }

        json.WritePropertyName(ValueProperty);
        if (record.IsTombstone)
        {
            json.WriteNullValue();
        }
        else
        {
            AvroJsonWriter.For(record.ValueSchema!).Write(json, record.Value);
        }

        json.WriteEndObject();
        json.Flush();
        buffer.GetSpan(1)[0] = (byte)'\n';
        buffer.Advance(1);
    }

    private void WriteKey(Utf8JsonWriter json, ReadOnlySpan<byte> key)
    {
        if (ConfluentWireFormat.TryReadHeader(key, out var id, out var datum) && _keySchemas.TryGetValue(id, out var decoder) && decoder is not null
            && decoder.Matches(datum))
        {
            decoder.Writer.Write(json, datum);
        }
        else
        {
            json.WriteBase64StringValue(key);
        }
    }

    private OutputFile? FileFor(string topic)
    {
        if (_single is not null)
        {
            return _single;
        }

        if (_files.TryGetValue(topic, out var file))
        {
            return file;
        }

        if (!IsFileSafe(topic))
        {
            return null;
        }

        return _files.GetOrAdd(topic, static (t, sink) => new OutputFile(sink, sink._path.Replace(JsonLinesSinkOptions.TopicPlaceholder, t, StringComparison.Ordinal)), this);
    }

    private static bool IsFileSafe(string topic)
    {
        if (topic.Length == 0 || topic is "." or "..")
        {
            return false;
        }

        foreach (var c in topic)
        {
            if (c is not ((>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A key schema: how to check that a datum is one of it, and how to write it.</summary>
    private sealed class KeyDecoder(AvroJsonWriter writer, AvroSchemaPlan plan)
    {
        public AvroJsonWriter Writer { get; } = writer;

        public bool Matches(ReadOnlySpan<byte> datum)
        {
            try
            {
                plan.Validate(datum);
                return true;
            }
            catch (AvroFormatException)
            {
                return false;
            }
        }
    }

    /// <summary>One batch's lines, rendered into a pooled buffer, and which file each run of lines goes to.</summary>
    internal sealed class Renderer : IDisposable
    {
        private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        public Renderer()
        {
            Json = new Utf8JsonWriter(Buffer, WriterOptions);
        }

        public PooledBufferWriter Buffer { get; } = new();

        public Utf8JsonWriter Json { get; }

        /// <summary>The files of the batch, in the order of their first line.</summary>
        public List<OutputFile> Files { get; } = [];

        /// <summary>Runs of adjacent lines for one file.</summary>
        public List<(OutputFile File, int Start, int Length)> Runs { get; } = [];

        public void AddLine(OutputFile file, int start, int length)
        {
            if (Runs.Count > 0 && Runs[^1].File == file && Runs[^1].Start + Runs[^1].Length == start)
            {
                Runs[^1] = (file, Runs[^1].Start, Runs[^1].Length + length);
                return;
            }

            if (!Files.Contains(file))
            {
                Files.Add(file);
            }

            Runs.Add((file, start, length));
        }

        public void Clear()
        {
            Buffer.Truncate(0);
            Files.Clear();
            Runs.Clear();
        }

        public void Dispose()
        {
            Json.Dispose();
            Buffer.Dispose();
        }
    }

    /// <summary>One output file: opened on first use, appended to by one batch at a time.</summary>
    internal sealed class OutputFile(JsonLinesSink sink, string path) : IAsyncDisposable
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private FileStream? _stream;

        public string Path { get; } = path;

        /// <summary>Appends the renderer's lines for this file and flushes them to disk.</summary>
        public async ValueTask AppendAsync(Renderer renderer, CancellationToken cancellationToken)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var stream = _stream ??= await OpenAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    foreach (var (file, start, length) in renderer.Runs)
                    {
                        if (file == this)
                        {
                            await stream.WriteAsync(renderer.Buffer.WrittenMemory.Slice(start, length), cancellationToken).ConfigureAwait(false);
                        }
                    }

                    stream.Flush(flushToDisk: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
                {
                    // What was written is unknown: the next batch reopens the file and starts on a new line.
                    JsonLinesSinkLog.AppendFailed(sink._logger, sink._pipeline, Path, e.Message);
                    _stream = null;
                    await stream.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            finally
            {
                _gate.Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (_stream is not null)
                {
                    await _stream.DisposeAsync().ConfigureAwait(false);
                    _stream = null;
                }
            }
            finally
            {
                _gate.Release();
            }
        }

        private async ValueTask<FileStream> OpenAsync(CancellationToken cancellationToken)
        {
            if (System.IO.Path.GetDirectoryName(Path) is { Length: > 0 } directory)
            {
                Directory.CreateDirectory(directory);
            }

            var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);
            try
            {
                if (stream.Position > 0 && !EndsWithNewLine())
                {
                    JsonLinesSinkLog.TornLine(sink._logger, sink._pipeline, Path);
                    await stream.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                }
            }
            catch
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            JsonLinesSinkLog.Opened(sink._logger, sink._pipeline, Path);
            return stream;
        }

        private bool EndsWithNewLine()
        {
            using var handle = File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var length = RandomAccess.GetLength(handle);
            Span<byte> last = stackalloc byte[1];
            return length == 0 || (RandomAccess.Read(handle, last, length - 1) == 1 && last[0] == (byte)'\n');
        }
    }
}

/// <summary>A growable buffer on <see cref="ArrayPool{T}.Shared"/> that can be cut back to an earlier length.</summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private byte[] _array = ArrayPool<byte>.Shared.Rent(64 * 1024);

    public int WrittenCount { get; private set; }

    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, WrittenCount);

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, WrittenCount);

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _array.Length - WrittenCount);
        WrittenCount += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(WrittenCount);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(WrittenCount);
    }

    /// <summary>Forgets what was written after <paramref name="length"/> bytes.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)length, (uint)WrittenCount, nameof(length));
        WrittenCount = length;
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_array);
        _array = [];
        WrittenCount = 0;
    }

    private void Ensure(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_array.Length - WrittenCount >= needed)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(checked(Math.Max(_array.Length * 2, WrittenCount + needed)));
        _array.AsSpan(0, WrittenCount).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_array);
        _array = larger;
    }
}
