using System.Net;
using System.Text.Json;
using DataMesh.Server.Controller;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace DataMesh.Server.Tests;

/// <summary>
/// The controller's API on a host with the definition runner and the embedded Kafka (<see cref="ControllerHost"/>): every
/// endpoint's success and errors, the token, and that no response repeats a secret.
/// </summary>
public sealed class ControllerApiTests
{
    internal const string Invalid = """
        pipelines:
          - name: copy
            source_topics: [orders]
            sinc:
              kafka: {topic: orders-copy}
        """;

    internal static string Pipeline(string name = "copy", string from = "orders", string to = "orders-copy") => $"""
        pipelines:
          - name: {name}
            source_topics: [{from}]
            sink:
              kafka:
                topic: {to}
        """;

    /// <summary>
    /// The Schema Registry API answers the unknown paths under its PathPrefix in Confluent's words; when the controller's
    /// API shares that prefix (both <c>/api</c>, which the options allow), a method a controller route lacks stays
    /// ASP.NET Core's 405 naming the route's methods, not the registry's 404.
    /// </summary>
    [Fact]
    public async Task A_method_a_controller_route_lacks_is_405_when_the_registry_shares_its_prefix()
    {
        await using var host = await ControllerHost.StartAsync(o => o.SchemaRegistry.PathPrefix = "/api");
        using (var ok = await host.Http.GetAsync(new Uri("/api/status", UriKind.Relative)))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, ok.StatusCode);
        }

        using var response = await host.Http.PutAsync(new Uri("/api/status", UriKind.Relative), new StringContent("{}"));
        Assert.Equal(System.Net.HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("GET", string.Join(", ", response.Content.Headers.Allow));

        // The registry's own paths under the prefix still answer in Confluent's words.
        using var registry = await host.Http.PatchAsync(new Uri("/api/config", UriKind.Relative), new StringContent("{}"));
        Assert.Equal(System.Net.HttpStatusCode.MethodNotAllowed, registry.StatusCode);
        Assert.Equal("""{"error_code":405,"message":"HTTP 405 Method Not Allowed"}""", await registry.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Validate_answers_200_with_each_problem_at_its_line_and_column_in_the_CLIs_words()
    {
        await using var host = await ControllerHost.StartAsync();
        var (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/validate", Invalid);
        Assert.Equal(200, status);
        Assert.False(body.GetProperty("valid").GetBoolean());
        var problems = body.GetProperty("problems").EnumerateArray().ToList();
        var sinc = Assert.Single(problems, p => p.GetProperty("line").GetInt32() == 4);
        Assert.Equal(5, sinc.GetProperty("column").GetInt32());
        Assert.StartsWith("pipelines[0]", sinc.GetProperty("path").GetString(), StringComparison.Ordinal);
        Assert.Contains("did you mean 'sink'?", sinc.GetProperty("reason").GetString(), StringComparison.Ordinal);

        // The same problems, in the same words, as `datamesh validate` prints: DefinitionFile.ValidateAsync with the connectors' types.
        var cli = new DefinitionValidationOptions();
        cli.AddConnectorTypes();

        var expected = await DefinitionFile.ValidateAsync(Invalid, cli);
        Assert.Contains(expected.Problems, p => p.Reason.Contains("postgres_table", StringComparison.Ordinal));
        Assert.Equal(expected.Problems.Select(p => (p.Path, p.Reason, p.Line, p.Column)),
            problems.Select(p => (p.GetProperty("path").GetString()!, p.GetProperty("reason").GetString()!, p.GetProperty("line").GetInt32(), p.GetProperty("column").GetInt32())));

        (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/validate", Pipeline());
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("valid").GetBoolean());
        Assert.Empty(body.GetProperty("problems").EnumerateArray());
        Assert.Equal(1, body.GetProperty("pipelines").GetInt32());
    }

    [Fact]
    public async Task Plan_and_apply_of_an_invalid_definition_answer_400_with_the_problems_and_change_nothing()
    {
        await using var host = await ControllerHost.StartAsync();
        foreach (var verb in new[] { "plan", "apply" })
        {
            var (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/" + verb, Invalid);
            Assert.Equal(400, status);
            Assert.Contains("problem", body.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Contains(body.GetProperty("problems").EnumerateArray(), p => p.GetProperty("line").GetInt32() == 4);
        }

        var (definition, _, _) = await host.SendAsync(HttpMethod.Get, "/api/definition");
        Assert.Equal(404, definition);
    }

    [Fact]
    public async Task Plan_apply_status_pause_resume_and_delete_a_pipeline_then_404_once_it_is_gone()
    {
        await using var host = await ControllerHost.StartAsync();
        await host.CreateTopicAsync("orders");
        var (status, body, _) = await host.SendAsync(HttpMethod.Get, "/api/status");
        Assert.Equal(200, status);
        Assert.Equal(0, body.GetProperty("generation").GetInt64());

        (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/plan", Pipeline());
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("has_changes").GetBoolean());
        Assert.False(body.GetProperty("applied").GetBoolean());
        Assert.Contains(body.GetProperty("changes").EnumerateArray(), c =>
            c.GetProperty("action").GetString() == "create" && c.GetProperty("kind").GetString() == "pipeline" && c.GetProperty("name").GetString() == "copy");
        Assert.Contains("+   pipeline copy", body.GetProperty("text").GetString(), StringComparison.Ordinal);
        (status, _, _) = await host.SendAsync(HttpMethod.Get, "/api/definition");
        Assert.Equal(404, status);

        (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/apply", Pipeline());
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("applied").GetBoolean());
        Assert.Equal(1, body.GetProperty("generation").GetInt64());

        (status, body, _) = await host.SendAsync(HttpMethod.Get, "/api/definition");
        Assert.Equal(200, status);
        Assert.Equal(Pipeline(), body.GetProperty("text").GetString());

        var running = await host.WaitForStateAsync("pipeline/copy", "running", TimeSpan.FromSeconds(60));
        Assert.Equal("running", running.GetProperty("desired").GetString());
        Assert.Equal(JsonValueKind.Number, running.GetProperty("lag").ValueKind);

        (status, body, _) = await host.SendAsync(HttpMethod.Get, "/api/pipelines");
        Assert.Equal(200, status);
        Assert.Equal("pipeline/copy", Assert.Single(body.EnumerateArray()).GetProperty("component").GetString());
        (status, body, _) = await host.SendAsync(HttpMethod.Get, "/api/sources");
        Assert.Equal(200, status);
        Assert.Empty(body.EnumerateArray());
        (status, _, _) = await host.SendAsync(HttpMethod.Get, "/api/pipelines/copy");
        Assert.Equal(200, status);
        (status, body, _) = await host.SendAsync(HttpMethod.Get, "/api/pipelines/copi");
        Assert.Equal(404, status);
        Assert.Contains("pipeline/copy", body.GetProperty("error").GetString(), StringComparison.Ordinal);

        (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/pipelines/copy/pause");
        Assert.Equal(200, status);
        Assert.Equal("pipeline/copy", body.GetProperty("component").GetString());
        await host.WaitForStateAsync("pipeline/copy", "paused", TimeSpan.FromSeconds(60));
        (status, _, _) = await host.SendAsync(HttpMethod.Post, "/api/pipelines/copy/resume");
        Assert.Equal(200, status);
        await host.WaitForStateAsync("pipeline/copy", "running", TimeSpan.FromSeconds(60));

        foreach (var path in new[] { "/api/pipelines/nope/pause", "/api/pipelines/nope/resume", "/api/sources/copy/pause", "/api/sources/shop/snapshot" })
        {
            (status, body, _) = await host.SendAsync(HttpMethod.Post, path);
            Assert.True(status == 404, $"{path}: {status}");
            Assert.Contains("not in the applied definition", body.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.EndsWith("(its components: pipeline/copy).", body.GetProperty("error").GetString(), StringComparison.Ordinal); // no "(Parameter 'components')"
        }

        // Found by new users: a misspelt field snapshotted every table (200), a pattern or a name without its schema
        // answered 200 or 404. The request is wrong, not the source: 400, saying why.
        foreach (var (request, reason) in new[]
        {
            ("""{"tabels": ["public.orders"]}""", "tabels"), ("""{"tables": ["public.*"]}""", "is a pattern"), ("""{"tables": ["orders"]}""", "schema.table"),
        })
        {
            (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/sources/copy/snapshot", request);
            Assert.True(status == 400, $"{request}: {status} {body}");
            Assert.Contains(reason, body.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/apply", Pipeline());
        Assert.Equal(200, status);
        Assert.False(body.GetProperty("has_changes").GetBoolean());

        // A with_resources that is neither true nor false deleted the definition as if it were false.
        (status, body, _) = await host.SendAsync(HttpMethod.Delete, "/api/definition?with_resources=maybe");
        Assert.Equal(400, status);
        Assert.Equal("with_resources must be true or false (or 1 or 0), not 'maybe'; nothing was deleted.", body.GetProperty("error").GetString());
        Assert.Equal(200, (await host.SendAsync(HttpMethod.Get, "/api/definition")).Status);

        (status, body, _) = await host.SendAsync(HttpMethod.Delete, "/api/definition?with_resources=false");
        Assert.Equal(200, status);
        Assert.Contains(body.GetProperty("changes").EnumerateArray(), c => c.GetProperty("action").GetString() == "stop" && c.GetProperty("name").GetString() == "copy");
        (status, _, _) = await host.SendAsync(HttpMethod.Delete, "/api/definition?with_resources=true");
        Assert.Equal(404, status);
        (status, _, _) = await host.SendAsync(HttpMethod.Get, "/api/definition");
        Assert.Equal(404, status);
        (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/pipelines/copy/pause");
        Assert.Equal(404, status);
        Assert.Contains("nothing is", body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_with_resources_answers_what_it_deleted_and_kept()
    {
        await using var host = await ControllerHost.StartAsync();
        await host.CreateTopicAsync("orders");
        Assert.Equal(200, (await host.SendAsync(HttpMethod.Post, "/api/apply", Pipeline())).Status);
        var (status, body, _) = await host.SendAsync(HttpMethod.Delete, "/api/definition?with_resources=true");
        Assert.Equal(200, status);
        Assert.Contains(body.GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains("embedded cluster", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_a_token_configured_a_request_without_it_or_with_another_gets_401_and_the_page_asks_for_none()
    {
        const string Token = "a-token-of-32-characters-or-so!!";
        await using var host = await ControllerHost.StartAsync(o => o.Controller.BearerToken = Token);
        var (status, body, text) = await host.SendAsync(HttpMethod.Get, "/api/status");
        Assert.Equal(401, status);
        Assert.Contains("Authorization: Bearer", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        (status, _, text) = await host.SendAsync(HttpMethod.Post, "/api/apply", Pipeline(), token: Token[..^1] + "?");
        Assert.Equal(401, status);
        Assert.DoesNotContain(Token, text, StringComparison.Ordinal);
        (status, _, _) = await host.SendAsync(HttpMethod.Get, "/api/status", token: Token);
        Assert.Equal(200, status);
        using var page = await host.Http.GetAsync("/ui/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains(host.Logs.Lines, l => l.Message.Contains("every request needs the bearer token", StringComparison.Ordinal));
        Assert.DoesNotContain(host.Logs.Lines, l => l.Message.Contains(Token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_a_browser_sends_for_another_sites_page_or_under_a_rebound_host_name_gets_403_and_changes_nothing()
    {
        // Found by a new-user pass: a page of any site could post a definition (text/plain needs no CORS preflight) to the
        // loopback-only API, whose sinks then sent ${env:...} secrets to a host of the page's choosing; with DNS rebinding
        // (a name of the attacker's pointed at 127.0.0.1) it could read the answers too.
        await using var host = await ControllerHost.StartAsync();
        var port = new Uri(host.Url).Port;
        var refused = new (string Header, string Value)[]
        {
            ("Origin", "http://evil.example"),
            ("Origin", "null"),
            ("Origin", "http://127.0.0.2"),
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Site", "same-site"),
            ("Host", $"rebind.attacker.example:{port}"),
        };
        foreach (var (header, value) in refused)
        {
            foreach (var (method, path) in new[] { (HttpMethod.Post, "/api/apply"), (HttpMethod.Get, "/api/definition") })
            {
                using var request = new HttpRequestMessage(method, path);
                if (method == HttpMethod.Post)
                {
                    request.Content = new StringContent(Pipeline(), System.Text.Encoding.UTF8, "text/plain");
                }

                if (header == "Host")
                {
                    request.Headers.Host = value;
                }
                else
                {
                    request.Headers.TryAddWithoutValidation(header, value);
                }

                using var response = await host.Http.SendAsync(request);
                Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{method} {path} with {header}: {value} answered {(int)response.StatusCode}");
            }
        }

        var (status, _, _) = await host.SendAsync(HttpMethod.Get, "/api/definition");
        Assert.Equal(404, status); // nothing was applied

        // The server's own page (its origin, same-origin, also as https behind a proxy that ends TLS) and clients that are
        // not browsers are answered.
        foreach (var own in new[] { host.Url.TrimEnd('/'), $"http://localhost:{port}", "https://127.0.0.1" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate") { Content = new StringContent(Pipeline(), System.Text.Encoding.UTF8, "text/plain") };
            request.Headers.TryAddWithoutValidation("Origin", own);
            request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", "same-origin");
            if (own.Contains("localhost", StringComparison.Ordinal))
            {
                request.Headers.Host = $"localhost:{port}";
            }

            using var response = await host.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Contains(host.Logs.Lines, l => l.Id.Id == 8014 && l.Message.Contains("evil.example", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_a_token_the_start_says_the_API_answers_only_loopback_and_a_request_from_elsewhere_gets_401()
    {
        await using var host = await ControllerHost.StartAsync();
        Assert.Contains(host.Logs.Lines, l => l.Id.Id == 8010 && l.Message.Contains("only requests over loopback are answered", StringComparison.Ordinal));

        using var authorization = new ControllerAuthorization(null);
        var remote = new DefaultHttpContext();
        remote.Connection.RemoteIpAddress = IPAddress.Parse("10.1.2.3");
        Assert.Contains("BearerToken", (await authorization.CheckAsync(remote))?.Reason, StringComparison.Ordinal);
        foreach (var loopback in new[] { "127.0.0.1", "::1", "::ffff:127.0.0.1" })
        {
            var local = new DefaultHttpContext();
            local.Connection.RemoteIpAddress = IPAddress.Parse(loopback);
            Assert.Null(await authorization.CheckAsync(local));
        }
    }

    [Fact]
    public void A_short_token_is_refused_at_start_without_repeating_it()
    {
        var error = Assert.Throws<OptionsValidationException>(() => RegistryHost.Build(new ServerHostingTests.UnusedStore(), o => o.Controller.BearerToken = "short-secret"));
        Assert.Contains("DataMesh:Server:Controller:BearerToken must be 16 characters or more", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("short-secret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_response_repeats_a_secret_written_in_the_file_or_referenced_from_the_environment()
    {
        var variable = "DM_SERVER_TEST_PW_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        const string Secret = "s3cr3t-value-of-the-test";
        Environment.SetEnvironmentVariable(variable, Secret);
        try
        {
            await using var host = await ControllerHost.StartAsync();
            string Source(string password) => $"""
                sources:
                  - name: shop
                    type: postgres
                    connection_string: "Host=127.0.0.1;Port=1;Username=u;Password={password};Timeout=1"
                    include_tables: [public.orders]
                """;

            // Written in the file: refused as a problem naming the setting, never quoting it.
            var literal = Source(Secret);
            foreach (var verb in new[] { "plan", "apply" })
            {
                var (code, body, text) = await host.SendAsync(HttpMethod.Post, "/api/" + verb, literal);
                Assert.Equal(400, code);
                Assert.Contains(body.GetProperty("problems").EnumerateArray(), p => p.GetProperty("path").GetString()!.Contains("connection_string", StringComparison.Ordinal));
                Assert.DoesNotContain(Secret, text, StringComparison.Ordinal);
            }

            // Referenced: applied, then the source fails to connect (nothing listens on port 1); status says so, without the value.
            var referenced = Source("${env:" + variable + "}");
            var responses = new List<string>
            {
                (await host.SendAsync(HttpMethod.Post, "/api/validate", referenced)).Text,
                (await host.SendAsync(HttpMethod.Post, "/api/plan", referenced)).Text,
                (await host.SendAsync(HttpMethod.Post, "/api/apply", referenced)).Text,
                (await host.SendAsync(HttpMethod.Get, "/api/definition")).Text,
            };
            Assert.Contains("${env:" + variable + "}", responses[^1], StringComparison.Ordinal);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            string status;
            do
            {
                status = (await host.SendAsync(HttpMethod.Get, "/api/sources/shop")).Text;
                await Task.Delay(250);
            }
            while (!status.Contains("\"message\"", StringComparison.Ordinal) && DateTime.UtcNow < deadline);
            responses.Add(status);
            responses.Add((await host.SendAsync(HttpMethod.Get, "/api/status")).Text);
            Assert.All(responses, r => Assert.DoesNotContain(Secret, r, StringComparison.Ordinal));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task Bodies_over_the_limit_get_413()
    {
        await using var host = await ControllerHost.StartAsync(o => o.Controller.MaxRequestBytes = 1024);
        var (status, body, _) = await host.SendAsync(HttpMethod.Post, "/api/validate", new string('#', 2048));
        Assert.Equal(413, status);
        Assert.Contains("MaxRequestBytes", body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_is_served_from_the_assembly_with_a_policy_that_allows_nothing_from_elsewhere()
    {
        await using var host = await ControllerHost.StartAsync();
        using var html = await host.Http.GetAsync("/ui/");
        Assert.Equal(HttpStatusCode.OK, html.StatusCode);
        var text = await html.Content.ReadAsStringAsync();
        Assert.Contains("<meta name=\"datamesh-api\" content=\"/api\">", text, StringComparison.Ordinal);
        Assert.DoesNotContain("http", text.Replace("http-equiv", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("default-src 'none'", html.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        foreach (var (file, type) in new[] { ("app.js", "text/javascript"), ("app.css", "text/css") })
        {
            using var response = await host.Http.GetAsync("/ui/" + file);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(type, response.Content.Headers.ContentType!.MediaType);
        }

        using var redirect = await new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(host.Url) }.GetAsync("/ui");
        Assert.Equal("/ui/", redirect.Headers.Location!.OriginalString);
    }

    [Fact]
    public void Messages_answered_lose_password_settings_and_url_credentials()
    {
        Assert.Equal("Host=db;Password=***;Username=u", SecretScrubber.Scrub("Host=db;Password=hunter22;Username=u"));
        Assert.Equal("at http://***@registry:8081/", SecretScrubber.Scrub("at http://me:pw@registry:8081/"));
        Assert.Equal("pwd=*** and token=***", SecretScrubber.Scrub("pwd='a b' and token=xyz"));
    }

    [Fact]
    public async Task Without_a_KafkaConnection_the_controller_is_not_mapped_and_the_start_says_why()
    {
        await using var host = await RegistryHost.StartAsync();
        using var http = new HttpClient();
        using var response = await http.GetAsync(host.Url + "/api/status");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains(host.Logs.Lines, l => l.Level == LogLevel.Information && l.Message.Contains("no KafkaConnection", StringComparison.Ordinal));
    }
}
