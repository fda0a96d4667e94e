using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Sources;

public sealed class RecordBufferTests
{
    private const int FirstSize = 64 * 1024;

    [Fact]
    public void A_buffer_that_batches_fill_past_4_MiB_keeps_its_size_and_goes_back_to_its_first_size_after_a_small_batch()
    {
        var buffer = new RecordBuffer();
        Write(buffer, 5 << 20);
        buffer.Clear();
        Assert.Equal(0, buffer.Written);

        // The next batch as large again finds the room it needs: no growing (doubling and copying) per batch.
        Assert.True(buffer.GetSpan().Length >= 5 << 20);
        Write(buffer, 5 << 20);
        buffer.Clear();
        Assert.True(buffer.GetSpan().Length >= 5 << 20);

        // A batch that used less than a quarter of it: the memory goes back.
        Write(buffer, 1 << 20);
        buffer.Clear();
        Assert.Equal(FirstSize, buffer.GetSpan().Length);
    }

    [Fact]
    public void A_buffer_of_at_most_4_MiB_keeps_its_size()
    {
        var buffer = new RecordBuffer();
        Write(buffer, 3 << 20);
        buffer.Clear();
        Write(buffer, 10);
        buffer.Clear();
        Assert.True(buffer.GetSpan().Length >= 3 << 20);
    }

    private static void Write(RecordBuffer buffer, int bytes)
    {
        while (bytes > 0)
        {
            var span = buffer.GetSpan(Math.Min(bytes, 4096));
            var n = Math.Min(bytes, Math.Min(span.Length, 4096));
            span[..n].Fill(1);
            buffer.Advance(n);
            bytes -= n;
        }
    }
}
