using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Sources;

/// <summary>A snapshot's condition stays inside the parentheses a chunk's query puts it in.</summary>
public sealed class SnapshotConditionTests
{
    private static readonly SqlQuoting Postgres = new(BackslashEscapes: false, PostgresStrings: true, HashComments: false);
    private static readonly SqlQuoting MySql = new(BackslashEscapes: true, PostgresStrings: false, HashComments: true);

    [Theory]
    [InlineData("id > 100")]
    [InlineData("(a = 1 OR b = 2) AND (c IN (SELECT x FROM y))")]
    [InlineData("name = 'it''s (not'")]
    [InlineData("\"odd ) name\" = 1")]
    [InlineData("a # b = 0")]
    [InlineData("v = 'a\\'")] // standard strings: the backslash is a character
    [InlineData("id = $1")]
    [InlineData("name = 'E'")]
    public void PostgreSQL_conditions_that_stay_inside_are_accepted(string condition) => Assert.Null(SnapshotCondition.Problem(condition, Postgres));

    [Theory]
    [InlineData("id < 0) OR (1=1", "closes a parenthesis")]
    [InlineData("(id < 0", "does not close")]
    [InlineData("id > 1; drop table t", "';'")]
    [InlineData("id > 1 -- rest", "comment")]
    [InlineData("id > 1 /* x */", "comment")]
    [InlineData("v = 'open", "not closed")]
    [InlineData("v = $$'$$) OR (1=1 OR '$$'='$$", "dollar-quoted")]
    [InlineData("v = $\u20AC$'$\u20AC$ ) OR 1=1 --'", "dollar-quoted")] // found by review: a tag of a non-ASCII character
    [InlineData("v = $\u00A0$'$\u00A0$ ) OR 1=1 --'", "dollar-quoted")]
    [InlineData("v = E'a\\' ) OR (1=1 '", "escape string")]
    [InlineData("v=e'x'", "escape string")]
    [InlineData("   ", "empty")]
    public void PostgreSQL_conditions_that_would_leave_are_refused_saying_why(string condition, string reason) =>
        Assert.Contains(reason, SnapshotCondition.Problem(condition, Postgres), StringComparison.Ordinal);

    [Theory]
    [InlineData("name = 'it\\'s (not'", null)]
    [InlineData("`odd ) name` = 1", null)]
    [InlineData("name = 'a\\') OR (1=1 OR \\'x' = 'x'", null)] // one string, as MySQL reads it
    [InlineData("id > 1 # rest", "comment")]
    [InlineData("name = 'a\\'') OR (1=1", "closes a parenthesis")]
    public void MySQL_conditions_are_read_with_backslash_escapes_and_hash_comments(string condition, string? reason)
    {
        var problem = SnapshotCondition.Problem(condition, MySql);
        if (reason is null)
        {
            Assert.Null(problem);
        }
        else
        {
            Assert.Contains(reason, problem, StringComparison.Ordinal);
        }
    }
}
