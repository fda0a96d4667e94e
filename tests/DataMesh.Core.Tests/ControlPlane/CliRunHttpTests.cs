using System.Diagnostics;
using System.Net;
using System.Text.Json;
using DataMesh.Cli;
using Xunit;

namespace DataMesh.Core.Tests.ControlPlane;

/// <summary><c>datamesh run FILE --http ADDRESS</c>: the tool, as a process, serving the controller's API and page beside the runner.</summary>
public sealed class CliRunHttpTests
{
    [Theory]
    [InlineData("127.0.0.1:8080", "http://127.0.0.1:8080")]
    [InlineData("http://0.0.0.0:0", "http://0.0.0.0:0")]
    [InlineData("[::1]:9000", "http://[::1]:9000")]
    [InlineData("https://127.0.0.1:8443", null)]
    [InlineData("http://u:p@127.0.0.1:1", null)]
    [InlineData("127.0.0.1:8080/x", null)]
    [InlineData("not an address", null)]
    public void The_http_address_is_HOST_PORT_or_an_http_URL(string address, string? url) => Assert.Equal(url, CliCommands.HttpUrl(address));

    [Fact]
    public async Task Only_run_takes_http_and_a_bad_address_is_bad_usage()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "pipelines: []");
            using var output = new StringWriter();
            using var error = new StringWriter();
            Assert.Equal(CliCommands.Usage, await CliCommands.RunAsync(["plan", file, "--kafka", "127.0.0.1:1", "--http", "127.0.0.1:0"], output, error, CancellationToken.None));
            Assert.Contains("'plan' does not take --http", error.ToString(), StringComparison.Ordinal);
            Assert.Equal(CliCommands.Usage, await CliCommands.RunAsync(["run", file, "--http", "https://127.0.0.1:0"], output, error, CancellationToken.None));
            Assert.Contains("--http needs an address such as 127.0.0.1:8080", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Run_with_http_serves_the_status_of_what_it_runs_the_page_and_the_schema_registry_in_one_process()
    {
        var tool = Path.Combine(AppContext.BaseDirectory, "datamesh.dll");
        Assert.True(File.Exists(tool), $"{tool} was not built beside the tests");
        var folder = Directory.CreateTempSubdirectory("datamesh-run-http-");
        var file = Path.Combine(folder.FullName, "copy.yaml");
        await File.WriteAllTextAsync(file, """
            pipelines:
              - name: copy
                source_topics: [orders]
                sink:
                  kafka:
                    topic: orders-copy
            """);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = folder.FullName };
        foreach (var argument in new[] { tool, "run", file, "--http", "127.0.0.1:0" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var lines = new List<string>();
        try
        {
            string? url = null;
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90)))
            {
                while (url is null && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
                {
                    lines.Add(line);
                    if (line.StartsWith("Serving at ", StringComparison.Ordinal))
                    {
                        url = line.Split(' ')[2].TrimEnd(':'); // "Serving at http://127.0.0.1:PORT: the page ..."
                    }
                }
            }

            Assert.True(url is not null, "no 'Serving at' line: " + string.Join('\n', lines));
            using var http = new HttpClient { BaseAddress = new Uri(url!) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            string status;
            do
            {
                status = await http.GetStringAsync("/api/status");
                await Task.Delay(250);
            }
            while (!status.Contains("\"state\":\"running\"", StringComparison.Ordinal) && DateTime.UtcNow < deadline);
            using var json = JsonDocument.Parse(status);
            Assert.Equal("pipeline/copy", json.RootElement.GetProperty("components")[0].GetProperty("component").GetString());
            Assert.Contains("\"state\":\"running\"", status, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/ui/")).StatusCode);
            Assert.Equal("[]", await http.GetStringAsync("/subjects"));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            folder.Delete(recursive: true);
        }
    }
}
