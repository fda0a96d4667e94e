using Confluent.Kafka;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using DataMesh.Cli;
using Xunit;

namespace DataMesh.Server.Tests;

/// <summary>
/// <c>datamesh run FILE --http ADDRESS</c>: the tool, as a process, serving the controller's API and page beside the runner;
/// over <c>https://</c> with Kestrel's <c>Certificates:Default</c>, asking for client certificates when
/// <c>ClientCertificates:CaPaths</c> is set.
/// </summary>
public sealed class CliRunHttpTests
{
    [Theory]
    [InlineData("127.0.0.1:8080", "http://127.0.0.1:8080")]
    [InlineData("http://0.0.0.0:0", "http://0.0.0.0:0")]
    [InlineData("[::1]:9000", "http://[::1]:9000")]
    [InlineData("https://127.0.0.1:8443", "https://127.0.0.1:8443")]
    [InlineData("https://[::1]:0", "https://[::1]:0")]
    [InlineData("ftp://127.0.0.1:21", null)]
    [InlineData("http://u:p@127.0.0.1:1", null)]
    [InlineData("https://u:p@127.0.0.1:1", null)]
    [InlineData("127.0.0.1:8080/x", null)]
    [InlineData("not an address", null)]
    [InlineData("8080", null)] // a port alone is not an address: it was taken as the host "8080" (a new user's pass)
    public void The_http_address_is_HOST_PORT_or_an_http_or_https_URL(string address, string? url) => Assert.Equal(url, CliCommands.HttpUrl(address));

    [Fact]
    public async Task Only_run_takes_http_and_a_bad_address_or_https_without_a_server_certificate_is_bad_usage()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "pipelines: []");
            using var output = new StringWriter();
            using var error = new StringWriter();
            Assert.Equal(CliCommands.Usage, await CliCommands.RunAsync(["plan", file, "--kafka", "127.0.0.1:1", "--http", "127.0.0.1:0"], output, error, CancellationToken.None));
            Assert.Contains("'plan' does not take --http", error.ToString(), StringComparison.Ordinal);
            Assert.Equal(CliCommands.Usage, await CliCommands.RunAsync(["run", file, "--http", "ftp://127.0.0.1:0"], output, error, CancellationToken.None));
            Assert.Contains("--http needs an address such as 127.0.0.1:8080", error.ToString(), StringComparison.Ordinal);
            Assert.Equal(CliCommands.Usage, await CliCommands.RunAsync(["run", file, "--http", "https://127.0.0.1:0"], output, error, CancellationToken.None));
            Assert.Contains("needs the server's certificate: Kestrel:Certificates:Default:Path", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Run_with_http_serves_the_status_of_what_it_runs_the_page_and_the_schema_registry_in_one_process()
    {
        var folder = Directory.CreateTempSubdirectory("datamesh-run-http-");
        try
        {
            await using var run = await RunAsync(folder, "127.0.0.1:0", new Dictionary<string, string>());
            using var http = new HttpClient { BaseAddress = new Uri(run.Url) };
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
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Plan_apply_and_delete_given_the_kafka_of_run_reach_its_embedded_cluster_which_has_no_admin_API()
    {
        var folder = Directory.CreateTempSubdirectory("datamesh-run-plan-");
        try
        {
            await using var run = await RunAsync(folder, "127.0.0.1:0", new Dictionary<string, string>());
            // "Embedded Kafka at HOST:PORT: give --kafka HOST:PORT to plan, apply, status ..."
            var kafka = run.Lines.Single(l => l.StartsWith("Embedded Kafka at ", StringComparison.Ordinal)).Split(' ')[3].TrimEnd(':');
            var file = Path.Combine(folder.FullName, "copy.yaml");
            foreach (var command in new[] { "plan", "apply" })
            {
                using var output = new StringWriter();
                using var error = new StringWriter();
                var watch = Stopwatch.StartNew();
                var code = await CliCommands.RunAsync([command, file, "--kafka", kafka], output, error, CancellationToken.None);
                Assert.True(code == CliCommands.Ok, $"{command}: exit {code}\n{output}\n{error}");
                // A CreateTopics request waits out its 30 s timeout there: the topics that exist are looked for first.
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"{command} took {watch.Elapsed}\n{output}\n{error}");
            }

            // A topic that exists cannot grow there: apply says so at once (found by a new user: it waited out the
            // CreatePartitions timeout, 30 s, then failed without naming the topic).
            using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = kafka }).Build())
            {
                await producer.ProduceAsync("orders-copy", new Message<Null, string> { Value = "makes the topic" });
            }

            await File.WriteAllTextAsync(file, ControllerApiTests.Pipeline() + "\n        partitions: 64\n");
            for (var attempt = 0; ; attempt++)
            {
                // The topic made by the producer shows in the cluster's metadata shortly after.
                using var output = new StringWriter();
                await CliCommands.RunAsync(["plan", file, "--kafka", kafka], output, new StringWriter(), CancellationToken.None);
                if (output.ToString().Contains("Topic 'orders-copy' has", StringComparison.Ordinal) || attempt == 20)
                {
                    Assert.Contains("cannot grow on a cluster without an admin API", output.ToString(), StringComparison.Ordinal);
                    break;
                }

                await Task.Delay(250);
            }

            using (var output = new StringWriter())
            using (var error = new StringWriter())
            {
                var watch = Stopwatch.StartNew();
                var code = await CliCommands.RunAsync(["apply", file, "--kafka", kafka], output, error, CancellationToken.None);
                Assert.True(code == CliCommands.Ok, $"apply: exit {code}\n{output}\n{error}");
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"apply took {watch.Elapsed}\n{output}\n{error}");
            }

            // Deleting with resources forgets positions and keeps what only the admin API could delete, saying so.
            using (var output = new StringWriter())
            using (var error = new StringWriter())
            {
                var code = await CliCommands.RunAsync(["delete", file, "--with-resources", "--kafka", kafka], output, error, CancellationToken.None);
                Assert.True(code == CliCommands.Ok, $"delete: exit {code}\n{output}\n{error}");
                Assert.Contains("has no admin API", output.ToString(), StringComparison.Ordinal);
                Assert.Contains("kept (no admin API)", output.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Run_with_https_and_a_client_CA_answers_the_API_to_its_certificates_only_and_the_registry_to_anyone()
    {
        var folder = Directory.CreateTempSubdirectory("datamesh-run-https-");
        try
        {
            using var server = TestPki.Server();
            using var ca = TestPki.Ca("DataMesh tests client CA");
            using var client = TestPki.Issue(ca, "deployer");
            using var otherCa = TestPki.Ca("Another CA");
            using var foreign = TestPki.Issue(otherCa, "deployer");
            var keyPem = Path.Combine(folder.FullName, "server.key");
            await File.WriteAllTextAsync(keyPem, server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            var caPem = TestPki.WritePem(folder, "clients-ca.pem", ca);
            await using var run = await RunAsync(folder, "https://127.0.0.1:0", new Dictionary<string, string>
            {
                ["DATAMESH__Kestrel__Certificates__Default__Path"] = TestPki.WritePem(folder, "server.pem", server),
                ["DATAMESH__Kestrel__Certificates__Default__KeyPath"] = keyPem,
                ["DATAMESH__DataMesh__Server__Controller__ClientCertificates__CaPaths__0"] = caPem,
                ["DATAMESH__DataMesh__Server__Controller__ClientCertificates__RevocationMode"] = "NoCheck",
            });
            Assert.StartsWith("https://127.0.0.1:", run.Url, StringComparison.Ordinal);
            Assert.Contains(run.Lines, l => l.Contains("every request needs a client certificate that chains to a CA of " + caPem, StringComparison.Ordinal));

            using (var http = TestPki.Client(run.Url, server, client))
            {
                using var response = await http.GetAsync("/api/status");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            foreach (var presented in new[] { null, foreign })
            {
                using var http = TestPki.Client(run.Url, server, presented);
                using var response = await http.GetAsync("/api/status");
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                Assert.Equal("[]", await http.GetStringAsync("/subjects"));
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("Controller__BearerToken", "shorttok", "DataMesh:Server:Controller:BearerToken must be 16 characters or more, without spaces; the one set has 8.")]
    [InlineData("Controller__ClientCertificates__CaPaths__0", "/nonexistent.pem", "DataMesh:Server:Controller:ClientCertificates:CaPaths: '/nonexistent.pem' cannot be read as PEM certificates")]
    [InlineData("SchemaRegistry__MaxRequestBytes", "-1", "DataMesh:Server:SchemaRegistry:MaxRequestBytes must be between 1024 and 67108864 (64 MiB); it is -1.")]
    public async Task Server_settings_it_refuses_end_run_with_exit_1_and_the_setting_named_on_one_line(string setting, string value, string reason)
    {
        // They ended the process with an unhandled OptionsValidationException, its stack trace and exit code 134.
        var folder = Directory.CreateTempSubdirectory("datamesh-run-settings-");
        using var process = await StartAsync(folder, "127.0.0.1:0", new Dictionary<string, string> { ["DATAMESH__DataMesh__Server__" + setting] = value });
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            var error = await process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(CliCommands.Failed, process.ExitCode);
            Assert.StartsWith("datamesh: run failed: " + reason, error, StringComparison.Ordinal);
            Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            process.Kill(entireProcessTree: true); // when it did not end by itself
            folder.Delete(recursive: true);
        }
    }

    /// <summary>Starts <c>datamesh run copy.yaml --http ADDRESS</c> in <paramref name="folder"/> and waits for its <c>Serving at</c> line.</summary>
    private static async Task<RunningTool> RunAsync(DirectoryInfo folder, string address, Dictionary<string, string> environment)
    {
        var process = await StartAsync(folder, address, environment);
        var lines = new List<string>();
        string? url = null;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            while (url is null && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                lines.Add(line);
                if (line.StartsWith("Serving at ", StringComparison.Ordinal))
                {
                    url = line.Split(' ')[2].TrimEnd(':'); // "Serving at http://127.0.0.1:PORT: the page ..."
                }
            }

            Assert.True(url is not null, "no 'Serving at' line: " + string.Join('\n', lines));
            return new RunningTool(process, url!, lines);
        }
        catch
        {
            await new RunningTool(process, string.Empty, lines).DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts <c>datamesh run copy.yaml --http ADDRESS</c> in <paramref name="folder"/>, its output redirected.</summary>
    private static async Task<Process> StartAsync(DirectoryInfo folder, string address, Dictionary<string, string> environment)
    {
        var tool = Path.Combine(AppContext.BaseDirectory, "datamesh.dll");
        Assert.True(File.Exists(tool), $"{tool} was not built beside the tests");
        var file = Path.Combine(folder.FullName, "copy.yaml");
        await File.WriteAllTextAsync(file, ControllerApiTests.Pipeline());
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = folder.FullName };
        foreach (var argument in new[] { tool, "run", file, "--http", address })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        return Process.Start(start)!;
    }

    /// <summary>The tool's process, ended (with its children) when disposed.</summary>
    private sealed record RunningTool(Process Process, string Url, List<string> Lines) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
            Process.Dispose();
        }
    }
}
