using DataMesh.Tests.MySql;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>
/// Compares our decoded rows with <c>mariadb-binlog --verbose</c> output, with the parser and formatter of the unit tests
/// (tests/DataMesh.Connectors.Tests/MySql/MariaDbBinlogText.cs, compiled into this project too).
/// </summary>
internal static class MariaDbBinlogTextParser
{
    public static List<PrintedRow> Parse(byte[] output) => MariaDbBinlogText.Parse(output);

    /// <summary>Asserts that our decoded row equals the printed one, value by value.</summary>
    public static void AssertSame(DataMesh.Connectors.MySql.BinlogRowChange ours, PrintedRow theirs, int index)
    {
        Xunit.Assert.Equal(theirs.Operation, ours.Operation);
        Xunit.Assert.Equal(theirs.Table, $"`{ours.Database}`.`{ours.Table}`");
        Image(ours, ours.Before, theirs.Before, index, "before");
        Image(ours, ours.After, theirs.After, index, "after");
    }

    private static void Image(DataMesh.Connectors.MySql.BinlogRowChange ours, IReadOnlyList<object?>? values, Dictionary<int, string>? printed, int index, string image)
    {
        Xunit.Assert.True((values is null) == (printed is null), $"row {index}: the {image} image is present on one side only");
        if (values is null || printed is null)
        {
            return;
        }

        Xunit.Assert.Equal(values.Count, printed.Count);
        foreach (var (column, text) in printed)
        {
            var value = values[column - 1];
            var type = ours.ColumnTypes[column - 1];
            var same = value switch
            {
                float or double => MariaDbBinlogText.SameFloat(value, text),
                string s when !type.StartsWith("enum", StringComparison.Ordinal) && !type.StartsWith("set", StringComparison.Ordinal) && !type.StartsWith("bit", StringComparison.Ordinal) => MariaDbBinlogText.SameText(s, text),
                _ => MariaDbBinlogText.Format(value, type) == text,
            };
            Xunit.Assert.True(same, $"row {index} {image} @{column} ({type}): ours {(value is null ? "NULL" : value is float or double ? value : MariaDbBinlogText.Format(value, type))}, printed {text}");
        }
    }
}
