using Xunit;

namespace DataMesh.Tests.Docs;

/// <summary>The code of README.md (and the marked blocks of docs/*.md) compiles as written, in a new console project
/// with the packed packages: what a newcomer copies works.</summary>
public sealed class ReadmeSnippetTests(SnippetBuild build) : IClassFixture<SnippetBuild>
{
    public static TheoryData<string> Snippets()
    {
        var data = new TheoryData<string>();
        foreach (var snippet in SnippetBuild.All().Where(s => s.Kind != SnippetKind.Skip))
        {
            data.Add(snippet.Id);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void The_code_block_compiles_as_written_in_a_console_project_with_the_packed_packages(string id)
    {
        var snippet = SnippetBuild.All().Single(s => s.Id == id);
        Assert.True(build.Failure is null, $"{id}: the snippets could not be built: {build.Failure}");

        var errors = build.ErrorsOf(snippet);
        Assert.True(
            errors.Count == 0,
            $"{id}: the {snippet.Kind.ToString().ToLowerInvariant()} does not compile in a `dotnet new console` project with "
            + $"DataMesh.Core, DataMesh.Connectors, DataMesh.Producer ({SnippetBuild.PackedVersion}, packed from this checkout) and "
            + "Microsoft.Extensions.Hosting:\n  "
            + string.Join("\n  ", errors)
            + $"\nProgram.cs as compiled (in {build.WorkDirectory}/{snippet.ProjectName}; see README.md, Repository, for the snippet comments):\n"
            + string.Join('\n', snippet.Program.Select((l, i) => $"{i + 1,4} | {snippet.File}:{l.MarkdownLine,-4} | {l.Text}")));
    }

    [Fact]
    public void The_readme_has_code_blocks_to_compile() =>
        Assert.True(
            SnippetBuild.All().Count(s => s.File == "README.md" && s.Kind != SnippetKind.Skip) >= 3,
            "README.md should have at least its three C# examples (capture, pipeline, producer); did the extraction break?");
}
