using DataMesh.Connectors.Sinks;
using Xunit;

namespace DataMesh.Tests.Sinks;

/// <summary>The scale check of table sinks: what a decimal's text needs, and what a target column's catalog type holds.</summary>
public sealed class DecimalScaleTests
{
    [Theory]
    [InlineData("1.25", 2)]
    [InlineData("1.250", 2)]
    [InlineData("-0.050", 2)]
    [InlineData("2.000", 0)]
    [InlineData("1200", -2)]
    [InlineData("-1200.00", -2)]
    [InlineData("0", int.MinValue)]
    [InlineData("0.000", int.MinValue)]
    [InlineData("-0", int.MinValue)]
    [InlineData("7", 0)]
    [InlineData("10.5", 1)]
    public void A_decimals_text_needs_its_significant_fraction_digits(string text, int scale) =>
        Assert.Equal(scale, TableSinkEngine.DecimalScale(text));

    [Theory]
    [InlineData("numeric(4,1)", 1)]
    [InlineData("numeric(5,-3)", -3)]
    [InlineData("decimal(10,2) unsigned", 2)]
    [InlineData("DECIMAL(8,0)", 0)]
    [InlineData("numeric", null)]
    [InlineData("numeric(4,1)[]", null)]
    [InlineData("double precision", null)]
    [InlineData("decimal(10)", null)]
    public void A_columns_scale_is_read_from_its_catalog_type(string type, int? scale) =>
        Assert.Equal(scale, new TableColumn("c", type, "numeric", IsString: false).DecimalScale);
}
