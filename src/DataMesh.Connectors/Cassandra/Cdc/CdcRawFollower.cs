using DataMesh.Connectors.Cassandra.CommitLog;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Connectors.Cassandra.Cdc;

/// <summary>Receives one entry of a <c>cdc_raw</c> segment; the entry is valid during the call only.</summary>
/// <param name="segment">The segment's file name.</param>
/// <param name="entry">The entry.</param>
internal delegate void CdcEntryHandler(string segment, in CommitLogEntry entry);

/// <summary>
/// Follows a node's <c>cdc_raw</c> (a directory, or the node's agent: <see cref="ICdcRawStore"/>): the segments that held mutations of tables with <c>cdc = true</c>, in
/// segment-id order, each read up to the durable offset of its <c>_cdc.idx</c> and again as that offset grows, until
/// the index says <c>COMPLETED</c>. Segments of Cassandra 3.x (commit-log version 6) have no index: the node moves them
/// to <c>cdc_raw</c> only once finished, so they are read whole; and it moves each when it discards it, which can be after
/// a newer one (a segment is discarded once every table it holds data of was flushed). So a 3.x segment below the
/// position that is not known as read (<see cref="Read"/>) arrived late, and is read whole; its entries are handed over
/// without moving the position back. A segment (and its index) is deleted only once the
/// position stored after Kafka acknowledged its events is past its last entry, unless <see cref="KeepSegments"/>: until
/// then it counts against the node's <c>cdc_total_space</c>, and writes to CDC tables fail when that is full.
/// </summary>
/// <remarks>Not thread-safe: one follower per node, polled by one loop. Every segment is read from its start
/// on each poll that finds it grown (at most <c>commitlog_segment_size</c>, 32 MiB by default); entries at or before
/// the given position are skipped, so a restart from a stored position repeats nothing that was acknowledged. A poll
/// that stops after <c>maxEntries</c> keeps the segment's reader for the next poll from the position it returned.</remarks>
internal sealed class CdcRawFollower
{
    private readonly ICdcRawStore _store;
    private readonly CommitLogReaderOptions _options;

    /// <summary>Completed segments read to their end: id → the end of their last entry (their header's end if none), and
    /// whether it was a 3.x segment read late (below the position).</summary>
    private readonly Dictionary<long, (CdcSegmentFile Segment, long End, bool Late)> _completed = [];

    /// <summary>The 3.x segments read to their end that are still in <c>cdc_raw</c> (at the last listing).</summary>
    private readonly SortedSet<long> _read = [];

    /// <summary>Whether 3.x segments are tracked in <see cref="_read"/>: since one was met, or since a position with its list
    /// was resumed from.</summary>
    private bool _tracksRead;

    /// <summary>A position without a list of 3.x segments read was resumed from (stored before the list existed): at the
    /// first listing, every 3.x segment below its segment counts as read, as it did then.</summary>
    private long? _readBelow;

    /// <summary>Late 3.x segments not read to their end in this run: id → the end of the last entry handed over. A poll
    /// that stopped in one (<c>maxEntries</c>, or the handler threw: the connector reads <c>system_schema</c> again and polls
    /// from the same position) reads on after it, as the position does for a segment above it.</summary>
    private readonly Dictionary<long, long> _lateHanded = [];

    /// <summary>3.x segments not yet read (or not to their end) whose length is watched until it stays the same for
    /// <see cref="SettleTime"/>: id → the length, and when it was first seen.</summary>
    private readonly Dictionary<long, (long Length, long Since)> _settling = [];

    /// <summary>The segment last read to its durable offset (not completed), that offset, and the position the poll
    /// returned: while its index shows the same offset, the segment holds nothing new and is not read again.</summary>
    private (long Id, long Durable, CommitLogPosition Returned)? _readThrough;

    /// <summary>The segment a poll left after <c>maxEntries</c> entries (not read to its durable offset): its reader, its
    /// index (that offset, and whether <c>COMPLETED</c>) and the position the poll returned. The next poll from that position with the index unchanged reads on with
    /// it, instead of reading the file again from its start (a 32 MiB segment holds some 100,000 entries: read whole every
    /// 20,000 entries, the copying and CRC checks cost more than decoding them). Holds the segment's bytes until then.</summary>
    private (long Id, CdcIndex Index, CommitLogPosition Returned, CommitLogSegmentReader Reader)? _partial;

    /// <summary>Segments seen without an index while a later one had one (see <see cref="Poll(CommitLogPosition, CdcEntryHandler, int, CancellationToken)"/>).</summary>
    private readonly HashSet<long> _withoutIndex = [];

    public CdcRawFollower(string directory, CommitLogReaderOptions? options = null)
        : this(new CdcRawDirectory(directory), options)
    {
    }

    public CdcRawFollower(ICdcRawStore store, CommitLogReaderOptions? options = null)
    {
        _store = store;
        _options = options ?? new CommitLogReaderOptions();
    }

    /// <summary>Keep segments after their events were acknowledged (an operator or another consumer deletes them).</summary>
    public bool KeepSegments { get; init; }

    /// <summary>How long a 3.x segment's length must stay the same, at two polls at least, before it is read; null: read
    /// at once. 3.x moves a segment into <c>cdc_raw</c> with Java's <c>Files.move</c>, which copies it when
    /// <c>cdc_raw</c> is on another file system than the commit log: a copy stopped right after a section would read as a
    /// whole segment, and the rest of it would be lost.</summary>
    public TimeSpan? SettleTime { get; init; }

    /// <summary>How long a 3.x segment whose file ends inside its last compressed or encrypted section must keep its
    /// length before that section is taken as torn (written at a crash) and the segment as read; null: as soon as it is
    /// settled (<see cref="SettleTime"/>). A 3.x segment is known finished only by its length: a copy into <c>cdc_raw</c>
    /// held up longer than <see cref="SettleTime"/> also ends inside a section, and the rest of it would be lost.</summary>
    public TimeSpan? TornSettleTime { get; init; }

    /// <summary>The clock of <see cref="SettleTime"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Where a completed segment that ends in a torn section is reported (a warning).</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>The source's name, for <see cref="Logger"/>.</summary>
    public string Source { get; init; } = string.Empty;

    /// <summary>Where a run resumes: the stored position and its list of 3.x segments read below it (null: a position
    /// without one, below which every segment counts as read; or none stored, id 0, below which there is nothing).</summary>
    public void Resume(CommitLogPosition position, IReadOnlyList<long>? read)
    {
        if (read is null)
        {
            if (position.SegmentId > 0)
            {
                _readBelow = position.SegmentId;
            }

            return;
        }

        _tracksRead = true;
        _read.UnionWith(read);
    }

    /// <summary>The ids of the 3.x segments below <paramref name="segmentId"/> read to their end and still in
    /// <c>cdc_raw</c>, for a position at that segment; null when this node has none to track (no 3.x segment met, and
    /// none listed by the position resumed from).</summary>
    public IReadOnlyList<long>? Read(long segmentId) => _tracksRead ? [.. _read.GetViewBetween(long.MinValue, segmentId - 1)] : null;

    /// <summary>Reads what became durable after <paramref name="after"/> and hands each entry over in order.</summary>
    /// <param name="after">The position of the last entry already handled (the stored position), or id 0 to start at
    /// the oldest segment.</param>
    /// <param name="handler">Receives each entry.</param>
    /// <param name="maxEntries">Stop after handing over this many entries (the next poll goes on from the position
    /// returned): a bound on what one poll makes its caller hold.</param>
    /// <returns>The position of the last entry handed over, or the end of the last completed segment read when that is
    /// later (a segment without entries); <paramref name="after"/> if neither.</returns>
    /// <param name="cancellationToken">Cancels a request to the node's agent.</param>
    /// <exception cref="CommitLogFormatException">A segment that cannot be read; the message names it and the offset.</exception>
    public CommitLogPosition Poll(CommitLogPosition after, CdcEntryHandler handler, int maxEntries = int.MaxValue, CancellationToken cancellationToken = default)
    {
        var partial = _partial;
        _partial = null;
        try
        {
            return Poll(after, handler, maxEntries, ref partial, cancellationToken);
        }
        finally
        {
            // Not read on by this poll (another position, a grown index, an error): its bytes go.
            partial?.Reader.Dispose();
        }
    }

    private CommitLogPosition Poll(CommitLogPosition after, CdcEntryHandler handler, int maxEntries, ref (long Id, CdcIndex Index, CommitLogPosition Returned, CommitLogSegmentReader Reader)? partial, CancellationToken cancellationToken)
    {
        var position = after;
        var handed = 0;
        var segments = _store.List(cancellationToken).ToList();
        Listed(segments);
        for (var s = 0; s < segments.Count; s++)
        {
            var segment = segments[s];
            var (id, version) = (segment.Id, segment.Version);
            var late = false;
            if (version == CommitLogDescriptor.Version30 && _read.Contains(id))
            {
                // A 3.x segment read to its end (in this run, or before the stored position that lists it).
                continue;
            }

            if (id < after.SegmentId || (id == after.SegmentId && _completed.TryGetValue(id, out var done) && after.Offset >= done.End))
            {
                if (version != CommitLogDescriptor.Version30 || id == after.SegmentId || _completed.ContainsKey(id))
                {
                    // Handed over before, or completed and read to its end: nothing new can come from it.
                    continue;
                }

                // A 3.x segment the node moved into cdc_raw after a newer one was read (it discarded this one later): read
                // whole now; its entries do not move the position back, and it joins the position's list once read.
                late = true;
            }

            CdcIndex index;
            if (_store.ReadIndex(segment, cancellationToken) is { } indexText)
            {
                if (!CdcIndex.TryParse(indexText, out index))
                {
                    break;
                }
            }
            else if (version == CommitLogDescriptor.Version30)
            {
                if (!Settled(segment, cancellationToken))
                {
                    // Perhaps still being copied in: read once its length has stayed the same (a late one waits alone).
                    if (late)
                    {
                        continue;
                    }

                    break;
                }

                index = new CdcIndex(long.MaxValue, Completed: true);
            }
            else if (LaterHasIndex(segments, s, cancellationToken) && !_withoutIndex.Add(id))
            {
                // Cassandra 4.0 links every new segment into cdc_raw and writes its index only at a sync once it holds a
                // CDC mutation, the older segments first: a later segment with an index, seen at two polls with this one
                // still without, means this one never had one (it held no CDC mutation; one sync writing both indexes
                // between two reads of one poll is ruled out by the second poll). The node deletes it when it discards
                // it; meanwhile the later ones are read.
                continue;
            }
            else
            {
                // Cassandra 4.0 writes the index at the segment's first sync: nothing is durable yet.
                break;
            }

            if (!index.Completed && _readThrough is { } through && through.Id == id && through.Durable == index.Offset && through.Returned == after)
            {
                // The index has not moved since this segment was read to it: nothing new (a node syncs every 10 s by default).
                break;
            }

            var name = segment.Name;
            var skipThrough = late ? _lateHanded.GetValueOrDefault(id) : id == after.SegmentId ? after.Offset : 0;
            CommitLogSegmentReader reader;
            if (partial is { } left && left.Id == id && left.Index == index && left.Returned == after)
            {
                // The previous poll stopped in this segment at this position, and nothing was added to it since. (An index
                // now COMPLETED is read again: its reader stopped at the durable offset, a completed one reads to the end,
                // and the offset a replay completes with, the file's length, may equal an earlier logical one.)
                reader = left.Reader;
                partial = null;
            }
            else
            {
                // A completed segment is read to the end of the bytes up to its offset: the offset Cassandra's replay
                // writes into the index of a segment it replayed is the file's length
                // (CommitLogReplayer.handleCDCReplayCompletion), which for a compressed or encrypted segment falls short
                // of the logical offsets the reader counts in (a sync's offset is logical, and beyond the file's end).
                // A torn last section ends a completed segment (it will not grow): Cassandra's replay wrote COMPLETED after
                // reading it so; before that, the node may still write the section.
                reader = new CommitLogSegmentReader(name, _store.Read(segment, index.Offset, cancellationToken), _options, index.Completed ? long.MaxValue : index.Offset, complete: index.Completed);
            }

            var keep = false;
            var tornUnsettled = false;
            try
            {
                while (reader.TryReadEntry(out var entry))
                {
                    if (entry.End > skipThrough)
                    {
                        handler(name, entry);
                        if (late)
                        {
                            _lateHanded[id] = entry.End;
                        }
                        else if (entry.Position > position)
                        {
                            position = entry.Position;
                        }

                        if (++handed >= maxEntries)
                        {
                            // Not read to its end: not recorded as completed, the next poll reads on from here.
                            _partial = (id, index, position, reader);
                            keep = true;
                            return position;
                        }
                    }
                }

                if (index.Completed && reader.End == CommitLogEnd.TornSection && version == CommitLogDescriptor.Version30
                    && !TornSettled(id, reader.Sections[^1].Next - reader.MissingBytes))
                {
                    // Perhaps a copy held up inside a section: read again (after what was handed over) until it has kept its
                    // length for TornSettleTime.
                    tornUnsettled = true;
                }
                else if (index.Completed)
                {
                    if (reader.End == CommitLogEnd.TornSection)
                    {
                        var torn = reader.Sections[^1];
                        CassandraLog.TornSection(Logger, Source, name, _store.Location, torn.MarkerOffset, torn.LogicalStart, reader.MissingBytes, torn.Next - reader.MissingBytes, torn.Next);
                    }

                    var end = reader.Sections.Count == 0 ? reader.Descriptor.HeaderLength : LastEnd(reader);
                    _completed[id] = (segment, end, late);
                    _lateHanded.Remove(id);
                    _settling.Remove(id);
                    if (version == CommitLogDescriptor.Version30)
                    {
                        _tracksRead = true;
                        _read.Add(id);
                    }

                    if (new CommitLogPosition(id, end) > position)
                    {
                        // A completed segment without entries (a closing one): the position passes it, so that once
                        // stored it lets the segment be deleted.
                        position = new CommitLogPosition(id, end);
                    }
                }
            }
            finally
            {
                if (!keep)
                {
                    reader.Dispose();
                }
            }

            if (tornUnsettled)
            {
                if (late)
                {
                    continue;
                }

                break;
            }

            if (!index.Completed)
            {
                _readThrough = (id, index.Offset, position);
                break;
            }
        }

        return position;
    }

    /// <summary>Deletes the completed segments (and their indexes) whose every entry is at or before the acknowledged
    /// position, unless <see cref="KeepSegments"/>; a 3.x segment read late only once a stored position lists it as read.</summary>
    /// <param name="acknowledged">The stored position (acknowledged by Kafka).</param>
    /// <param name="acknowledgedRead">The 3.x segments listed as read by a stored position.</param>
    /// <param name="cancellationToken">Cancels a request to the node's agent.</param>
    /// <returns>The segments deleted.</returns>
    public IReadOnlyList<string> DeleteAcknowledged(CommitLogPosition acknowledged, IReadOnlySet<long>? acknowledgedRead = null, CancellationToken cancellationToken = default)
    {
        // Index-less segments the position passed are the node's to delete; they are not met again.
        _withoutIndex.RemoveWhere(id => id < acknowledged.SegmentId);

        List<string> deleted = [];
        foreach (var (id, (segment, end, late)) in _completed.OrderBy(pair => pair.Key).ToList())
        {
            if (id > acknowledged.SegmentId || (id == acknowledged.SegmentId && acknowledged.Offset < end))
            {
                break;
            }

            if (late && acknowledgedRead?.Contains(id) != true)
            {
                // Read after newer segments: the position passed it before its events were produced.
                continue;
            }

            if (!KeepSegments)
            {
                _store.Delete(segment, cancellationToken);
                deleted.Add(segment.Name);
            }

            _completed.Remove(id);
        }

        return deleted;
    }

    /// <summary>Whether a 3.x segment read late waits for a stored position that lists it before it is deleted (the
    /// connector forgets the other ids stored positions listed).</summary>
    public bool AwaitsListing(long segmentId) => _completed.TryGetValue(segmentId, out var completed) && completed.Late;

    /// <summary>Forgets the 3.x segments no longer in <c>cdc_raw</c> (deleted here, or by the operator when kept): they are
    /// not met again. After resuming from a position without a list, first counts every 3.x segment below it as read.</summary>
    private void Listed(List<CdcSegmentFile> segments)
    {
        if (_readBelow is { } below)
        {
            _readBelow = null;
            _read.UnionWith(segments.Where(segment => segment.Version == CommitLogDescriptor.Version30 && segment.Id < below).Select(segment => segment.Id));
            if (segments.Count == 0)
            {
                // Nothing to tell a 3.x node from a 4.0 one (a 4.0 node links each segment into cdc_raw when it creates it,
                // so its cdc_raw is empty only while it is down): the next position carries a list, empty if need be, so that
                // a 3.x segment the node moves in while the source is stopped is read at the next start; without one it
                // would count as read again, however many runs later.
                _tracksRead = true;
            }
        }

        if (!_tracksRead && segments.Any(segment => segment.Version == CommitLogDescriptor.Version30))
        {
            // A 3.x segment met (a 3.x node; a node upgraded to 4.0 links the 3.x segments it replays after its first 4.0
            // one): from this poll on the position lists what was read below it, so that a restart while this segment is
            // read in part, or before it is read, does not count it as read. Until then (no stored position, or only 4.0
            // segments met) the position needs no list.
            _tracksRead = true;
        }

        if (_read.Count > 0 || _lateHanded.Count > 0 || _settling.Count > 0)
        {
            var listed = segments.Select(segment => segment.Id).ToHashSet();
            _read.IntersectWith(listed);
            foreach (var id in _lateHanded.Keys.Where(id => !listed.Contains(id)).ToList())
            {
                _lateHanded.Remove(id);
            }

            foreach (var id in _settling.Keys.Where(id => !listed.Contains(id)).ToList())
            {
                _settling.Remove(id);
            }

            foreach (var id in _completed.Where(c => c.Value.Late && !listed.Contains(c.Key)).Select(c => c.Key).ToList())
            {
                // Read late and deleted by the operator (KeepSegments) before a stored position listed it: never listed now.
                _completed.Remove(id);
            }
        }
    }

    /// <summary>Whether a 3.x segment's length stayed the same for <see cref="SettleTime"/>, seen at two polls at least.</summary>
    private bool Settled(CdcSegmentFile segment, CancellationToken cancellationToken)
    {
        if (SettleTime is not { } settle || _store.Length(segment, cancellationToken) is not { } length)
        {
            return true;
        }

        var now = Time.GetTimestamp();
        if (_settling.TryGetValue(segment.Id, out var seen) && seen.Length == length)
        {
            return Time.GetElapsedTime(seen.Since, now) >= settle;
        }

        _settling[segment.Id] = (length, now);
        return false;
    }

    /// <summary>Whether a 3.x segment that ends in a torn section has kept its length for <see cref="TornSettleTime"/>:
    /// since first seen at that length by <see cref="Settled"/>, or, when the store gives no lengths (an older agent), by
    /// the bytes read (<paramref name="length"/>), so that a copy held up inside a section is waited for there too.</summary>
    private bool TornSettled(long id, long length)
    {
        if (TornSettleTime is not { } wait)
        {
            return true;
        }

        var now = Time.GetTimestamp();
        if (_settling.TryGetValue(id, out var seen) && seen.Length == length)
        {
            return Time.GetElapsedTime(seen.Since, now) >= wait;
        }

        _settling[id] = (length, now);
        return false;
    }

    private bool LaterHasIndex(List<CdcSegmentFile> segments, int index, CancellationToken cancellationToken)
    {
        for (var i = index + 1; i < segments.Count; i++)
        {
            if (segments[i].Version != CommitLogDescriptor.Version30 && _store.ReadIndex(segments[i], cancellationToken) is not null)
            {
                return true;
            }
        }

        return false;
    }

    private static long LastEnd(CommitLogSegmentReader reader)
    {
        // The end of the last entry: the last section with entries ends where its entries do.
        for (var i = reader.Sections.Count - 1; i >= 0; i--)
        {
            var section = reader.Sections[i];
            if (section.Entries > 0)
            {
                return section.LogicalStart + 8 + section.Length;
            }
        }

        return reader.Descriptor.HeaderLength;
    }
}
