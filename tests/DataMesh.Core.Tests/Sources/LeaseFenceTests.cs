using System.Diagnostics;
using DataMesh.Sources.Leases;
using Xunit;

namespace DataMesh.Tests.Sources;

/// <summary>The produce gate's clock: a confirmation lets records through for its validity less the coarse clock's margin,
/// measured from the start of the check that confirmed it.</summary>
public sealed class LeaseFenceTests
{
    private static readonly TimeSpan Validity = TimeSpan.FromSeconds(10);

    [Fact]
    public void A_fence_never_confirmed_is_closed()
    {
        var fence = Fence();

        Assert.False(fence.IsOpen);
        Assert.Equal(TimeSpan.MaxValue, fence.SinceConfirmed);
    }

    [Fact]
    public void A_confirmation_is_open_until_its_check_start_plus_the_validity_less_the_margin()
    {
        var recent = Fence();
        recent.Confirmed(LeaseFence.Timestamp() - 5_000);
        Assert.True(recent.IsOpen);
        Assert.InRange(recent.SinceConfirmed, TimeSpan.FromMilliseconds(5_000), TimeSpan.FromMilliseconds(9_000));

        // A check that started the validity less the margin ago lets nothing through any more.
        var expired = Fence();
        Assert.Equal(Validity - TimeSpan.FromMilliseconds(LeaseFence.ClockMarginMs), expired.Validity);
        expired.Confirmed(LeaseFence.Timestamp() - (long)expired.Validity.TotalMilliseconds);
        Assert.False(expired.IsOpen);
    }

    [Fact]
    public void Measured_with_an_exact_clock_the_gate_never_stays_open_past_the_validity_asked_for()
    {
        // The coarse clock lags the exact one by up to a timer tick: the margin must cover it. The exact time is read
        // before the check's start and before each look at the gate, so the assertion cannot fail on a slow machine.
        var asked = TimeSpan.FromMilliseconds(200);
        var fence = new LeaseFence(1, asked, _ => Task.FromResult(true));
        var start = Stopwatch.GetTimestamp();
        fence.Confirmed(LeaseFence.Timestamp());
        var sawOpen = false;
        var sawClosed = false;
        while (Stopwatch.GetElapsedTime(start) < TimeSpan.FromMilliseconds(400))
        {
            var before = Stopwatch.GetTimestamp();
            if (fence.IsOpen)
            {
                sawOpen = true;
                Assert.True(Stopwatch.GetElapsedTime(start, before) < asked, $"open {Stopwatch.GetElapsedTime(start, before).TotalMilliseconds:F1} ms after the check started");
            }
            else
            {
                sawClosed = true;
            }
        }

        Assert.True(sawOpen);
        Assert.True(sawClosed);
    }

    [Fact]
    public void An_older_confirmation_never_shortens_a_newer_one()
    {
        var fence = Fence();
        var now = LeaseFence.Timestamp();
        fence.Confirmed(now);
        fence.Confirmed(now - 9_000);

        Assert.True(fence.IsOpen);
        Assert.InRange(fence.SinceConfirmed, TimeSpan.Zero, TimeSpan.FromMilliseconds(5_000));
    }

    private static LeaseFence Fence() => new(1, Validity, _ => Task.FromResult(true));
}
