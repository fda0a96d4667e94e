using Xunit;

namespace DataMesh.Tests.Docs;

public sealed class MarkdownSnippetsTests
{
    private const string Markdown = """
        # Title

        ```sh
        ./build.sh test
        ```

        ```csharp
        using DataMesh;

        Console.WriteLine("a program");
        ```

        <!-- snippet: fragment
        var builder = Host.CreateApplicationBuilder(args);
        {snippet}
        record Order(string Id);
        -->
        ```csharp
        using DataMesh.Hosting;

        builder.Services.AddDataMesh();
        ```

        <!-- snippet: skip (an outline, not code) -->
        ```csharp
        emitter.Emit(new OrderShipped(...));
        ```

        <!-- an ordinary comment -->
        ```cs
        Console.WriteLine();
        ```
        """;

    [Fact]
    public void Every_csharp_block_of_the_readme_is_a_snippet_and_the_comment_above_says_how_it_is_compiled()
    {
        var snippets = MarkdownSnippets.Extract("README.md", Markdown, everyBlock: true);

        Assert.Equal([7, 18, 25, 30], snippets.Select(s => s.Line));
        Assert.Equal([SnippetKind.Program, SnippetKind.Fragment, SnippetKind.Skip, SnippetKind.Program], snippets.Select(s => s.Kind));
        Assert.Equal("README.md:7", snippets[0].Id);
        Assert.Equal("README_L7", snippets[0].ProjectName);
        Assert.Equal("using DataMesh;\n\nConsole.WriteLine(\"a program\");\n", snippets[0].Text);
    }

    [Fact]
    public void A_fragment_is_compiled_inside_its_hidden_code_with_every_using_directive_first_and_lines_traced_to_the_markdown()
    {
        var fragment = MarkdownSnippets.Extract("README.md", Markdown, everyBlock: true)[1];

        Assert.Equal(
            [
                ("using DataMesh.Hosting;", 19),
                ("var builder = Host.CreateApplicationBuilder(args);", 14),
                (string.Empty, 20),
                ("builder.Services.AddDataMesh();", 21),
                ("record Order(string Id);", 16),
            ],
            fragment.Program.Select(l => (l.Text, l.MarkdownLine)));
    }

    [Fact]
    public void In_docs_only_blocks_with_a_snippet_comment_are_compiled()
    {
        var snippets = MarkdownSnippets.Extract("docs/x.md", Markdown, everyBlock: false);

        Assert.Equal([18, 25], snippets.Select(s => s.Line));
        Assert.Equal("docs_x_L18", snippets[0].ProjectName);
    }

    [Fact]
    public void A_using_declaration_is_a_statement_and_stays_where_it_is()
    {
        var snippet = Assert.Single(MarkdownSnippets.Extract("README.md", """
            ```csharp
            await using var sink = new Sink();
            using var other = new Sink();
            using DataMesh;
            using Alias = DataMesh.Hosting.KafkaConnection;
            ```
            """, everyBlock: true));

        Assert.Equal(
            ["using DataMesh;", "using Alias = DataMesh.Hosting.KafkaConnection;", "await using var sink = new Sink();", "using var other = new Sink();"],
            snippet.Program.Select(l => l.Text));
    }

    [Fact]
    public void An_unknown_snippet_comment_is_an_error_naming_the_file_and_line()
    {
        var error = Assert.Throws<FormatException>(() => MarkdownSnippets.Extract("docs/x.md", "text\n<!-- snippet: fragmnet -->\n```csharp\nx();\n```\n", everyBlock: false));

        Assert.StartsWith("docs/x.md:2: '<!-- snippet: fragmnet' is not a snippet comment", error.Message, StringComparison.Ordinal);
    }
}
