using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;

namespace DataMesh.Connectors.Cassandra.CommitLog;

/// <summary>
/// Reads the entries of one commit-log segment, checking every CRC: the header, each sync marker (id and offset), each
/// entry's size and mutation. Plain sections are read in place; compressed and encrypted ones are decoded section by
/// section into one pooled buffer, so an entry's span is valid until the next section is read.
/// </summary>
/// <remarks>
/// <para>Layout: header, then sections, each opened by a sync marker (int32 offset of the next marker, int32 CRC of the
/// segment id and the marker's offset). A plain section's payload is its entries; a compressed one holds int32 T (the
/// uncompressed length) and the compressor's output; an encrypted one int32 T and chunks (int32 ciphertext length,
/// int32 plaintext length, AES-CBC ciphertext restarting from the header's IV), each decrypting to int32 R and the
/// chunk compressor's output of R bytes. Entry: int32 size S, CRC32 of S, S mutation bytes, CRC32 of S and the bytes.
/// </para>
/// <para>Offsets are Cassandra's commit-log positions: file offsets in plain segments; in compressed and encrypted ones,
/// offsets in the uncompressed layout, where each section takes 8 + T bytes. The data end at a zeroed marker (a
/// pre-allocated plain segment), at an entry of size 0, or where fewer than 8 bytes remain.</para>
/// <para>Errors are <see cref="CommitLogFormatException"/>s naming the segment and the offset: <see cref="CommitLogError.Truncated"/>
/// when the file ends inside a section (the entries before the torn one are returned first),
/// <see cref="CommitLogError.Corrupt"/> for a CRC or length that does not match, <see cref="CommitLogError.Unsupported"/>
/// for an unknown version, compressor, cipher or key. Unlike Cassandra's replay, an entry whose CRC fails is never
/// skipped: a change-data reader must not lose a change silently.</para>
/// </remarks>
internal sealed class CommitLogSegmentReader : IDisposable
{
    /// <summary>An entry's bytes besides its mutation: size, size CRC, mutation CRC.</summary>
    public const int EntryOverhead = 12;

    private const int MarkerLength = 8;
    private const int MinimumMutationSize = 10;

    private readonly ReadOnlyMemory<byte> _data;
    private readonly long _durableOffset;
    private readonly bool _complete;
    private readonly CommitLogReaderOptions _options;
    private readonly List<CommitLogSection> _sections = [];
    private readonly SectionCodecs.Codec _codec;
    private readonly Aes? _aes;
    private readonly Crc32 _crc = new();
    private byte[]? _plaintext;
    private byte[]? _chunk;

    // The current section: its payload (in _data or _plaintext), the read offset in it, its logical start.
    private bool _inPlaintext;
    private int _payloadStart;
    private int _payloadEnd;
    private int _read;
    private long _payloadLogicalStart;
    private bool _truncatedSection;
    private int _next;

    /// <summary>Opens a segment and checks its header.</summary>
    /// <param name="segment">The segment's file name, for errors.</param>
    /// <param name="data">The segment's bytes.</param>
    /// <param name="options">Keys and limits, or null for the defaults.</param>
    /// <param name="durableOffset">Where the durable data end (a CDC index's offset): no section that ends beyond it is
    /// read. <see cref="long.MaxValue"/> to read all.</param>
    /// <param name="complete">The segment will not grow (its index says <c>COMPLETED</c>, or a 3.x segment moved into
    /// <c>cdc_raw</c> once finished): a compressed or encrypted section that the file ends inside is a write torn at a
    /// crash and ends the data (<see cref="CommitLogEnd.TornSection"/>) instead of being <see cref="CommitLogError.Truncated"/>.
    /// A plain segment is pre-sized, so a crash leaves zeros in it, which end it as unwritten space; a plain file that ends
    /// inside a section is a copy or a cut file and stays <see cref="CommitLogError.Truncated"/>.</param>
    /// <exception cref="CommitLogFormatException">An unreadable header, an unknown version, compressor, cipher or key.</exception>
    public CommitLogSegmentReader(string segment, ReadOnlyMemory<byte> data, CommitLogReaderOptions? options = null, long durableOffset = long.MaxValue, bool complete = false)
    {
        Segment = segment;
        _data = data;
        _durableOffset = durableOffset;
        _complete = complete;
        _options = options ?? new CommitLogReaderOptions();
        Descriptor = CommitLogDescriptor.Read(data.Span, segment);
        _next = Descriptor.HeaderLength;
        _payloadLogicalStart = Descriptor.HeaderLength;
        if (Descriptor.IsEncrypted)
        {
            _aes = CreateCipher();
            if (!SectionCodecs.TryGet(_options.EncryptedChunkCompressor, out _codec))
            {
                throw new CommitLogFormatException(CommitLogError.Unsupported, segment, 14, $"the chunk compressor '{_options.EncryptedChunkCompressor}' is not one of LZ4Compressor, SnappyCompressor, DeflateCompressor, ZstdCompressor, NoopCompressor");
            }
        }
        else if (Descriptor.IsCompressed && !SectionCodecs.TryGet(Descriptor.CompressionClass!, out _codec))
        {
            throw new CommitLogFormatException(CommitLogError.Unsupported, segment, 14, $"the segment's compressor '{Descriptor.CompressionClass}' is not supported: this reader knows LZ4Compressor, SnappyCompressor, DeflateCompressor, ZstdCompressor and NoopCompressor (set commitlog_compression to one of them)");
        }
    }

    public string Segment { get; }

    public CommitLogDescriptor Descriptor { get; }

    /// <summary>The sections read so far.</summary>
    public IReadOnlyList<CommitLogSection> Sections => _sections;

    /// <summary>Why the data ended, once <see cref="TryReadEntry"/> returned false.</summary>
    public CommitLogEnd End { get; private set; }

    /// <summary>The file offset where the data ended (the zeroed marker, the file's end, the zero-size entry).</summary>
    public long EndOffset { get; private set; } = -1;

    /// <summary>How many bytes of the torn last section the file lacks, once <see cref="End"/> is
    /// <see cref="CommitLogEnd.TornSection"/> (its marker is the last of <see cref="Sections"/>).</summary>
    public int MissingBytes { get; private set; }

    /// <summary>Whether the segment's sections are decoded (compressed or encrypted) rather than read in place.</summary>
    private bool Decoded => Descriptor.IsEncrypted || Descriptor.IsCompressed;

    /// <summary>Reads the next entry, checking both of its CRCs.</summary>
    /// <returns>False at the end of the segment's data (see <see cref="End"/>).</returns>
    /// <exception cref="CommitLogFormatException">A CRC or length mismatch, or a segment that ends inside a section.</exception>
    public bool TryReadEntry(out CommitLogEntry entry)
    {
        while (End == CommitLogEnd.None)
        {
            if (_read < _payloadEnd && TryReadEntryInSection(out entry))
            {
                return true;
            }

            if (End == CommitLogEnd.None && _truncatedSection)
            {
                throw new CommitLogFormatException(CommitLogError.Truncated, Segment, _data.Length, $"the segment ends inside the section whose marker is at {_sections[^1].MarkerOffset} (it declares its end at {_next}): a torn write, or a copy taken while the node wrote it");
            }

            if (End == CommitLogEnd.None)
            {
                ReadSection();
            }
        }

        entry = default;
        return false;
    }

    public void Dispose()
    {
        _aes?.Dispose();
        if (_plaintext is not null)
        {
            ArrayPool<byte>.Shared.Return(_plaintext);
            _plaintext = null;
        }

        if (_chunk is not null)
        {
            ArrayPool<byte>.Shared.Return(_chunk);
            _chunk = null;
        }
    }

    private bool TryReadEntryInSection(out CommitLogEntry entry)
    {
        var payload = (_inPlaintext ? _plaintext.AsSpan() : _data.Span)[.._payloadEnd];
        var start = _read;
        var offset = Logical(start);
        var remaining = _payloadEnd - start;
        if (remaining < 4)
        {
            if (_truncatedSection)
            {
                throw Torn(offset, "its size field");
            }

            throw Error(CommitLogError.Corrupt, offset, $"{remaining} stray bytes after the last entry of the section (an entry needs at least {EntryOverhead + MinimumMutationSize})");
        }

        var size = BinaryPrimitives.ReadInt32BigEndian(payload[start..]);
        if (size == 0)
        {
            // Unwritten space: Cassandra's reader stops here too. Anything but zeros after it is not unwritten.
            if (payload[start.._payloadEnd].ContainsAnyExcept((byte)0))
            {
                throw Error(CommitLogError.Corrupt, offset, "an entry of size 0 (unwritten space) is followed by data");
            }

            End = CommitLogEnd.ZeroSize;
            EndOffset = _inPlaintext ? offset : start;
            entry = default;
            return false;
        }

        if (remaining < 8)
        {
            throw _truncatedSection ? Torn(offset, "its size CRC") : Error(CommitLogError.Corrupt, offset, $"the section ends {remaining} bytes into an entry's 8-byte size and CRC");
        }

        var sizeCrc = BinaryPrimitives.ReadUInt32BigEndian(payload[(start + 4)..]);
        var expectedSizeCrc = CommitLogCrc.Size(size);
        if (sizeCrc != expectedSizeCrc)
        {
            throw Error(CommitLogError.Corrupt, offset, $"entry size CRC mismatch: the entry says 0x{sizeCrc:X8}, its size {size} gives 0x{expectedSizeCrc:X8}");
        }

        if (size < MinimumMutationSize)
        {
            throw Error(CommitLogError.Corrupt, offset, $"an entry of {size} bytes is shorter than any mutation ({MinimumMutationSize})");
        }

        if ((long)size + EntryOverhead > remaining)
        {
            if (_truncatedSection)
            {
                throw Torn(offset, $"its {size} bytes");
            }

            throw Error(CommitLogError.Corrupt, offset, $"an entry of {size} bytes overruns its section, which has {remaining - EntryOverhead} left");
        }

        var mutation = payload.Slice(start + 8, size);
        _crc.Reset();
        _crc.Append(payload.Slice(start, 4));
        _crc.Append(mutation);
        var expected = BinaryPrimitives.ReadUInt32BigEndian(payload[(start + 8 + size)..]);
        var actual = _crc.GetCurrentHashAsUInt32();
        if (expected != actual)
        {
            throw Error(CommitLogError.Corrupt, offset, $"mutation CRC mismatch in the entry of {size} bytes: the entry says 0x{expected:X8}, its bytes give 0x{actual:X8}");
        }

        _read = start + size + EntryOverhead;
        var section = _sections[^1];
        _sections[^1] = section with { Entries = section.Entries + 1 };
        entry = new CommitLogEntry(mutation, Descriptor.Id, offset);
        return true;
    }

    private void ReadSection()
    {
        var data = _data.Span;
        var marker = _next;
        var logicalStart = _sections.Count == 0 ? Descriptor.HeaderLength : _payloadLogicalStart + (_payloadEnd - _payloadStart);
        if (logicalStart >= _durableOffset)
        {
            End = CommitLogEnd.DurableOffset;
            EndOffset = marker;
            return;
        }

        if (data.Length - marker < MarkerLength)
        {
            End = CommitLogEnd.FileEnd;
            EndOffset = marker;
            return;
        }

        var next = BinaryPrimitives.ReadInt32BigEndian(data[marker..]);
        var markerCrc = BinaryPrimitives.ReadUInt32BigEndian(data[(marker + 4)..]);
        var expectedCrc = CommitLogCrc.SyncMarker(Descriptor.Id, marker);
        if (markerCrc != expectedCrc)
        {
            if (next == 0 && markerCrc == 0)
            {
                End = CommitLogEnd.ZeroedMarker;
                EndOffset = marker;
                return;
            }

            throw Error(CommitLogError.Corrupt, marker, $"sync marker CRC mismatch: the marker says 0x{markerCrc:X8}, segment id {Descriptor.Id} and offset {marker} give 0x{expectedCrc:X8}", fileOffset: true);
        }

        var minimum = marker + MarkerLength + (Decoded ? 4 : 0);
        if (next < minimum)
        {
            throw Error(CommitLogError.Corrupt, marker, $"the sync marker points to {next}, before the end of its own section header at {minimum}", fileOffset: true);
        }

        if (!Decoded && next > _durableOffset)
        {
            // The marker is written before the section's data are flushed and the index updated: not durable yet.
            End = CommitLogEnd.DurableOffset;
            EndOffset = marker;
            return;
        }

        _truncatedSection = next > data.Length;
        _next = next;
        if (!Decoded)
        {
            _sections.Add(new CommitLogSection(marker, next, marker, Math.Min(next, data.Length) - marker - MarkerLength, 0));
            _inPlaintext = false;
            _payloadStart = marker + MarkerLength;
            _payloadEnd = Math.Min(next, data.Length);
            _read = _payloadStart;
            _payloadLogicalStart = _payloadStart;
            return;
        }

        if (_truncatedSection)
        {
            // A compressed or encrypted section cannot be decoded in part.
            _sections.Add(new CommitLogSection(marker, next, logicalStart, 0, 0));
            _payloadStart = _payloadEnd = _read = 0;
            if (_complete)
            {
                // Its marker and bytes are written at one sync, with no fsync between them (CompressedSegment.write,
                // EncryptedSegment.write): in a segment that no longer grows, a file that ends inside them is a write torn
                // at a crash. Nothing follows it; Cassandra's replay, which read this segment before completing it, ended
                // there too (it tolerates a torn last section in the last segment it replays).
                End = CommitLogEnd.TornSection;
                EndOffset = marker;
                MissingBytes = next - data.Length;
            }

            return;
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(data[(marker + MarkerLength)..]);
        if (length < 0 || length > _options.MaxSectionLength)
        {
            throw Error(CommitLogError.Corrupt, marker + MarkerLength, $"the section declares {length} uncompressed bytes (the limit is MaxSectionLength, {_options.MaxSectionLength})", fileOffset: true);
        }

        if (logicalStart + MarkerLength + length > _durableOffset)
        {
            End = CommitLogEnd.DurableOffset;
            EndOffset = marker;
            return;
        }

        EnsureCapacity(ref _plaintext, length);
        var body = data[(marker + MarkerLength + 4)..next];
        if (Descriptor.IsEncrypted)
        {
            Decrypt(body, marker + MarkerLength + 4, _plaintext.AsSpan(0, length));
        }
        else
        {
            var problem = SectionCodecs.Decompress(_codec, body, _plaintext.AsSpan(0, length));
            if (problem is not null)
            {
                throw Error(CommitLogError.Corrupt, marker + MarkerLength + 4, $"the compressed section cannot be read: {problem}", fileOffset: true);
            }
        }

        _sections.Add(new CommitLogSection(marker, next, logicalStart, length, 0));
        _inPlaintext = true;
        _payloadStart = 0;
        _payloadEnd = length;
        _read = 0;
        _payloadLogicalStart = logicalStart + MarkerLength;
    }

    private void Decrypt(ReadOnlySpan<byte> chunks, int fileOffset, Span<byte> plaintext)
    {
        var produced = 0;
        while (!chunks.IsEmpty)
        {
            if (chunks.Length < 8)
            {
                throw Error(CommitLogError.Corrupt, fileOffset, $"{chunks.Length} stray bytes where an encrypted chunk's 8-byte header should be", fileOffset: true);
            }

            var encryptedLength = BinaryPrimitives.ReadInt32BigEndian(chunks);
            var plainLength = BinaryPrimitives.ReadInt32BigEndian(chunks[4..]);
            if (encryptedLength <= 0 || encryptedLength % 16 != 0 || encryptedLength > chunks.Length - 8 || plainLength < 4 || plainLength > encryptedLength)
            {
                throw Error(CommitLogError.Corrupt, fileOffset, $"an encrypted chunk declares {encryptedLength} encrypted and {plainLength} plain bytes, with {chunks.Length - 8} left in the section", fileOffset: true);
            }

            EnsureCapacity(ref _chunk, encryptedLength);
            int decrypted;
            try
            {
                decrypted = _aes!.DecryptCbc(chunks.Slice(8, encryptedLength), Descriptor.CipherIv, _chunk, PaddingMode.PKCS7);
            }
            catch (CryptographicException ex)
            {
                throw Error(CommitLogError.Corrupt, fileOffset, $"an encrypted chunk does not decrypt with key '{Descriptor.KeyAlias}' ({ex.Message}): a corrupt chunk, or the wrong key for the alias", fileOffset: true, ex);
            }

            if (decrypted != plainLength)
            {
                throw Error(CommitLogError.Corrupt, fileOffset, $"an encrypted chunk decrypts to {decrypted} bytes, not the {plainLength} it declares", fileOffset: true);
            }

            var raw = BinaryPrimitives.ReadInt32BigEndian(_chunk);
            if (raw < 0 || raw > plaintext.Length - produced)
            {
                throw Error(CommitLogError.Corrupt, fileOffset, $"an encrypted chunk declares {raw} uncompressed bytes, but its section has {plaintext.Length - produced} left", fileOffset: true);
            }

            var problem = SectionCodecs.Decompress(_codec, _chunk.AsSpan(4, decrypted - 4), plaintext.Slice(produced, raw));
            if (problem is not null)
            {
                throw Error(CommitLogError.Corrupt, fileOffset, $"a decrypted chunk cannot be decompressed: {problem}", fileOffset: true);
            }

            produced += raw;
            chunks = chunks[(8 + encryptedLength)..];
            fileOffset += 8 + encryptedLength;
        }

        if (produced != plaintext.Length)
        {
            throw Error(CommitLogError.Corrupt, fileOffset, $"the section's chunks hold {produced} bytes, not the {plaintext.Length} it declares", fileOffset: true);
        }
    }

    private Aes CreateCipher()
    {
        var d = Descriptor;
        if (!string.Equals(d.Cipher, "AES/CBC/PKCS5Padding", StringComparison.OrdinalIgnoreCase))
        {
            throw new CommitLogFormatException(CommitLogError.Unsupported, Segment, 14, $"the cipher '{d.Cipher}' is not supported: Cassandra's transparent data encryption uses AES/CBC/PKCS5Padding");
        }

        if (d.CipherIv!.Length != 16)
        {
            throw new CommitLogFormatException(CommitLogError.Corrupt, Segment, 14, $"the header's IV has {d.CipherIv.Length} bytes, AES needs 16");
        }

        if (!_options.EncryptionKeys.TryGetValue(d.KeyAlias!, out var key))
        {
            throw new CommitLogFormatException(CommitLogError.Unsupported, Segment, 14, $"the segment is encrypted with key alias '{d.KeyAlias}', which is not among the configured encryption keys: add the key's bytes under that alias");
        }

        if (key.Length is not (16 or 24 or 32))
        {
            throw new CommitLogFormatException(CommitLogError.Unsupported, Segment, 14, $"the key configured for alias '{d.KeyAlias}' has {key.Length} bytes; an AES key has 16, 24 or 32");
        }

        var aes = Aes.Create();
        aes.Key = key;
        return aes;
    }

    private static void EnsureCapacity(ref byte[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length)
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1024));
        }
    }

    /// <summary>The offset in the uncompressed layout of a payload offset.</summary>
    private long Logical(int payloadOffset) => _payloadLogicalStart + (payloadOffset - _payloadStart);

    private CommitLogFormatException Torn(long offset, string what) =>
        new(CommitLogError.Truncated, Segment, offset, $"the segment ends at {_data.Length}, inside the entry at {offset} ({what}): a torn write, or a copy taken while the node wrote it");

    private CommitLogFormatException Error(CommitLogError error, long offset, string detail, bool fileOffset = false, Exception? inner = null)
    {
        if (Decoded && !fileOffset)
        {
            detail += $" (entry offsets count the uncompressed segment; the section's marker is at file offset {_sections[^1].MarkerOffset})";
        }

        return new CommitLogFormatException(error, Segment, offset, detail, inner);
    }
}
