using Xunit;

namespace DataMesh.Tests.ControlPlane;

/// <summary>
/// The corpus of invalid definitions: each <c>Invalid/NN-name.yaml</c> (or <c>.json</c>) has beside it
/// <c>NN-name.expected</c>, the exact lines <c>datamesh validate</c> prints for it. Files whose name holds <c>schema</c> are
/// validated with a schema store holding the orders table.
/// </summary>
public sealed class DefinitionCorpusTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "ControlPlane", "Invalid");

    public static TheoryData<string> Cases() => new(Files());

    private static string[] Files() =>
        [.. Directory.GetFiles(Folder).Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal))
            .Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public void The_corpus_holds_at_least_forty_invalid_definitions_each_with_its_expected_lines()
    {
        var cases = Files();
        Assert.True(cases.Length >= 40, $"{cases.Length} cases");
        foreach (var file in cases)
        {
            var expected = Path.Combine(Folder, Path.ChangeExtension(file, ".expected"));
            Assert.True(File.Exists(expected), $"{file} has no .expected file");
            Assert.NotEmpty(File.ReadAllLines(expected));
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task An_invalid_definition_is_reported_with_exactly_the_expected_lines(string file)
    {
        var text = await File.ReadAllTextAsync(Path.Combine(Folder, file));
        var store = file.Contains("schema", StringComparison.Ordinal) ? DefinitionTestSupport.OrdersStore() : null;
        var actual = await DefinitionTestSupport.LinesAsync(file, text, store);
        var expectedFile = Path.Combine(Folder, Path.ChangeExtension(file, ".expected"));
        var expected = await File.ReadAllLinesAsync(expectedFile);
        Assert.Equal(string.Join('\n', expected), string.Join('\n', actual));
    }
}
