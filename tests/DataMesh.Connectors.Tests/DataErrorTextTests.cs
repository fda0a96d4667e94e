using DataMesh.Connectors;
using Xunit;

namespace DataMesh.Tests;

/// <summary>Found by a new user: a table sink's logs and dead-letter reasons carried the refused row's values in the
/// database's own error text, which docs/pipelines.md says they never do.</summary>
public sealed class DataErrorTextTests
{
    [Theory]
    [InlineData("invalid input syntax for type integer: \"20.50\"", "invalid input syntax for type integer: \"…\"")]
    [InlineData("date/time field value out of range: \"2020-13-01\"", "date/time field value out of range: \"…\"")]
    [InlineData("value \"99999999999\" is out of range for type integer", "value \"…\" is out of range for type integer")]
    [InlineData("\"1e400\" is out of range for type double precision", "\"…\" is out of range for type double precision")]
    [InlineData("Incorrect integer value: '20.50' for column `db`.`t`.`bal` at row 1", "Incorrect integer value: '…' for column `db`.`t`.`bal` at row 1")]
    [InlineData("Duplicate entry 'alice@example.com' for key 'email'", "Duplicate entry '…' for key 'email'")]
    [InlineData("Duplicate entry 'abc\\' for key 'PRIMARY'", "Duplicate entry '…' for key 'PRIMARY'")]
    [InlineData("Incorrect string value: '\\xF0\\x9F\\x98\\x80' for column 'v' at row 1", "Incorrect string value: '…' for column 'v' at row 1")]
    public void Quoted_values_are_removed(string message, string expected) => Assert.Equal(expected, DataErrorText.WithoutValues(message));

    [Theory]
    // The databases insert a value as it is: a quote inside it is not doubled, so the values sent are removed first.
    [InlineData("Duplicate entry 'O'Brien-secret' for key 'name'", "O'Brien-secret", "Duplicate entry '…' for key 'name'")]
    [InlineData("invalid input syntax for type integer: \"a\"b secret\"", "a\"b secret", "invalid input syntax for type integer: \"…\"")]
    public void Values_with_quotes_inside_are_removed_as_they_were_sent(string message, string value, string expected) =>
        Assert.Equal(expected, DataErrorText.WithoutValues(message, [7L, null, value]));

    [Theory]
    [InlineData("null value in column \"note\" of relation \"t\" violates not-null constraint")]
    [InlineData("value too long for type character varying(3)")]
    [InlineData("new row for relation \"t\" violates check constraint \"positive\"")]
    [InlineData("Data too long for column 'note' at row 1")]
    [InlineData("Out of range value for column 'f4' at row 1")]
    public void Names_the_database_quotes_stay(string message) => Assert.Equal(message, DataErrorText.WithoutValues(message));
}
