using System.Buffers;
using DataMesh.Avro;
using Xunit;

namespace DataMesh.Tests.Avro;

public sealed class AvroAllocationTests
{
    private static readonly Guid Id = Guid.Parse("6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f");

    private static void Encode(ArrayBufferWriter<byte> output, int i)
    {
        output.ResetWrittenCount();
        using var w = new AvroWriter(output);
        w.WriteLong(1_000_000L + i);
        w.WriteInt(i);
        w.WriteString("customer@example.com");
        w.WriteString("Zürich 😀");
        w.WriteDecimal(1234.56m + i, 12, 2);
        w.WriteTimestampMicros(1_700_000_000_000_000L + i);
        w.WriteTimestampMillis(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc));
        w.WriteDate(new DateOnly(2024, 1, 2));
        w.WriteUnionIndex(1);
        w.WriteDouble(3.25);
        w.WriteUnionIndex(0);
        w.WriteNull();
        w.WriteBoolean(true);
        w.WriteUuid(Id);
        w.WriteBytes([1, 2, 3]);
        w.WriteArrayStart(2);
        w.WriteInt(1);
        w.WriteInt(2);
        w.WriteArrayEnd();
        w.WriteEnum(2);
    }

    private static long Decode(ReadOnlySpan<byte> data)
    {
        var r = new AvroReader(data);
        var sum = r.ReadLong() + r.ReadInt();
        sum += r.ReadStringUtf8().Length + r.ReadStringUtf8().Length;
        sum += (long)r.ReadDecimal(2);
        sum += r.ReadTimestampMicros().Ticks + r.ReadTimestampMillis().Ticks + r.ReadDate().DayNumber;
        if (r.ReadUnionIndex(2) == 1)
        {
            sum += (long)r.ReadDouble();
        }

        r.ReadUnionIndex(2);
        sum += r.ReadBoolean() ? 1 : 0;
        sum += r.ReadUuid().GetHashCode();
        sum += r.ReadBytes().Length;
        long count;
        while ((count = r.ReadBlockCount()) != 0)
        {
            for (var j = 0; j < count; j++)
            {
                sum += r.ReadInt();
            }
        }

        sum += r.ReadEnum(3);
        Assert.True(r.End);
        return sum;
    }

    [Fact]
    public void Encoding_and_decoding_a_record_allocates_nothing_after_warm_up()
    {
        var output = new ArrayBufferWriter<byte>(4096);
        long sum = 0;
        for (var i = 0; i < 100; i++)
        {
            Encode(output, i);
            sum += Decode(output.WrittenSpan);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            Encode(output, i);
            sum += Decode(output.WrittenSpan);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.NotEqual(0, sum);
    }
}
