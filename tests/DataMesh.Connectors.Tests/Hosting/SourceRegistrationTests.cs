using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DataMesh.Tests.Hosting;

/// <summary>Sources are registered through the runtime's one registration: names are unique across connectors.</summary>
public sealed class SourceRegistrationTests
{
    [Fact]
    public void A_source_name_is_refused_when_any_connector_already_uses_it()
    {
        var builder = new ServiceCollection().AddDataMesh();
        builder.AddPostgresSource("shop", o => o.ConnectionString = "Host=localhost");
        var ex = Assert.Throws<ArgumentException>(() => builder.AddMySqlSource("shop", o => o.ConnectionString = "Server=localhost;User ID=u"));
        Assert.Contains("A source named 'shop' is already added", ex.Message, StringComparison.Ordinal);
        builder.AddMySqlSource("inventory", o => o.ConnectionString = "Server=localhost;User ID=u");
    }

    [Fact]
    public void A_source_name_that_cannot_be_a_topic_name_part_is_refused()
    {
        var builder = new ServiceCollection().AddDataMesh();
        var ex = Assert.Throws<ArgumentException>(() => builder.AddPostgresSource("shop.eu", o => o.ConnectionString = "Host=localhost"));
        Assert.Contains("topic name part", ex.Message, StringComparison.Ordinal);
    }
}
