using DataMesh.Connectors.Cassandra.Schema;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>CQL values from their serialized bytes (the native protocol's formats), edges included; random bytes give
/// a <see cref="FormatException"/> and nothing else.</summary>
public sealed class CqlValuesTests
{
    [Theory]
    [InlineData("date", "80000000", "01/01/1970")]
    [InlineData("date", "7FFFFFFF", "12/31/1969")]
    [InlineData("decimal", "00000003FF", "-0.001")]
    [InlineData("decimal", "FFFFFFFE0C", "1200")]
    [InlineData("varint", "00FF", "255")]
    [InlineData("time", "00004E94914EFFFF", "23:59:59.9999999")]
    [InlineData("timestamp", "FFFFFFFFFFFFFC18", "1969-12-31T23:59:59.000Z")]
    [InlineData("inet", "20010DB8000000000000000000000001", "2001:db8::1")]
    [InlineData("list<frozen<set<int>>>", "00000001000000140000000200000004000000010000000400000002", "[[1, 2]]")]
    [InlineData("map<text, frozen<tuple<int, boolean>>>", "0000000100000001610000000C0000000400000007FFFFFFFF", "{'a': (7, null)}")]
    public void Values_decode_as_cql_defines_them(string type, string hex, string expected) =>
        Assert.Equal(expected, RecordingHandler.Format(CqlValues.ToObject(CqlType.Parse(type).AsFrozen(), Convert.FromHexString(hex))));

    [Theory]
    [InlineData("date", "00000000")]
    [InlineData("timestamp", "7FFFFFFFFFFFFFFF")]
    [InlineData("time", "FFFFFFFFFFFFFFFF")]
    [InlineData("int", "000000")]
    [InlineData("ascii", "80")]
    [InlineData("text", "C3")]
    [InlineData("list<int>", "7FFFFFFF")]
    public void Values_out_of_range_or_malformed_are_format_errors(string type, string hex) =>
        Assert.Throws<FormatException>(() => CqlValues.ToObject(CqlType.Parse(type).AsFrozen(), Convert.FromHexString(hex)));

    [Fact]
    public void Random_bytes_of_every_type_give_only_format_errors()
    {
        var types = new[]
        {
            "ascii", "bigint", "blob", "boolean", "date", "decimal", "double", "duration", "float", "inet", "int", "smallint",
            "text", "time", "timestamp", "timeuuid", "tinyint", "uuid", "varint", "frozen<list<int>>", "frozen<map<text, date>>",
            "tuple<int, frozen<set<duration>>>",
        }.Select(t => CqlType.Parse(t)).ToArray();
        var random = new Random(11);
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = new byte[random.Next(0, 24)];
            random.NextBytes(bytes);
            try
            {
                CqlValues.ToObject(types[i % types.Length], bytes);
            }
            catch (FormatException)
            {
            }
        }
    }

    [Theory]
    [InlineData("counter", "counter columns are not supported")]
    [InlineData("list<int", "expected ',' or '>'")]
    [InlineData("address", "user-defined types must be declared first")]
    public void Types_this_reader_cannot_decode_are_refused_with_the_reason(string type, string reason) =>
        Assert.Contains(reason, Assert.Throws<FormatException>(() => CqlType.Parse(type)).Message, StringComparison.Ordinal);
}
