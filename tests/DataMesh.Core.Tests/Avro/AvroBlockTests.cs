using System.Buffers;
using Avro;
using DataMesh.Avro;
using Xunit;

namespace DataMesh.Tests.Avro;

/// <summary>Arrays and maps in several blocks and in the sized (negative count) form, by hand, both ways with Apache.Avro.</summary>
public sealed class AvroBlockTests
{
    private static readonly Schema LongArray = Schema.Parse("""{"type":"array","items":"long"}""");
    private static readonly Schema StringMap = Schema.Parse("""{"type":"map","values":"string"}""");

    private static long[] ReadLongs(ReadOnlySpan<byte> data)
    {
        var r = new AvroReader(data);
        var items = new List<long>();
        long count;
        while ((count = r.ReadBlockCount()) != 0)
        {
            for (var i = 0; i < count; i++)
            {
                items.Add(r.ReadLong());
            }
        }

        Assert.True(r.End);
        return [.. items];
    }

    [Fact]
    public void Hand_built_multi_block_and_negative_count_arrays_are_read()
    {
        // [1, 2] then [3] then end.
        byte[] blocks = [0x04, 0x02, 0x04, 0x02, 0x06, 0x00];
        Assert.Equal([1L, 2, 3], ReadLongs(blocks));

        // -2 items in 2 bytes: [1, 2]; then -1 item in 1 byte: [-1]; then end.
        byte[] sized = [0x03, 0x04, 0x02, 0x04, 0x01, 0x02, 0x01, 0x00];
        Assert.Equal([1L, 2, -1], ReadLongs(sized));

        var r = new AvroReader(sized);
        Assert.Equal(2, r.ReadBlockCount(out var byteSize));
        Assert.Equal(2, byteSize);
        r.Skip(byteSize);
        Assert.Equal(1, r.ReadBlockCount(out byteSize));
        Assert.Equal(1, byteSize);

        var plan = AvroSchemaPlan.Compile(LongArray);
        plan.Validate(sized);
        Assert.Equal(sized.Length, plan.Skip(sized));

        // Apache.Avro reads the same bytes the same way.
        Assert.Equal(new object[] { 1L, 2L, -1L }, (object[])AvroTestModel.ApacheRead(LongArray, sized)!);
        Assert.Equal(new object[] { 1L, 2L, 3L }, (object[])AvroTestModel.ApacheRead(LongArray, blocks)!);
    }

    [Fact]
    public void Our_multi_block_and_sized_arrays_and_maps_are_read_by_Apache()
    {
        var output = new ArrayBufferWriter<byte>();
        var w = new AvroWriter(output);
        w.WriteBlockCount(2);
        w.WriteLong(long.MinValue);
        w.WriteLong(0);
        var scratch = new ArrayBufferWriter<byte>();
        var inner = new AvroWriter(scratch);
        inner.WriteLong(5);
        inner.WriteLong(long.MaxValue);
        inner.WriteLong(-3);
        inner.Flush();
        w.WriteSizedBlock(3, scratch.WrittenSpan);
        w.WriteBlockEnd();
        w.Flush();
        Assert.Equal(new object[] { long.MinValue, 0L, 5L, long.MaxValue, -3L }, (object[])AvroTestModel.ApacheRead(LongArray, output.WrittenSpan.ToArray())!);

        var mapOutput = new ArrayBufferWriter<byte>();
        var m = new AvroWriter(mapOutput);
        var entry = new ArrayBufferWriter<byte>();
        var e = new AvroWriter(entry);
        e.WriteString("k1");
        e.WriteString("😀");
        e.Flush();
        m.WriteSizedBlock(1, entry.WrittenSpan);
        m.WriteBlockCount(1);
        m.WriteString("k2");
        m.WriteString(string.Empty);
        m.WriteMapEnd();
        m.Flush();
        var map = (IDictionary<string, object>)AvroTestModel.ApacheRead(StringMap, mapOutput.WrittenSpan.ToArray())!;
        Assert.Equal("😀", map["k1"]);
        Assert.Equal(string.Empty, map["k2"]);
        AvroSchemaPlan.Compile(StringMap).Validate(mapOutput.WrittenSpan);
    }

    [Fact]
    public void Empty_arrays_and_maps_are_one_zero_byte()
    {
        var output = new ArrayBufferWriter<byte>();
        var w = new AvroWriter(output);
        w.WriteArrayStart(0);
        w.WriteArrayEnd();
        w.WriteMapStart(0);
        w.WriteMapEnd();
        w.Flush();
        Assert.Equal([0, 0], output.WrittenSpan.ToArray());
        Assert.Equal(AvroTestModel.ApacheWrite(LongArray, Array.Empty<object>()), output.WrittenSpan[..1].ToArray());
        Assert.Empty((object[])AvroTestModel.ApacheRead(LongArray, [0])!);
        Assert.Empty((IDictionary<string, object>)AvroTestModel.ApacheRead(StringMap, [0])!);
    }
}
