using Xunit;

namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>
/// Tests that restart a server belong to this collection: xunit runs it alone, after every other collection,
/// so a restart never breaks another test's connection.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ServerRestartCollection
{
    public const string Name = "Server restarts";
}
