using System.Globalization;
using System.Text;
using DataMesh.IntegrationTests.Infrastructure;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>
/// Random upserts, updates and deletes over a set of keys of a table <c>(id int key, v bigint)</c>, in transactions of
/// 1 to <c>maxBatch</c> changes; every upsert and update writes the next version number (increasing, never reused) into
/// <c>v</c>. It records, per key, what was committed, in commit order: a version, or <c>-X</c> for a delete of the
/// row whose version was <c>X</c>. A delete is committed right after an update to a new version in the same
/// transaction, so that on a topic a delete is always preceded (a replay starts at a transaction) by the record of
/// that version: each event of each key has an identity of its own, repeats included.
/// </summary>
internal sealed class VersionedWorkload(int keys, int seed)
{
    /// <summary>Columns of the table the workload writes.</summary>
    public static readonly Column[] Columns = [new("id", ColumnType.Int32, Key: true), new("v", ColumnType.Int64)];

    private readonly Random _random = new(seed);
    private long _version;

    /// <summary>Per key, every committed version (and <c>-X</c> for deletes) in commit order.</summary>
    public Dictionary<int, List<long>> Committed { get; } = [];

    /// <summary>Changes committed so far (each affected a row, so each gave an event).</summary>
    public long Changes { get; private set; }

    /// <summary>Transactions committed so far.</summary>
    public long Transactions { get; private set; }

    /// <summary>Commits transactions until <paramref name="changes"/> changes were attempted or <paramref name="stop"/> is cancelled.</summary>
    public async Task RunAsync(IChangeWriter writer, int changes, int maxBatch = 20, TimeSpan? pause = null, CancellationToken stop = default)
    {
        var done = 0;
        while (done < changes && !stop.IsCancellationRequested)
        {
            var batch = new List<RowChange>();
            var planned = new List<(int Key, long Value)>();
            var size = Math.Min(_random.Next(1, maxBatch + 1), changes - done);
            for (var i = 0; i < size; i++)
            {
                var id = _random.Next(keys);
                var version = ++_version;
                switch (_random.Next(10))
                {
                    case < 6:
                        batch.Add(new RowChange.Upsert("id", ("id", id), ("v", version)));
                        planned.Add((id, version));
                        break;
                    case < 9:
                        batch.Add(new RowChange.Update("id", id, ("v", version)));
                        planned.Add((id, version));
                        break;
                    default:
                        batch.Add(new RowChange.Update("id", id, ("v", version)));
                        planned.Add((id, version));
                        batch.Add(new RowChange.Delete("id", id));
                        planned.Add((id, -version));
                        break;
                }
            }

            var affected = await writer.CommitAsync(batch);
            Transactions++;
            for (var i = 0; i < planned.Count; i++)
            {
                if (affected[i] > 0)
                {
                    if (!Committed.TryGetValue(planned[i].Key, out var list))
                    {
                        Committed[planned[i].Key] = list = [];
                    }

                    list.Add(planned[i].Value);
                    Changes++;
                }
            }

            done += size;
            if (pause is { } wait)
            {
                await Task.Delay(wait, CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// Checks a topic's records of this workload's table: per key, the first occurrence of each event (a version, or
    /// a delete of a version) is exactly the committed sequence, and the key's last record is its final state (the
    /// final version's record, or for a deleted row the delete's tombstone). Feed records in partition order.
    /// </summary>
    public sealed class Check(VersionedWorkload workload)
    {
        private readonly Dictionary<int, KeyState> _keys = [];

        public long Records { get; private set; }

        /// <summary>Records of an event that had arrived before (a version, or a delete of a version, seen again).</summary>
        public long Repeats { get; private set; }

        public void Add(CdcRecord record)
        {
            Records++;
            var id = (int)record.Key!["id"];
            if (!_keys.TryGetValue(id, out var state))
            {
                _keys[id] = state = new KeyState();
            }

            if (record.Value is null)
            {
                state.Last = Tombstone;
                return;
            }

            long identity;
            if (record.After is { } after)
            {
                identity = (long)after["v"];
                state.LastVersion = identity;
            }
            else
            {
                identity = -state.LastVersion; // the update to that version precedes the delete in its transaction
            }

            state.Last = identity;
            if (state.Seen.Add(identity))
            {
                state.First.Add(identity);
            }
            else
            {
                Repeats++;
            }
        }

        /// <summary>Null when every key is complete and right; else what is wrong with the first key that is not.</summary>
        public string? Problem()
        {
            foreach (var (key, committed) in workload.Committed.OrderBy(k => k.Key))
            {
                var state = _keys.GetValueOrDefault(key) ?? new KeyState();
                var final = committed[^1] < 0 ? Tombstone : committed[^1];
                if (!state.First.SequenceEqual(committed) || state.Last != final)
                {
                    return string.Create(CultureInfo.InvariantCulture,
                        $"key {key}: committed [{Format(committed)}] (final state {Name(final)}); the topic's first occurrences [{Format(state.First)}], its last record {Name(state.Last)}");
                }
            }

            var unexpected = _keys.Keys.Where(k => !workload.Committed.ContainsKey(k)).Order().FirstOrDefault(-1);
            return unexpected >= 0 ? $"key {unexpected} has records on the topic but no committed change" : null;
        }

        private static string Name(long value) => value switch
        {
            Tombstone => "tombstone",
            0 => "none",
            < 0 => $"delete of v{-value}",
            _ => $"v{value}",
        };

        private static string Format(List<long> values)
        {
            static string One(long v) => v < 0 ? $"d{-v}" : v.ToString(CultureInfo.InvariantCulture);
            if (values.Count <= 40)
            {
                return string.Join(", ", values.Select(One));
            }

            var text = new StringBuilder();
            text.AppendJoin(", ", values.Take(20).Select(One)).Append(CultureInfo.InvariantCulture, $", ... ({values.Count - 40} more) ..., ").AppendJoin(", ", values.TakeLast(20).Select(One));
            return text.ToString();
        }

        private const long Tombstone = long.MinValue;

        private sealed class KeyState
        {
            public List<long> First { get; } = [];

            public HashSet<long> Seen { get; } = [];

            public long LastVersion { get; set; }

            public long Last { get; set; }
        }
    }
}
