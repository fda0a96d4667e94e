using Xunit;

namespace DataMesh.Connectors.Tests.Postgres;

public sealed class PublicationManagerTests
{
    [Theory]
    [InlineData("public.*", "public.%")]
    [InlineData("sales.order_?", @"sales.order\__")]
    [InlineData(@"s.100%\x", @"s.100\%\\x")]
    public void Table_patterns_become_LIKE_patterns_with_only_the_wildcards_special(string pattern, string like) =>
        Assert.Equal(like, DataMesh.Sources.TableFilter.ToLike(pattern));
}
