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
        expired.Confirmed(LeaseFence.Timestamp() - ((long)Validity.TotalMilliseconds - LeaseFence.ClockMarginMs));
        Assert.False(expired.IsOpen);
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
