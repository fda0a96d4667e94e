using Avro;
using Avro.Generic;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>The conformance suite's own check can fail: a lost, reordered or unknown event, or a wrong final state, is reported.</summary>
public sealed class VersionedWorkloadCheckTests
{
    private static readonly RecordSchema KeySchema = (RecordSchema)Schema.Parse("""{"type":"record","name":"Key","fields":[{"name":"id","type":"int"}]}""");

    private static readonly RecordSchema ValueSchema = (RecordSchema)Schema.Parse("""
        {"type":"record","name":"Envelope","fields":[
          {"name":"after","type":["null",{"type":"record","name":"Row","fields":[{"name":"id","type":"int"},{"name":"v","type":"long"}]}]},
          {"name":"op","type":"string"}]}
        """);

    [Fact]
    public void Every_version_and_delete_in_order_with_repeats_and_a_final_tombstone_passes() =>
        Assert.Null(Problem([C(1, 1), U(1, 2), C(1, 1), U(1, 2), D(1), T(1), C(2, 3)]));

    [Fact]
    public void A_lost_version_fails() =>
        Assert.Contains("key 1", Problem([C(1, 1), D(1), T(1), C(2, 3)]), StringComparison.Ordinal);

    [Fact]
    public void Versions_out_of_commit_order_fail() =>
        Assert.NotNull(Problem([U(1, 2), C(1, 1), D(1), T(1), C(2, 3)]));

    [Fact]
    public void A_delete_without_its_final_tombstone_fails() =>
        Assert.Contains("last record delete of v2", Problem([C(1, 1), U(1, 2), D(1), C(2, 3)]), StringComparison.Ordinal);

    [Fact]
    public void A_key_without_committed_changes_fails() =>
        Assert.Contains("key 7", Problem([C(1, 1), U(1, 2), D(1), T(1), C(2, 3), C(7, 9)]), StringComparison.Ordinal);

    /// <summary>Committed: key 1 created at v1, updated to v2 and deleted; key 2 created at v3.</summary>
    private static string? Problem(CdcRecord[] topic)
    {
        var workload = new VersionedWorkload(keys: 10, seed: 1);
        workload.Committed[1] = [1, 2, -2];
        workload.Committed[2] = [3];
        var check = new VersionedWorkload.Check(workload);
        foreach (var record in topic)
        {
            check.Add(record);
        }

        return check.Problem();
    }

    private static CdcRecord C(int id, long v) => Record(id, v, "c");

    private static CdcRecord U(int id, long v) => Record(id, v, "u");

    private static CdcRecord D(int id) => Record(id, null, "d");

    private static CdcRecord T(int id) => new(Key(id), null, 0, 0);

    private static CdcRecord Record(int id, long? v, string op)
    {
        var value = new GenericRecord(ValueSchema);
        if (v is { } version)
        {
            var row = new GenericRecord((RecordSchema)((UnionSchema)ValueSchema["after"].Schema).Schemas[1]);
            row.Add("id", id);
            row.Add("v", version);
            value.Add("after", row);
        }
        else
        {
            value.Add("after", null);
        }

        value.Add("op", op);
        return new CdcRecord(Key(id), value, 0, 0);
    }

    private static GenericRecord Key(int id)
    {
        var key = new GenericRecord(KeySchema);
        key.Add("id", id);
        return key;
    }
}
