using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Replicas;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>The copy counting, window, capacity and position holds of <see cref="ReplicaDeduplicator"/>, on a clock that
/// moves only when told.</summary>
public sealed class ReplicaDeduplicatorTests
{
    private readonly ManualClock _time = new();

    [Fact]
    public void Quorum_publishes_the_second_node_copy_drops_the_third_and_a_second_copy_from_the_same_node_is_not_another_replica()
    {
        var dedup = new ReplicaDeduplicator(3, 2, TimeSpan.FromSeconds(10), 1000, _time);

        Assert.Equal(CopyDecision.Hold, dedup.Observe(1, 0, At(1, 100)));
        Assert.Equal(CopyDecision.Duplicate, dedup.Observe(1, 0, At(1, 200))); // node 0 again: the same write written twice
        Assert.Equal(CopyDecision.Publish, dedup.Observe(1, 2, At(7, 50)));
        Assert.Equal(CopyDecision.Duplicate, dedup.Observe(1, 1, At(3, 10)));
        Assert.Equal((2L, 0L), (dedup.Duplicates, dedup.Expired));
    }

    [Fact]
    public void A_held_copy_keeps_its_node_position_until_published_or_expired()
    {
        var dedup = new ReplicaDeduplicator(2, 2, TimeSpan.FromSeconds(10), 1000, _time);
        dedup.Observe(1, 0, At(1, 100));
        dedup.Observe(2, 0, At(1, 300));

        Assert.Equal(At(1, 100), dedup.SafePosition(0, At(1, 400)));
        Assert.Equal(At(5, 5), dedup.SafePosition(1, At(5, 5)));

        dedup.Observe(1, 1, At(2, 10)); // the first update reaches the level: its hold goes
        Assert.Equal(At(1, 300), dedup.SafePosition(0, At(1, 400)));

        _time.Advance(TimeSpan.FromSeconds(10));
        dedup.Expire(); // the second never does: forgotten, counted, its hold gone
        Assert.Equal((At(1, 400), 1L, 0), (dedup.SafePosition(0, At(1, 400)), dedup.Expired, dedup.Count));
    }

    [Fact]
    public void Under_one_a_copy_after_the_window_or_after_eviction_is_taken_for_a_new_update()
    {
        var dedup = new ReplicaDeduplicator(3, 1, TimeSpan.FromSeconds(10), 1000, _time);
        Assert.Equal(CopyDecision.Publish, dedup.Observe(1, 0, At(1, 1)));
        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(CopyDecision.Duplicate, dedup.Observe(1, 1, At(1, 1)));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(CopyDecision.Publish, dedup.Observe(1, 2, At(1, 1)));

        var small = new ReplicaDeduplicator(2, 1, TimeSpan.FromMinutes(5), 2, _time);
        small.Observe(10, 0, At(1, 1));
        small.Observe(11, 0, At(1, 2));
        small.Observe(12, 0, At(1, 3)); // the third evicts the first
        Assert.Equal((2, 1L), (small.Count, small.Evicted));
        Assert.Equal(CopyDecision.Publish, small.Observe(10, 1, At(1, 1)));
        Assert.Equal(CopyDecision.Duplicate, small.Observe(12, 1, At(1, 3)));
    }

    [Fact]
    public void Under_quorum_a_stall_of_the_source_longer_than_the_window_between_two_copies_does_not_expire_the_update()
    {
        var dedup = new ReplicaDeduplicator(3, 2, TimeSpan.FromSeconds(10), 1000, _time);
        Assert.Equal(CopyDecision.Hold, dedup.Observe(1, 0, At(1, 100)));
        _time.Advance(TimeSpan.FromSeconds(5));

        dedup.Pause(); // the source waits for the sink a minute
        _time.Advance(TimeSpan.FromMinutes(1));
        dedup.Expire();
        dedup.Resume();
        dedup.Expire();

        Assert.Equal(CopyDecision.Publish, dedup.Observe(1, 1, At(2, 100)));
        Assert.Equal(0L, dedup.Expired);

        // Time while reading still counts: an update held 10 s of reading expires.
        Assert.Equal(CopyDecision.Hold, dedup.Observe(2, 0, At(1, 200)));
        _time.Advance(TimeSpan.FromSeconds(6));
        dedup.Pause();
        _time.Advance(TimeSpan.FromSeconds(30));
        dedup.Resume();
        _time.Advance(TimeSpan.FromSeconds(4));
        dedup.Expire();
        Assert.Equal((1L, At(1, 300)), (dedup.Expired, dedup.SafePosition(0, At(1, 300))));
    }

    [Fact]
    public void A_position_of_several_nodes_round_trips_and_one_node_keeps_its_stored_form()
    {
        var several = new CassandraPosition([("node1", At(100, 28)), ("node2", At(7, 0))], replicas: true);
        var one = new CassandraPosition("node1", At(100, 28));

        Assert.Equal("""{"nodes":{"node1":{"segment":100,"offset":28},"node2":{"segment":7,"offset":0}}}""", several.ToJson());
        Assert.Equal(several, CassandraPosition.Parse(several.ToJson()));
        Assert.Equal("""{"node":"node1","segment":100,"offset":28}""", one.ToJson());
        Assert.Equal(one, CassandraPosition.Parse(one.ToJson()));
        Assert.NotEqual(one, CassandraPosition.Parse("""{"nodes":{"node1":{"segment":100,"offset":28}}}"""));
    }

    private static CommitLogPosition At(long segment, long offset) => new(segment, offset);
}

/// <summary>A clock that moves only when told (thread-safe: the source loop reads it while a test moves it).</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _ticks = TimeSpan.TicksPerDay;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
