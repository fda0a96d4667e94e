using System.Globalization;
using Avro.Generic;
using Avro.IO;
using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Events;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>Rows of a mutation with every CQL type, collections, UDTs, a static row, TTLs and deletions (the one
/// <see cref="MutationDecodingTests"/> decodes) as change events, decoded by Apache.Avro's own reader from the events'
/// schemas: each type's documented Avro form (docs/cassandra.md, "Types").</summary>
public sealed class CassandraEventTests
{
    [Fact]
    public void Every_cql_type_travels_in_its_documented_avro_form_and_prefix_and_slice_deletions_are_documented_deletes()
    {
        var table = MutationDecodingTests.Everything();
        var host = new EncodingHost(new SourceDescription("cassandra", "cass", CassandraSourceBlock.Fields), new ChangeEventOptions());
        var context = host.Context<CassandraPosition>();
        var writer = new CassandraEventWriter(context, "node1", t => context.Table(CassandraConnector.TableInfo(t)));
        var decoder = new MutationDecoder(new CassandraSchema(table));
        writer.Begin("CommitLog-7-1.log", 1, 500);

        Assert.Equal(MutationOutcome.Decoded, decoder.Decode(MutationDecodingTests.EverythingMutation(), "CommitLog-7-1.log", 36, ref writer));
        writer.End();

        var lines = context.TakeEncoded().Select(r => Describe(r)).ToList();
        Assert.Equal(
            [
                "d key={id=42, ck1=null, ck2=null}",
                "tombstone key={id=42, ck1=null, ck2=null}",
                "u key={id=42, ck1=null, ck2=null} after={id=42, s=static value}",
                "c key={id=42, ck1=a, ck2=2023-11-14T22:13:20.000000} after={id=42, ck1=a, ck2=2023-11-14T22:13:20.000000, c_ascii=abc, c_bigint=-5, c_blob=0x010203, "
                    + "c_boolean=True, c_date=2024-01-01T00:00:00.000000, c_decimal={scale=2, value=0x3039}, c_double=1.5, c_duration=P1M-2DT3.000000000S, c_float=2.25, "
                    + "c_inet=127.0.0.1, c_int=7, c_smallint=-2, c_text=héllo, c_time=47655500000000, c_timestamp=2023-11-14T22:13:20.123000, "
                    + "c_timeuuid=e9b6a7c0-7cbb-11ee-9858-c9aa1eb53e69, c_tinyint=-128, c_uuid=0f8fad5b-d9cb-469f-a165-70867728950e, c_varchar=v, "
                    + "c_varint={scale=0, value=0xFF7F}, c_frozen_list=[1,null,2], c_tuple=[3,\"x\"], c_frozen_udt={\"street\":\"Main St\",\"zip\":12345}, "
                    + "c_frozen_map={\"k\":9}, c_list=[10,20], c_set=[\"member\"], c_map={\"key\":99}, c_udt={\"street\":\"Elm St\",\"zip\":54321}}",
                "c key={id=42, ck1=b, ck2=2023-11-14T22:13:20.000000} after={id=42, ck1=b, ck2=2023-11-14T22:13:20.000000, c_int=8, c_list=[30]}",
                "d key={id=42, ck1=c, ck2=2023-11-14T22:13:20.000000}",
                "tombstone key={id=42, ck1=c, ck2=2023-11-14T22:13:20.000000}",
                "d key={id=42, ck1=d, ck2=null}",
                "tombstone key={id=42, ck1=d, ck2=null}",
                "d key={id=42, ck1=null, ck2=null} before={id=42, _range_start={\"method\":\">=\",\"values\":{\"ck1\":\"f\"},\"order\":{\"ck1\":\"asc\"}}, "
                    + "_range_end={\"method\":\"<\",\"values\":{\"ck1\":\"g\",\"ck2\":\"2023-11-14T22:13:20.000Z\"},\"order\":{\"ck1\":\"asc\",\"ck2\":\"asc\"}}}",
                "d key={id=42, ck1=null, ck2=null} before={id=42, _range_start={\"method\":\">=\",\"values\":{\"ck1\":\"g\",\"ck2\":\"2023-11-14T22:13:20.000Z\"},\"order\":{\"ck1\":\"asc\",\"ck2\":\"asc\"}}, "
                    + "_range_end={\"method\":\"<=\",\"values\":{},\"order\":{}}}",
            ],
            lines);
    }

    [Fact]
    public void A_deletion_of_every_row_under_a_clustering_prefix_is_a_delete_keyed_by_the_prefix_with_the_rest_null()
    {
        // DELETE FROM shop.lines WHERE id = 1 AND a = 3: both bounds are the prefix (3), inclusive.
        var mutation = new MutationWriter().UVInt(1).Partition(LinesId, MutationWriter.Int(1), 0, T0, MutationWriter.DeletionTimeEpoch, 0).Columns("v")
            .Byte(0x02).Byte(1).Short(1).ClusteringHeader().Raw(MutationWriter.Int(3)).Deletion(T0, L0)
            .Byte(0x02).Byte(6).Short(1).ClusteringHeader().Raw(MutationWriter.Int(3)).Deletion(T0, L0)
            .Byte(0x01).ToArray();

        Assert.Equal(["d key={id=1, a=3, b=null}", "tombstone key={id=1, a=3, b=null}"], DecodeLines(mutation));
    }

    [Fact]
    public void A_range_or_prefix_deletion_after_a_row_carries_none_of_that_rows_cells()
    {
        // INSERT (1, 1, 'x', 5); DELETE … WHERE id = 1 AND a > 3 AND a < 9; INSERT (1, 1, 'x', 5); DELETE … WHERE id = 1 AND a = 4.
        var mutation = new MutationWriter().UVInt(1).Partition(LinesId, MutationWriter.Int(1), 0, T0, MutationWriter.DeletionTimeEpoch, 0).Columns("v")
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(1)).VText("x").Timestamp(T0).Byte(0x08).Raw(MutationWriter.Int(5))
            .Byte(0x02).Byte(7).Short(1).ClusteringHeader().Raw(MutationWriter.Int(3)).Deletion(T0, L0)
            .Byte(0x02).Byte(0).Short(1).ClusteringHeader().Raw(MutationWriter.Int(9)).Deletion(T0, L0)
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(10)).VText("y").Timestamp(T0).Byte(0x08).Raw(MutationWriter.Int(6))
            .Byte(0x02).Byte(1).Short(1).ClusteringHeader().Raw(MutationWriter.Int(14)).Deletion(T0, L0)
            .Byte(0x02).Byte(6).Short(1).ClusteringHeader().Raw(MutationWriter.Int(14)).Deletion(T0, L0)
            .Byte(0x01).ToArray();

        Assert.Equal(
            [
                "c key={id=1, a=1, b=x} after={id=1, a=1, b=x, v=5}",
                "d key={id=1, a=null, b=null} before={id=1, _range_start={\"method\":\">\",\"values\":{\"a\":3},\"order\":{\"a\":\"asc\"}}, _range_end={\"method\":\"<\",\"values\":{\"a\":9},\"order\":{\"a\":\"asc\"}}}",
                "c key={id=1, a=10, b=y} after={id=1, a=10, b=y, v=6}",
                "d key={id=1, a=14, b=null}",
                "tombstone key={id=1, a=14, b=null}",
            ],
            DecodeLines(mutation));
    }

    [Fact]
    public void A_row_written_inside_a_range_deletion_follows_the_deletion()
    {
        // BEGIN BATCH DELETE … WHERE id = 1 AND a > 3 AND a < 9; INSERT (1, 5, 'x', 7) USING TIMESTAMP later; APPLY BATCH:
        // the row is between the range's bounds in the mutation; applied after the deletion, it must stay.
        var mutation = new MutationWriter().UVInt(1).Partition(LinesId, MutationWriter.Int(1), 0, T0, MutationWriter.DeletionTimeEpoch, 0).Columns("v")
            .Byte(0x02).Byte(7).Short(1).ClusteringHeader().Raw(MutationWriter.Int(3)).Deletion(T0, L0)
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(5)).VText("x").Timestamp(T0 + 10).Byte(0x08).Raw(MutationWriter.Int(7))
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(6)).VText("z").Timestamp(T0 + 10).Byte(0x08).Raw(MutationWriter.Int(8))
            .Byte(0x02).Byte(0).Short(1).ClusteringHeader().Raw(MutationWriter.Int(9)).Deletion(T0, L0)
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(10)).VText("y").Timestamp(T0).Byte(0x08).Raw(MutationWriter.Int(6))
            .Byte(0x01).ToArray();

        Assert.Equal(
            [
                "d key={id=1, a=null, b=null} before={id=1, _range_start={\"method\":\">\",\"values\":{\"a\":3},\"order\":{\"a\":\"asc\"}}, _range_end={\"method\":\"<\",\"values\":{\"a\":9},\"order\":{\"a\":\"asc\"}}}",
                "c key={id=1, a=5, b=x} after={id=1, a=5, b=x, v=7}",
                "c key={id=1, a=6, b=z} after={id=1, a=6, b=z, v=8}",
                "c key={id=1, a=10, b=y} after={id=1, a=10, b=y, v=6}",
            ],
            DecodeLines(mutation));
    }

    private static readonly Guid LinesId = Guid.Parse("0d4b2c3b-0000-4000-8000-00000000000c");
    private const long T0 = 1_700_000_000_000_000;
    private const int L0 = 1_700_000_000;

    /// <summary>shop.lines (id, a, b, v; PRIMARY KEY ((id), a, b)): a mutation's events, described.</summary>
    private static List<string> DecodeLines(byte[] mutation)
    {
        var table = Assert.Single(CqlSchemaParser.Parse([$"CREATE TABLE shop.lines (id int, a int, b text, v int, PRIMARY KEY ((id), a, b)) WITH id = {LinesId} AND cdc = true"])).Table;
        var host = new EncodingHost(new SourceDescription("cassandra", "cass", CassandraSourceBlock.Fields), new ChangeEventOptions());
        var context = host.Context<CassandraPosition>();
        var writer = new CassandraEventWriter(context, "node1", t => context.Table(CassandraConnector.TableInfo(t)));
        writer.Begin("CommitLog-7-1.log", 1, 500);
        Assert.Equal(MutationOutcome.Decoded, new MutationDecoder(new CassandraSchema(table)).Decode(mutation, "CommitLog-7-1.log", 36, ref writer));
        writer.End();
        return context.TakeEncoded().Select(r => Describe(r)).ToList();
    }

    [Fact]
    public void A_composite_partition_key_keys_its_events_by_each_of_its_columns()
    {
        var id = Guid.Parse("0d4b2c3b-0000-4000-8000-00000000000d");
        var table = Assert.Single(CqlSchemaParser.Parse([$"CREATE TABLE shop.stock (region text, sku int, qty int, PRIMARY KEY ((region, sku))) WITH id = {id} AND cdc = true"])).Table;
        const long t0 = 1_700_000_000_000_000;
        // The partition key of ('eu', 7): per component a uint16 length, the bytes and an end-of-component byte.
        byte[] key = [0, 2, (byte)'e', (byte)'u', 0, 0, 4, 0, 0, 0, 7, 0];
        var mutation = new MutationWriter().UVInt(1).Partition(id, key, 0, t0, MutationWriter.DeletionTimeEpoch, 0).Columns("qty")
            .Byte(0x24).Timestamp(t0).Byte(0x08).Raw(MutationWriter.Int(12)) // no clustering columns: no clustering header
            .Byte(0x01).ToArray();
        var host = new EncodingHost(new SourceDescription("cassandra", "cass", CassandraSourceBlock.Fields), new ChangeEventOptions());
        var context = host.Context<CassandraPosition>();
        var writer = new CassandraEventWriter(context, "node1", t => context.Table(CassandraConnector.TableInfo(t)));
        writer.Begin("CommitLog-7-1.log", 1, 500);

        new MutationDecoder(new CassandraSchema(table)).Decode(mutation, "CommitLog-7-1.log", 36, ref writer);
        writer.End();

        Assert.Equal(["c key={region=eu, sku=7} after={region=eu, sku=7, qty=12}"], context.TakeEncoded().Select(r => Describe(r)));
    }

    internal static string Describe(SourceContext<CassandraPosition>.EncodedRecord record)
    {
        var key = Decode(record.Table.Schemas.KeySchema!, record.Key!);
        if (record.Value is null)
        {
            return $"tombstone key={Show(key)}";
        }

        var value = Decode(record.Table.Schemas.EnvelopeSchema, record.Value);
        var before = value["before"] is GenericRecord old ? $" before={Show(old, skipNulls: true)}" : string.Empty;
        var after = value["after"] is GenericRecord row ? $" after={Show(row, skipNulls: true)}" : string.Empty;
        return $"{value["op"]} key={Show(key)}{before}{after}";
    }

    private static GenericRecord Decode(global::Avro.RecordSchema schema, byte[] framed)
    {
        using var stream = new MemoryStream(framed, DataMesh.Avro.ConfluentWireFormat.HeaderLength, framed.Length - DataMesh.Avro.ConfluentWireFormat.HeaderLength);
        var record = new GenericDatumReader<GenericRecord>(schema, schema).Read(null!, new BinaryDecoder(stream));
        Assert.Equal(stream.Length, stream.Position);
        return record;
    }

    private static string Show(object? value, bool skipNulls = false) => value switch
    {
        null => "null",
        GenericRecord r => "{" + string.Join(", ", r.Schema.Fields.Where(f => !skipNulls || r[f.Name] is not null).Select(f => $"{f.Name}={Show(r[f.Name])}")) + "}",
        byte[] b => "0x" + Convert.ToHexString(b),
        DateTime t => t.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString()!,
    };
}
