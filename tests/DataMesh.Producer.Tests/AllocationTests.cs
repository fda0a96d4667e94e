using DataMesh.Producer;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DataMesh.Tests.Producer;

public sealed class AllocationTests
{
    [Fact]
    public async Task EmitAsync_allocates_nothing_on_the_callers_thread_in_steady_state()
    {
        using var host = ProducerFixture.Build(o => o.AddEvent<OrderPlaced>());
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();
        var events = Enumerable.Range(0, 1000).Select(i => new OrderPlaced("order-" + (i % 50), i, i * 1.5m, Priority.Normal)).ToArray();
        var pending = new ValueTask[events.Length];

        for (var round = 0; round < 3; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < events.Length; i++)
            {
                pending[i] = emitter.EmitAsync(events[i]);
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            foreach (var task in pending)
            {
                await task;
            }

            // The first round fills the pools; afterwards serializing, queuing and tracking an event allocate nothing.
            if (round == 2)
            {
                Assert.True(allocated == 0, $"{allocated} bytes for {events.Length} emits");
            }
        }

        await host.StopAsync();
    }
}
