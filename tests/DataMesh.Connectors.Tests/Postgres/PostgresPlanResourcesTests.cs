using DataMesh.Connectors.Postgres;
using Xunit;

namespace DataMesh.Connectors.Tests.Postgres;

/// <summary>What a plan says of a PostgreSQL source's slot and publication matches what delete --with-resources does
/// (PostgresResourceDeletion drops only those made under the default names; a named or unmanaged one is kept).</summary>
public sealed class PostgresPlanResourcesTests
{
    private static IReadOnlyList<SourceResource> Resources(PostgresSourceOptions options) =>
        ConnectorSourceTypes.All.Single(t => t.Name == "postgres").Resources("shop", options);

    [Fact]
    public void Default_names_are_dropped_by_delete_with_resources()
    {
        var resources = Resources(new PostgresSourceOptions());

        Assert.Equal(
            [
                new SourceResource("replication slot", "datamesh_shop", "created by the source at its first start; dropped by delete --with-resources"),
                new SourceResource("publication", "datamesh_shop", "created or extended by the source at start; dropped by delete --with-resources"),
            ],
            resources);
    }

    [Fact]
    public void A_slot_or_publication_named_in_the_options_is_said_to_be_kept_as_delete_keeps_it()
    {
        var resources = Resources(new PostgresSourceOptions { SlotName = "datamesh_quickstart", PublicationName = "shop_pub" });

        Assert.Equal("created by the source at its first start; kept by delete --with-resources (slot_name set: it may not be DataMesh's)", resources[0].Note);
        Assert.Equal("created or extended by the source at start; kept by delete --with-resources (publication_name set: it may not be DataMesh's)", resources[1].Note);
    }

    [Fact]
    public void A_slot_or_publication_the_source_does_not_make_is_said_to_be_needed_and_kept()
    {
        var resources = Resources(new PostgresSourceOptions { CreateSlot = false, ManagePublication = false });

        Assert.Equal("must exist (create_slot off); kept by delete --with-resources", resources[0].Note);
        Assert.Equal("must exist (manage_publication off); kept by delete --with-resources", resources[1].Note);
    }
}
