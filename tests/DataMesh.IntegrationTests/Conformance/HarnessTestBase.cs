using Xunit;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>
/// A test class on one conformance driver: before each test the driver is initialised and a <see cref="ConformanceHarness"/>
/// made on it (a fresh source name and embedded cluster); after it both are disposed.
/// </summary>
public abstract class HarnessTestBase : IAsyncLifetime
{
    private ConformanceHarness? _harness;

    private protected HarnessTestBase(ConformanceDriver driver) => Driver = driver;

    /// <summary>The driver: the database under test.</summary>
    private protected ConformanceDriver Driver { get; }

    /// <summary>The harness of the running test.</summary>
    private protected ConformanceHarness Harness => _harness ?? throw new InvalidOperationException("The harness exists once InitializeAsync ran.");

    public virtual async Task InitializeAsync()
    {
        await Driver.InitializeAsync();
        _harness = new ConformanceHarness(Driver);
    }

    public async Task DisposeAsync()
    {
        if (_harness is not null)
        {
            await _harness.DisposeAsync();
        }

        await Driver.DisposeAsync();
    }
}
