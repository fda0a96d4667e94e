using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;

namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>
/// MySQL client/server packets over a stream through <see cref="System.IO.Pipelines"/>: a 3-byte little-endian
/// payload length and a sequence number, then the payload; payloads of 16 MiB - 1 bytes or more continue in the
/// following packets. A payload returned by <see cref="ReadPayloadAsync"/> is valid until the next call: it points
/// into the pipe's buffer when it lies in one segment, else into a pooled buffer this channel owns.
/// </summary>
internal sealed class PacketChannel : IAsyncDisposable
{
    /// <summary>The largest payload of one packet; a payload this long continues in the next packet.</summary>
    public const int MaxPacketPayload = 0xFFFFFF;

    private const int HeaderLength = 4;
    private const int MinimumReadSize = 64 * 1024;

    private readonly Stream _transport;
    private Stream _stream;
    private PipeReader _reader;
    private SequencePosition? _consumed;
    private byte[] _assembly = [];
    private byte _sequence;
    private bool _disposed;

    public PacketChannel(Stream transport)
    {
        _transport = transport;
        _stream = transport;
        _reader = CreateReader(transport);
    }

    /// <summary>Whether the channel runs over TLS.</summary>
    public bool IsEncrypted => _stream is SslStream;

    /// <summary>The TLS stream, when <see cref="IsEncrypted"/>.</summary>
    public SslStream? TlsStream => _stream as SslStream;

    /// <summary>Bytes read from the server so far (packet headers included).</summary>
    public long BytesReceived { get; private set; }

    /// <summary>Reads the next payload, reassembling one that spans several packets.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <exception cref="EndOfStreamException">The server closed the connection.</exception>
    public async ValueTask<ReadOnlyMemory<byte>> ReadPayloadAsync(CancellationToken cancellationToken)
    {
        ReleasePrevious();
        var assembled = 0;
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (TryReadPacket(ref buffer, out var payload, out var length, out var next))
            {
                BytesReceived += HeaderLength + length;
                if (length < MaxPacketPayload && assembled == 0)
                {
                    _consumed = next;
                    if (payload.IsSingleSegment)
                    {
                        return payload.First;
                    }

                    EnsureAssembly(length);
                    payload.CopyTo(_assembly);
                    return _assembly.AsMemory(0, length);
                }

                // A payload of several packets: gather the pieces in the pooled buffer.
                EnsureAssembly(assembled + length);
                payload.CopyTo(_assembly.AsSpan(assembled));
                assembled += length;
                _reader.AdvanceTo(next);
                if (length < MaxPacketPayload)
                {
                    return _assembly.AsMemory(0, assembled);
                }

                continue;
            }

            // Not a whole packet yet: everything was examined, nothing consumed.
            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException(buffer.Length == 0
                    ? "The server closed the connection."
                    : $"The server closed the connection in the middle of a packet ({buffer.Length} bytes of it received).");
            }
        }
    }

    /// <summary>Starts a new command: the next packet written has sequence number 0.</summary>
    public void ResetSequence() => _sequence = 0;

    /// <summary>Writes one payload as one or more packets, continuing the sequence.</summary>
    public async ValueTask WritePayloadAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(payload.Length, MaxPacketPayload) + HeaderLength);
        try
        {
            var remaining = payload;
            while (true)
            {
                var chunk = Math.Min(remaining.Length, MaxPacketPayload);
                buffer[0] = (byte)chunk;
                buffer[1] = (byte)(chunk >> 8);
                buffer[2] = (byte)(chunk >> 16);
                buffer[3] = _sequence++;
                remaining.Span[..chunk].CopyTo(buffer.AsSpan(HeaderLength));
                await _stream.WriteAsync(buffer.AsMemory(0, chunk + HeaderLength), cancellationToken).ConfigureAwait(false);
                remaining = remaining[chunk..];
                if (chunk < MaxPacketPayload)
                {
                    break;
                }
            }

            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Switches to TLS; no server bytes may be pending (the server waits for the SSL request's handshake).</summary>
    public async Task UpgradeToTlsAsync(SslClientAuthenticationOptions options, CancellationToken cancellationToken)
    {
        ReleasePrevious();
        await _reader.CompleteAsync().ConfigureAwait(false);
        var tls = new SslStream(_transport, leaveInnerStreamOpen: true);
        try
        {
            await tls.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _stream = tls;
        _reader = CreateReader(tls);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _reader.CompleteAsync().ConfigureAwait(false);
        if (!ReferenceEquals(_stream, _transport))
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }

        await _transport.DisposeAsync().ConfigureAwait(false);
        if (_assembly.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_assembly);
            _assembly = [];
        }
    }

    private static PipeReader CreateReader(Stream stream) =>
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: MinimumReadSize, minimumReadSize: MinimumReadSize / 4, leaveOpen: true));

    private bool TryReadPacket(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> payload, out int length, out SequencePosition next)
    {
        payload = default;
        next = default;
        length = 0;
        if (buffer.Length < HeaderLength)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderLength];
        var reader = new SequenceReader<byte>(buffer);
        if (buffer.FirstSpan.Length >= HeaderLength)
        {
            buffer.FirstSpan[..HeaderLength].CopyTo(header);
        }
        else
        {
            reader.TryCopyTo(header);
        }

        length = header[0] | (header[1] << 8) | (header[2] << 16);
        if (buffer.Length < HeaderLength + length)
        {
            return false;
        }

        if (header[3] != _sequence)
        {
            throw new BinlogFormatException("packet", "sequence", 3, $"packet sequence number {header[3]} where {_sequence} was expected");
        }

        _sequence++;
        payload = buffer.Slice(HeaderLength, length);
        next = payload.End;
        return true;
    }

    private void ReleasePrevious()
    {
        if (_consumed is { } consumed)
        {
            _reader.AdvanceTo(consumed);
            _consumed = null;
        }
    }

    private void EnsureAssembly(int length)
    {
        if (_assembly.Length >= length)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(length, _assembly.Length * 2));
        _assembly.AsSpan().CopyTo(bigger);
        if (_assembly.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_assembly);
        }

        _assembly = bigger;
    }
}
