using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>A test class whose tests run on PostgreSQL and MariaDB alike: a subclass per server gives the factory of the
/// test's own <see cref="SnapshotDatabase"/> (as the conformance suite's drivers do).</summary>
public abstract class SnapshotDatabaseTests
{
    private readonly Func<Task<SnapshotDatabase>> _create;

    private protected SnapshotDatabaseTests(Func<Task<SnapshotDatabase>> create, ITestOutputHelper output)
    {
        _create = create;
        Output = output;
    }

    protected ITestOutputHelper Output { get; }

    /// <summary>A new database of this test's own, with its source not started.</summary>
    private protected Task<SnapshotDatabase> CreateDatabaseAsync() => _create();
}
