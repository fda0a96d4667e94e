using DataMesh.Connectors.MySql.Binlog;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>Collation ids as a TABLE_MAP gives them, to the charset the connector decodes text in.</summary>
public sealed class MySqlCharsetTests
{
    /// <summary>The ids are MariaDB 10.11's own (<c>information_schema.COLLATION_CHARACTER_SET_APPLICABILITY</c>): its
    /// UCA 1400 collations are numbered 2048 + (charset &lt;&lt; 8) + ..., so an id above 2048 is not always UTF-8.</summary>
    [Theory]
    [InlineData(2048, "Utf8")]  // utf8mb3_uca1400_ai_ci
    [InlineData(2304, "Utf8")]  // utf8mb4_uca1400_ai_ci
    [InlineData(2560, "Ucs2")]  // ucs2_uca1400_ai_ci
    [InlineData(2816, "Utf16")] // utf16_uca1400_ai_ci
    [InlineData(3072, "Utf32")] // utf32_uca1400_ai_ci
    [InlineData(45, "Utf8")]    // utf8mb4_general_ci
    [InlineData(8, "Latin1")]   // latin1_swedish_ci
    [InlineData(63, "Binary")]
    public void A_collation_id_names_the_charset_of_its_family(int id, string charset) =>
        Assert.Equal(charset, MySqlCharsets.FromCollationId(id)?.ToString());

    [Theory]
    [InlineData(3328)]
    [InlineData(4095)]
    [InlineData(28)] // gbk_chinese_ci: not decoded
    public void A_collation_id_of_another_charset_names_none(int id) => Assert.Null(MySqlCharsets.FromCollationId(id));
}
