using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DataMesh.Schemas;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DataMesh.Server.Tests;

/// <summary>
/// Every endpoint of the Schema Registry API over plain HTTP: Confluent's JSON shapes, its content type, and each
/// error with Confluent's status and error code.
/// </summary>
public sealed class SchemaRegistryApiTests : IAsyncLifetime
{
    private const string V1 = """{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}""";
    private const string V2 = """{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null}]}""";
    private const string Breaking = """{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"total","type":"double"}]}""";

    private RegistryHost _host = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri(_host.Url + "/") };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
    }

    private static string Body(string schema) => JsonSerializer.Serialize(new { schema });

    /// <param name="method">The method.</param>
    /// <param name="path">The path under the API.</param>
    /// <param name="body">The JSON body, or null.</param>
    /// <param name="expectContinue">Send <c>Expect: 100-continue</c>: the body only once the server asks for it, so a
    /// request refused on its Content-Length gets its answer instead of a broken pipe while the body is still being sent.</param>
    private async Task<(HttpStatusCode Status, JsonElement Json)> SendAsync(HttpMethod method, string path, string? body = null, bool expectContinue = false)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.ExpectContinue = expectContinue ? true : null;
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.schemaregistry.v1+json");
        }

        using var response = await _http.SendAsync(request);
        Assert.Equal("application/vnd.schemaregistry.v1+json", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    private static void AssertError((HttpStatusCode Status, JsonElement Json) answer, HttpStatusCode status, int code, string? messagePart = null)
    {
        Assert.Equal(status, answer.Status);
        Assert.Equal(code, answer.Json.GetProperty("error_code").GetInt32());
        var message = answer.Json.GetProperty("message").GetString();
        Assert.False(string.IsNullOrWhiteSpace(message));
        if (messagePart is not null)
        {
            Assert.Contains(messagePart, message, StringComparison.Ordinal);
        }
    }

    private async Task<int> RegisterAsync(string subject, string schema)
    {
        var answer = await SendAsync(HttpMethod.Post, $"subjects/{subject}/versions", Body(schema));
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        return answer.Json.GetProperty("id").GetInt32();
    }

    [Fact]
    public async Task A_request_a_browser_sends_for_another_sites_page_gets_40301_and_registers_nothing()
    {
        // A page of any site could post a schema or change the compatibility level: a simple request needs no preflight.
        foreach (var (header, value) in new[] { ("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "subjects/evil-value/versions") { Content = new StringContent(Body(V1), Encoding.UTF8, "text/plain") };
            request.Headers.TryAddWithoutValidation(header, value);
            using var response = await _http.SendAsync(request);
            var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            AssertError((response.StatusCode, json), HttpStatusCode.Forbidden, 40301, header);
        }

        AssertError(await SendAsync(HttpMethod.Get, "subjects/evil-value/versions"), HttpStatusCode.NotFound, 40401);
    }

    [Fact]
    public async Task Registration_lookup_and_reads_answer_in_Confluent_shapes()
    {
        var id1 = await RegisterAsync("orders-value", V1);
        var id2 = await RegisterAsync("orders-value", V2);
        Assert.NotEqual(id1, id2);
        Assert.Equal(id1, await RegisterAsync("orders-value", V1));
        Assert.Equal(id2, await RegisterAsync("copy-value", V2));

        var byId = await SendAsync(HttpMethod.Get, $"schemas/ids/{id2}");
        Assert.Equal(HttpStatusCode.OK, byId.Status);
        Assert.Equal(SchemaCanonicalForm.Of(global::Avro.Schema.Parse(V2)), SchemaCanonicalForm.Of(global::Avro.Schema.Parse(byId.Json.GetProperty("schema").GetString())));
        // Served twice (the second from the kept body), the same.
        Assert.Equal(byId.Json.GetRawText(), (await SendAsync(HttpMethod.Get, $"schemas/ids/{id2}")).Json.GetRawText());

        var raw = await SendAsync(HttpMethod.Get, $"schemas/ids/{id1}/schema");
        Assert.Equal("record", raw.Json.GetProperty("type").GetString());
        Assert.Equal("Order", raw.Json.GetProperty("name").GetString());

        var usedBy = await SendAsync(HttpMethod.Get, $"schemas/ids/{id2}/versions");
        Assert.Equal(
            [("copy-value", 1), ("orders-value", 2)],
            usedBy.Json.EnumerateArray().Select(e => (e.GetProperty("subject").GetString()!, e.GetProperty("version").GetInt32())));

        Assert.Equal(["copy-value", "orders-value"], (await SendAsync(HttpMethod.Get, "subjects")).Json.EnumerateArray().Select(e => e.GetString()));
        Assert.Equal([1, 2], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions")).Json.EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(["AVRO"], (await SendAsync(HttpMethod.Get, "schemas/types")).Json.EnumerateArray().Select(e => e.GetString()));

        foreach (var version in new[] { "latest", "-1", "2" })
        {
            var latest = await SendAsync(HttpMethod.Get, $"subjects/orders-value/versions/{version}");
            Assert.Equal(HttpStatusCode.OK, latest.Status);
            Assert.Equal("orders-value", latest.Json.GetProperty("subject").GetString());
            Assert.Equal(2, latest.Json.GetProperty("version").GetInt32());
            Assert.Equal(id2, latest.Json.GetProperty("id").GetInt32());
            Assert.Contains("note", latest.Json.GetProperty("schema").GetString(), StringComparison.Ordinal);
        }

        var rawVersion = await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/1/schema");
        Assert.Single(rawVersion.Json.GetProperty("fields").EnumerateArray());

        // Looked up by a differently written but identical schema (whitespace, attribute order).
        var found = await SendAsync(HttpMethod.Post, "subjects/orders-value", Body("""{ "namespace":"shop", "name":"Order", "type":"record", "fields":[ {"type":"long","name":"id"} ] }"""));
        Assert.Equal(HttpStatusCode.OK, found.Status);
        Assert.Equal((1, id1, "orders-value"), (found.Json.GetProperty("version").GetInt32(), found.Json.GetProperty("id").GetInt32(), found.Json.GetProperty("subject").GetString()));
    }

    /// <summary>
    /// Confluent's SubjectsResource.list and SubjectVersionsResource.listVersions: <c>subjectPrefix</c> keeps the subjects
    /// that start with it (<c>:*:</c>, its default, every one); <c>offset</c> and <c>limit</c> page (a limit of 0 or less is
    /// no limit).
    /// </summary>
    [Fact]
    public async Task Subject_listings_take_Confluents_subjectPrefix_offset_and_limit()
    {
        foreach (var subject in new[] { "orders-key", "orders-value", "stock-value" })
        {
            await RegisterAsync(subject, V1);
        }

        await RegisterAsync("orders-value", V2);
        await RegisterAsync("orders-value", Breaking.Replace("\"total\",\"type\":\"double\"", "\"total\",\"type\":\"double\",\"default\":0", StringComparison.Ordinal));

        async Task<string[]> Subjects(string query) =>
            [.. (await SendAsync(HttpMethod.Get, "subjects" + query)).Json.EnumerateArray().Select(e => e.GetString()!)];

        Assert.Equal(["orders-key", "orders-value"], await Subjects("?subjectPrefix=orders"));
        Assert.Equal(["orders-key", "orders-value", "stock-value"], await Subjects("?subjectPrefix=:*:"));
        Assert.Equal(["orders-key", "orders-value", "stock-value"], await Subjects("?subjectPrefix="));
        Assert.Empty(await Subjects("?subjectPrefix=Orders"));
        Assert.Equal(["orders-value", "stock-value"], await Subjects("?offset=1"));
        Assert.Equal(["orders-value"], await Subjects("?offset=1&limit=1"));
        Assert.Equal(["orders-key", "orders-value", "stock-value"], await Subjects("?limit=-1"));
        Assert.Equal(["orders-value"], await Subjects("?subjectPrefix=orders&offset=1&limit=5"));

        async Task<int[]> Versions(string query) =>
            [.. (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions" + query)).Json.EnumerateArray().Select(e => e.GetInt32())];

        Assert.Equal(new[] { 1, 2, 3 }, await Versions(string.Empty));
        Assert.Equal(new[] { 2 }, await Versions("?offset=1&limit=1"));
        Assert.Equal(new[] { 3 }, await Versions("?offset=2"));
    }

    /// <summary>
    /// Confluent's SchemasResource.getSubjects: <c>GET /schemas/ids/{id}/subjects</c> lists the subjects that hold the id
    /// (its Java client's getAllSubjectsById), 40403 for an unknown id; it and <c>/versions</c> page by <c>offset</c> and
    /// <c>limit</c>.
    /// </summary>
    [Fact]
    public async Task The_subjects_of_a_schema_id_are_listed_and_its_listings_page()
    {
        var id = await RegisterAsync("orders-value", V1);
        await RegisterAsync("copy-value", V1);
        await RegisterAsync("orders-value", V2);

        var subjects = await SendAsync(HttpMethod.Get, $"schemas/ids/{id}/subjects");
        Assert.Equal(HttpStatusCode.OK, subjects.Status);
        Assert.Equal(["copy-value", "orders-value"], subjects.Json.EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["orders-value"], (await SendAsync(HttpMethod.Get, $"schemas/ids/{id}/subjects?offset=1&limit=1")).Json.EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(
            ["orders-value"],
            (await SendAsync(HttpMethod.Get, $"schemas/ids/{id}/versions?offset=1")).Json.EnumerateArray().Select(e => e.GetProperty("subject").GetString()));
        AssertError(await SendAsync(HttpMethod.Get, "schemas/ids/77/subjects"), HttpStatusCode.NotFound, 40403);
    }

    /// <summary>
    /// Confluent's SubjectVersionsResource.getReferencedBy: the ids of the schemas that reference a version. DataMesh refuses
    /// references, so none does: <c>[]</c> for a version the subject has, its errors (42202, 40401, 40402) otherwise.
    /// </summary>
    [Fact]
    public async Task No_schema_references_a_version()
    {
        await RegisterAsync("orders-value", V1);
        foreach (var version in new[] { "1", "latest" })
        {
            var answer = await SendAsync(HttpMethod.Get, $"subjects/orders-value/versions/{version}/referencedby");
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Empty(answer.Json.EnumerateArray());
        }

        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/2/referencedby"), HttpStatusCode.NotFound, 40402);
        AssertError(await SendAsync(HttpMethod.Get, "subjects/missing-value/versions/1/referencedby"), HttpStatusCode.NotFound, 40401);
        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/0/referencedby"), HttpStatusCode.UnprocessableEntity, 42202);
    }

    [Fact]
    public async Task Compatibility_checks_and_config_answer_as_Confluent_does()
    {
        await RegisterAsync("orders-value", V1);

        var ok = await SendAsync(HttpMethod.Post, "compatibility/subjects/orders-value/versions/latest", Body(V2));
        Assert.Equal(HttpStatusCode.OK, ok.Status);
        Assert.True(ok.Json.GetProperty("is_compatible").GetBoolean());
        Assert.False(ok.Json.TryGetProperty("messages", out _));

        var bad = await SendAsync(HttpMethod.Post, "compatibility/subjects/orders-value/versions/1?verbose=true", Body(Breaking));
        Assert.Equal(HttpStatusCode.OK, bad.Status);
        Assert.False(bad.Json.GetProperty("is_compatible").GetBoolean());
        Assert.Contains("field 'total' was added without a default", bad.Json.GetProperty("messages")[0].GetString(), StringComparison.Ordinal);
        Assert.False((await SendAsync(HttpMethod.Post, "compatibility/subjects/orders-value/versions", Body(Breaking))).Json.GetProperty("is_compatible").GetBoolean());

        Assert.Equal("BACKWARD", (await SendAsync(HttpMethod.Get, "config")).Json.GetProperty("compatibilityLevel").GetString());
        var set = await SendAsync(HttpMethod.Put, "config/orders-value", """{"compatibility":"none"}""");
        Assert.Equal(HttpStatusCode.OK, set.Status);
        Assert.Equal("NONE", set.Json.GetProperty("compatibility").GetString());
        Assert.Equal("NONE", (await SendAsync(HttpMethod.Get, "config/orders-value")).Json.GetProperty("compatibilityLevel").GetString());
        Assert.Equal("BACKWARD", (await SendAsync(HttpMethod.Get, "config")).Json.GetProperty("compatibilityLevel").GetString());
        // A subject without a level of its own answers the default.
        Assert.Equal("BACKWARD", (await SendAsync(HttpMethod.Get, "config/other-value")).Json.GetProperty("compatibilityLevel").GetString());

        Assert.True((await SendAsync(HttpMethod.Post, "compatibility/subjects/orders-value/versions/latest", Body(Breaking))).Json.GetProperty("is_compatible").GetBoolean());
        Assert.NotEqual(0, await RegisterAsync("orders-value", Breaking));

        Assert.Equal("FULL", (await SendAsync(HttpMethod.Put, "config", """{"compatibility":"FULL"}""")).Json.GetProperty("compatibility").GetString());
        Assert.Equal(CompatibilityLevel.Full, await _host.Store.GetCompatibilityAsync(null));
    }

    /// <summary>
    /// Confluent's CompatibilityResource: "latest" of a subject without versions has nothing to break, so a valid schema is
    /// compatible (a build can check a schema before its first registration); a numbered version it lacks is 40402 "Version
    /// N not found." whether or not the subject exists.
    /// </summary>
    [Fact]
    public async Task A_compatibility_check_against_a_subject_without_versions_is_compatible_for_latest_and_40402_for_a_number()
    {
        foreach (var version in new[] { "latest", "-1" })
        {
            var answer = await SendAsync(HttpMethod.Post, $"compatibility/subjects/new-value/versions/{version}?verbose=true", Body(V1));
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.True(answer.Json.GetProperty("is_compatible").GetBoolean());
            Assert.Empty(answer.Json.GetProperty("messages").EnumerateArray());
        }

        AssertError(await SendAsync(HttpMethod.Post, "compatibility/subjects/new-value/versions/1", Body(V1)), HttpStatusCode.NotFound, 40402, "Version 1 not found");
        // The schema is still checked.
        AssertError(await SendAsync(HttpMethod.Post, "compatibility/subjects/new-value/versions/latest", Body("""{"type":"nonsense"}""")), HttpStatusCode.UnprocessableEntity, 42201);

        // A subject whose versions were all deleted has none to check against either.
        await RegisterAsync("gone-value", V1);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, "subjects/gone-value/versions/1")).Status);
        Assert.True((await SendAsync(HttpMethod.Post, "compatibility/subjects/gone-value/versions/latest", Body(Breaking))).Json.GetProperty("is_compatible").GetBoolean());
        AssertError(await SendAsync(HttpMethod.Post, "compatibility/subjects/gone-value/versions/1", Body(V1)), HttpStatusCode.NotFound, 40402);
    }

    /// <summary>
    /// Confluent's CompatibilityResource reads the version before the schema (42202, then 40402, then 42201), and with
    /// <c>verbose=true</c> answers an invalid schema as not compatible, the parser's message in <c>messages</c>.
    /// </summary>
    [Theory]
    [InlineData("compatibility/subjects/orders-value/versions/latest")]
    [InlineData("compatibility/subjects/orders-value/versions/1")]
    [InlineData("compatibility/subjects/orders-value/versions")]
    public async Task A_compatibility_check_names_a_bad_version_before_a_bad_schema_and_verbose_answers_an_invalid_schema_as_incompatible(string path)
    {
        await RegisterAsync("orders-value", V1);
        var invalid = Body("""{"type":"record","name":"X"}""");
        AssertError(await SendAsync(HttpMethod.Post, "compatibility/subjects/orders-value/versions/0", invalid), HttpStatusCode.UnprocessableEntity, 42202);
        AssertError(await SendAsync(HttpMethod.Post, "compatibility/subjects/orders-value/versions/7", invalid), HttpStatusCode.NotFound, 40402);

        AssertError(await SendAsync(HttpMethod.Post, path, invalid), HttpStatusCode.UnprocessableEntity, 42201);
        var verbose = await SendAsync(HttpMethod.Post, path + "?verbose=true", invalid);
        Assert.Equal(HttpStatusCode.OK, verbose.Status);
        Assert.False(verbose.Json.GetProperty("is_compatible").GetBoolean());
        Assert.Contains("Invalid schema", Assert.Single(verbose.Json.GetProperty("messages").EnumerateArray()).GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deleted_version_is_gone_from_the_subject_but_its_id_still_resolves()
    {
        var id1 = await RegisterAsync("orders-value", V1);
        var id2 = await RegisterAsync("orders-value", V2);

        var deleted = await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/1");
        Assert.Equal(HttpStatusCode.OK, deleted.Status);
        Assert.Equal(1, deleted.Json.GetInt32());
        Assert.Equal([2], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions")).Json.EnumerateArray().Select(e => e.GetInt32()));
        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/1"), HttpStatusCode.NotFound, 40402);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, $"schemas/ids/{id1}")).Status);
        AssertError(await SendAsync(HttpMethod.Post, "subjects/orders-value", Body(V1)), HttpStatusCode.NotFound, 40403, "Schema under subject 'orders-value' not found.");

        Assert.Equal(2, (await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/latest")).Json.GetInt32());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, $"schemas/ids/{id2}")).Status);
        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions"), HttpStatusCode.NotFound, 40401);
        Assert.DoesNotContain("orders-value", (await SendAsync(HttpMethod.Get, "subjects")).Json.EnumerateArray().Select(e => e.GetString()));

        // Registered again: the same id, and a new version number (numbers are never given twice).
        Assert.Equal(id1, await RegisterAsync("orders-value", V1));
        var again = await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/latest");
        Assert.Equal((3, id1), (again.Json.GetProperty("version").GetInt32(), again.Json.GetProperty("id").GetInt32()));
    }

    /// <summary>
    /// Follows Confluent's SubjectVersionsResource (getSchemaByVersion, getSchemaOnly, getReferencedBy, listVersions) and
    /// AbstractSchemaRegistry (get, validateDeleteSchemaVersion): a deleted version is 40402 unless asked for with
    /// <c>deleted=true</c>, deleting it again is 40406, <c>latest</c> is the latest version not deleted, and a subject whose
    /// versions are all deleted is 40401 to reads without <c>deleted=true</c>, 40402 with it and to deletes.
    /// </summary>
    [Fact]
    public async Task A_deleted_version_is_40402_unless_asked_for_with_deleted_true_and_deleting_it_again_is_40406()
    {
        var id1 = await RegisterAsync("orders-value", V1);
        var id2 = await RegisterAsync("orders-value", V2);
        Assert.Equal(1, (await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/1")).Json.GetInt32());

        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/1"), HttpStatusCode.NotFound, 40402);
        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/1/schema"), HttpStatusCode.NotFound, 40402);
        var read = await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/1?deleted=true");
        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.Equal((1, id1), (read.Json.GetProperty("version").GetInt32(), read.Json.GetProperty("id").GetInt32()));
        Assert.Equal("Order", (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/1/schema?deleted=true")).Json.GetProperty("name").GetString());
        Assert.Empty((await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/1/referencedby")).Json.EnumerateArray());
        Assert.Equal([1, 2], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions?deleted=true")).Json.EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([1], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions?deletedOnly=true")).Json.EnumerateArray().Select(e => e.GetInt32()));
        AssertError(await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/1"), HttpStatusCode.NotFound, 40406, "Version 1 was soft deleted");
        Assert.Equal(id2, (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/latest?deleted=true")).Json.GetProperty("id").GetInt32());

        Assert.Equal(2, (await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/latest")).Json.GetInt32());
        AssertError(await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/2"), HttpStatusCode.NotFound, 40406);
        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/latest"), HttpStatusCode.NotFound, 40401);
        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/latest?deleted=true"), HttpStatusCode.NotFound, 40402);
        AssertError(await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/latest"), HttpStatusCode.NotFound, 40402);
        AssertError(await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/3"), HttpStatusCode.NotFound, 40402);
        Assert.Equal(id2, (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/2?deleted=true")).Json.GetProperty("id").GetInt32());
        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions"), HttpStatusCode.NotFound, 40401);
        Assert.Equal([1, 2], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions?deleted=true")).Json.EnumerateArray().Select(e => e.GetInt32()));
    }

    /// <summary>
    /// Confluent's registry answers a path Jersey has no resource for, and a method its resource lacks, through
    /// rest-utils' WebApplicationExceptionMapper: <c>{"error_code":404,"message":"HTTP 404 Not Found"}</c> and
    /// <c>{"error_code":405,"message":"HTTP 405 Method Not Allowed"}</c>. Only the API's paths: the host's others stay its own.
    /// </summary>
    [Theory]
    [InlineData("")]
    [InlineData("/registry")]
    public async Task Unknown_paths_and_methods_of_the_API_answer_Confluents_404_and_405_bodies(string prefix)
    {
        await using var host = await RegistryHost.StartAsync(o => o.SchemaRegistry.PathPrefix = prefix);
        _http.Dispose();
        var http = _http = new HttpClient { BaseAddress = new Uri(host.Url + "/") };
        foreach (var path in new[] { "schemas", "schemas/ids", "subjects/orders-value/versions/1/nothing", "config/a/b", "modes", "compatibility" }.Where(p => prefix != "" || !p.StartsWith("modes", StringComparison.Ordinal)))
        {
            var answer = await SendAsync(HttpMethod.Get, path);
            AssertError(answer, HttpStatusCode.NotFound, 404, "HTTP 404 Not Found");
        }

        foreach (var (method, path, allow) in new[] { ("GET", "subjects/orders-value", "POST, DELETE"), ("PATCH", "config", "GET, PUT, DELETE"), ("POST", "schemas/types", "GET"), ("DELETE", "subjects", "GET") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Equal(allow, string.Join(", ", response.Content.Headers.Allow));
            Assert.Equal("""{"error_code":405,"message":"HTTP 405 Method Not Allowed"}""", await response.Content.ReadAsStringAsync());
        }

        // The API's routes still answer, and the host's own paths are not the API's.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "subjects")).Status);
        using var outside = new HttpClient();
        using var other = await outside.GetAsync(new Uri(new Uri(host.Url[..^prefix.Length] + "/"), "not-the-registry"));
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.Empty(await other.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// The host may map DataMesh inside a group of its own (<c>app.MapGroup("/api").MapDataMesh()</c>): a method that the
    /// API's routes of a path lack is still Confluent's 405 naming the methods they have, as when mapped at the root.
    /// </summary>
    [Theory]
    [InlineData("")]
    [InlineData("/registry")]
    public async Task A_method_the_API_lacks_is_405_when_the_host_maps_DataMesh_in_a_group_of_its_own(string prefix)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton<ISchemaStore>(_host.Store);
        builder.Services.AddDataMeshServer(o => o.SchemaRegistry.PathPrefix = prefix);
        await using var app = builder.Build();
        app.MapGroup("/api").MapDataMesh();
        await app.StartAsync();
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            using var http = new HttpClient { BaseAddress = new Uri(address + "/api" + prefix + "/") };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("subjects")).StatusCode);
            using var request = new HttpRequestMessage(HttpMethod.Delete, "subjects");
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Equal("GET", string.Join(", ", response.Content.Headers.Allow));
            Assert.Equal("""{"error_code":405,"message":"HTTP 405 Method Not Allowed"}""", await response.Content.ReadAsStringAsync());
        }
        finally
        {
            await app.StopAsync();
        }
    }

    /// <summary>
    /// Confluent's <c>normalize=true</c> registers and looks up AvroSchema.normalize()'s form (AvroSchemaUtils.toNormalizedString:
    /// full names, attributes in a fixed order, properties and aliases sorted), so that schemas differing only in those
    /// are one version. DataMesh compares schemas by a form that leaves out all of that already (SchemaCanonicalForm), with
    /// or without the parameter; the registered text is the schema as first sent.
    /// </summary>
    [Fact]
    public async Task Schemas_that_Confluents_normalization_makes_equal_are_one_version_with_normalize_true()
    {
        const string written = """{"type":"record","name":"Order","namespace":"shop","aliases":["b","a"],"fields":[{"name":"id","type":"long","x-b":1,"x-a":2}]}""";
        const string normalized = """{"name":"shop.Order","type":"record","fields":[{"name":"id","type":"long","x-a":2,"x-b":1}],"aliases":["a","b"]}""";
        var id = await RegisterAsync("orders-value", written);
        var again = await SendAsync(HttpMethod.Post, "subjects/orders-value/versions?normalize=true", Body(normalized));
        Assert.Equal(id, again.Json.GetProperty("id").GetInt32());
        var found = await SendAsync(HttpMethod.Post, "subjects/orders-value?normalize=true", Body(normalized));
        Assert.Equal((1, id), (found.Json.GetProperty("version").GetInt32(), found.Json.GetProperty("id").GetInt32()));
        Assert.Equal([1], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions")).Json.EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public async Task Schema_ids_errors_are_40403()
    {
        await RegisterAsync("orders-value", V1);
        AssertError(await SendAsync(HttpMethod.Get, "schemas/ids/7"), HttpStatusCode.NotFound, 40403, "Schema 7 not found");
        AssertError(await SendAsync(HttpMethod.Get, "schemas/ids/7/schema"), HttpStatusCode.NotFound, 40403);
        AssertError(await SendAsync(HttpMethod.Get, "schemas/ids/7/versions"), HttpStatusCode.NotFound, 40403);
        AssertError(await SendAsync(HttpMethod.Get, "schemas/ids/0"), HttpStatusCode.NotFound, 40403);
        AssertError(await SendAsync(HttpMethod.Get, "schemas/ids/abc"), HttpStatusCode.NotFound, 40403, "'abc'");
        AssertError(await SendAsync(HttpMethod.Get, "schemas/ids/99999999999"), HttpStatusCode.NotFound, 40403);
    }

    [Fact]
    public async Task Subject_and_version_errors_are_40401_40402_and_42202()
    {
        await RegisterAsync("orders-value", V1);
        AssertError(await SendAsync(HttpMethod.Get, "subjects/missing-value/versions"), HttpStatusCode.NotFound, 40401, "Subject 'missing-value' not found");
        AssertError(await SendAsync(HttpMethod.Get, "subjects/missing-value/versions/latest"), HttpStatusCode.NotFound, 40401);
        AssertError(await SendAsync(HttpMethod.Get, "subjects/missing-value/versions/1/schema"), HttpStatusCode.NotFound, 40401);
        AssertError(await SendAsync(HttpMethod.Delete, "subjects/missing-value/versions/1"), HttpStatusCode.NotFound, 40401);
        AssertError(await SendAsync(HttpMethod.Post, "subjects/missing-value", Body(V1)), HttpStatusCode.NotFound, 40401);
        // Confluent's compatibility check names the version it lacks, not the subject (40402; "latest" is compatible).
        AssertError(await SendAsync(HttpMethod.Post, "compatibility/subjects/missing-value/versions/1", Body(V1)), HttpStatusCode.NotFound, 40402);

        AssertError(await SendAsync(HttpMethod.Get, "subjects/orders-value/versions/2"), HttpStatusCode.NotFound, 40402, "Version 2 not found");
        AssertError(await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/2"), HttpStatusCode.NotFound, 40402);
        AssertError(await SendAsync(HttpMethod.Post, "compatibility/subjects/orders-value/versions/2", Body(V2)), HttpStatusCode.NotFound, 40402);

        foreach (var version in new[] { "0", "-2", "first", "2147483648", "1.5" })
        {
            AssertError(await SendAsync(HttpMethod.Get, $"subjects/orders-value/versions/{version}"), HttpStatusCode.UnprocessableEntity, 42202, $"'{version}'");
            AssertError(await SendAsync(HttpMethod.Delete, $"subjects/orders-value/versions/{version}"), HttpStatusCode.UnprocessableEntity, 42202);
            AssertError(await SendAsync(HttpMethod.Post, $"compatibility/subjects/orders-value/versions/{version}", Body(V2)), HttpStatusCode.UnprocessableEntity, 42202);
        }

        // The schema is not the subject's: 40403.
        AssertError(await SendAsync(HttpMethod.Post, "subjects/orders-value", Body(V2)), HttpStatusCode.NotFound, 40403);
    }

    [Fact]
    public async Task Subjects_with_slashes_and_other_escaped_characters_round_trip_and_blank_ones_are_42208()
    {
        var subject = "pg.shop/public orders-välue";
        var escaped = Uri.EscapeDataString(subject);
        var id = await RegisterAsync(escaped, V1);
        Assert.Equal([subject], (await SendAsync(HttpMethod.Get, "subjects")).Json.EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(subject, (await SendAsync(HttpMethod.Get, $"subjects/{escaped}/versions/latest")).Json.GetProperty("subject").GetString());
        Assert.Equal(id, (await _host.Store.GetLatestAsync(subject))!.Id);

        AssertError(await SendAsync(HttpMethod.Get, "subjects/%20/versions"), HttpStatusCode.UnprocessableEntity, 42208, "Invalid subject");
        AssertError(await SendAsync(HttpMethod.Post, "subjects/%09/versions", Body(V1)), HttpStatusCode.UnprocessableEntity, 42208);
        AssertError(await SendAsync(HttpMethod.Put, "config/%20", """{"compatibility":"FULL"}"""), HttpStatusCode.UnprocessableEntity, 42208);
    }

    [Theory]
    [InlineData("subjects/orders-value/versions")]
    [InlineData("subjects/orders-value")]
    [InlineData("compatibility/subjects/orders-value/versions/latest")]
    [InlineData("compatibility/subjects/orders-value/versions")]
    public async Task Invalid_schemas_are_42201_and_change_nothing(string path)
    {
        await RegisterAsync("orders-value", V1);
        string[] bodies =
        [
            """{"schema":42}""",
            """{"schema":null}""",
            """{"schema":"  "}""",
            """{"nothing":"here"}""",
            Body("""{"type":"record","name":"X"}"""),
            Body("""{"type":"nonsense"}"""),
            Body("{"),
            JsonSerializer.Serialize(new { schema = V2, schemaType = "PROTOBUF" }),
            JsonSerializer.Serialize(new { schema = V2, schemaType = 5 }),
            JsonSerializer.Serialize(new { schema = V2, references = new[] { new { name = "a", subject = "b", version = 1 } } }),

            // A default that is not a value of its field's type (a new user's pass: registered, which Confluent refuses).
            Body("""{"type":"record","name":"D","fields":[{"name":"n","type":"int","default":"notanint"}]}"""),
            Body("""{"type":"record","name":"D","fields":[{"name":"n","type":"int","default":3000000000}]}"""),
            Body("""{"type":"record","name":"D","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]},"default":"B"}]}"""),
            Body("""{"type":"record","name":"D","fields":[{"name":"r","type":{"type":"record","name":"R","fields":[{"name":"x","type":"string"}]},"default":{}}]}"""),
            Body("""{"type":"record","name":"D","fields":[{"name":"a","type":{"type":"array","items":"long"},"default":[1,"2"]}]}"""),
        ];
        foreach (var body in bodies)
        {
            AssertError(await SendAsync(HttpMethod.Post, path, body), HttpStatusCode.UnprocessableEntity, 42201, "Invalid schema");
        }

        Assert.Equal([1], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions")).Json.EnumerateArray().Select(e => e.GetInt32()));
        // Defaults that fit: a union's default of any branch, numbers for floats, a logical type's underlying value.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "subjects/defaults-value/versions", Body("""
            {"type":"record","name":"D","fields":[
              {"name":"u","type":["null","string"],"default":null},{"name":"v","type":["string","null"],"default":"x"},
              {"name":"f","type":"double","default":1},{"name":"t","type":{"type":"long","logicalType":"timestamp-micros"},"default":0},
              {"name":"m","type":{"type":"map","values":"int"},"default":{"a":1}},
              {"name":"r","type":{"type":"record","name":"R","fields":[{"name":"x","type":"string","default":"y"}]},"default":{}}]}
            """))).Status);

        // An explicit AVRO type is fine.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "subjects/orders-value/versions", JsonSerializer.Serialize(new { schema = V2, schemaType = "AVRO" }))).Status);
    }

    [Fact]
    public async Task An_incompatible_schema_is_409_with_the_field_and_rule_and_adds_no_version()
    {
        await RegisterAsync("orders-value", V1);
        AssertError(
            await SendAsync(HttpMethod.Post, "subjects/orders-value/versions", Body(Breaking)),
            HttpStatusCode.Conflict,
            409,
            "field 'total' was added without a default");
        Assert.Equal([1], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions")).Json.EnumerateArray().Select(e => e.GetInt32()));
    }

    [Theory]
    [InlineData("config")]
    [InlineData("config/orders-value")]
    public async Task Unknown_compatibility_levels_are_42203(string path)
    {
        foreach (var body in new[] { """{"compatibility":"SIDEWAYS"}""", """{"compatibility":""}""", """{"compatibility":3}""", """{"compatibility":true}""" })
        {
            AssertError(await SendAsync(HttpMethod.Put, path, body), HttpStatusCode.UnprocessableEntity, 42203, "Invalid compatibility level");
        }

        Assert.Equal("BACKWARD", (await SendAsync(HttpMethod.Get, path)).Json.GetProperty("compatibilityLevel").GetString());
    }

    /// <summary>
    /// Follows Confluent's ConfigResource.updateTopLevelConfig / updateSubjectLevelConfig and ConfigValue.update: 42203
    /// only for a level it does not know; a body without <c>"compatibility"</c> (<c>{}</c>, or fields it ignores, as
    /// ConfigUpdateRequest's Jackson mapping ignores unknown ones) changes nothing and answers the config; a
    /// <c>"compatibility": null</c> removes the level there, which DataMesh refuses as it refuses <c>DELETE /config</c>.
    /// </summary>
    [Theory]
    [InlineData("config")]
    [InlineData("config/orders-value")]
    public async Task A_config_update_without_a_level_changes_nothing_and_answers_the_level_in_force(string path)
    {
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "config", """{"compatibility":"FULL"}""")).Status);
        foreach (var body in new[] { "{}", """{"compatibilityLevel":"NONE"}""" })
        {
            var answer = await SendAsync(HttpMethod.Put, path, body);
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Equal("""{"compatibility":"FULL"}""", answer.Json.GetRawText());
        }

        AssertError(await SendAsync(HttpMethod.Put, path, """{"compatibility":null}"""), HttpStatusCode.UnprocessableEntity, 42205, $"PUT /{path}");
        Assert.Equal("FULL", (await SendAsync(HttpMethod.Get, path)).Json.GetProperty("compatibilityLevel").GetString());
    }

    /// <summary>
    /// Confluent's registry reads bodies with Jackson and maps its errors with rest-utils' JsonParseExceptionMapper (text
    /// that is not JSON) and JsonMappingExceptionMapper (JSON of the wrong shape: an array for the request object, an
    /// object for a string field): both answer status 400 with error code 400, before the handler looks at the schema or
    /// the level.
    /// </summary>
    [Theory]
    [InlineData("PUT", "config", """{"compatibility":["FULL"]}""")]
    [InlineData("PUT", "config/orders-value", """{"compatibility":{"level":"FULL"}}""")]
    [InlineData("POST", "subjects/orders-value/versions", """{"schema":{"type":"string"}}""")]
    [InlineData("POST", "subjects/orders-value", """{"schema":["string"]}""")]
    [InlineData("POST", "compatibility/subjects/orders-value/versions/latest", """{"schema":"\"string\"","schemaType":{}}""")]
    [InlineData("POST", "compatibility/subjects/orders-value/versions", """{"schema":"\"string\"","references":{}}""")]
    public async Task A_body_that_is_not_JSON_or_not_of_the_requests_shape_is_400_as_Confluents_JSON_errors(string method, string path, string wrongShape)
    {
        await RegisterAsync("orders-value", V1);
        foreach (var body in new[] { "no json", """{"compatibility":"FULL",""", "[1]", "\"FULL\"", "42", wrongShape })
        {
            AssertError(await SendAsync(new HttpMethod(method), path, body), HttpStatusCode.BadRequest, 400);
        }

        Assert.Equal([1], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions")).Json.EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("BACKWARD", (await SendAsync(HttpMethod.Get, "config/orders-value")).Json.GetProperty("compatibilityLevel").GetString());
    }

    /// <summary>
    /// Confluent's resources consume <c>application/vnd.schemaregistry.v1+json</c>, <c>application/vnd.schemaregistry+json</c>,
    /// <c>application/json</c> and <c>application/octet-stream</c> (what Jersey takes a body without a Content-Type as);
    /// another type is 415 with error code 415 (rest-utils' WebApplicationExceptionMapper).
    /// </summary>
    [Fact]
    public async Task Bodies_are_taken_in_Confluents_content_types_and_another_type_is_415()
    {
        var accepted = new[] { "application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json", "application/json; charset=utf-8", "application/octet-stream", null };
        foreach (var type in accepted)
        {
            var (status, _) = await SendTypedAsync(HttpMethod.Post, "subjects/orders-value/versions", Body(V1), type);
            Assert.True(status == HttpStatusCode.OK, $"{type ?? "no content type"}: {status}");
            Assert.Equal(HttpStatusCode.OK, (await SendTypedAsync(HttpMethod.Put, "config/orders-value", """{"compatibility":"FULL"}""", type)).Status);
        }

        foreach (var type in new[] { "text/plain", "application/x-www-form-urlencoded", "application/xml" })
        {
            foreach (var (method, path, body) in new[] { (HttpMethod.Post, "subjects/other-value/versions", Body(V1)), (HttpMethod.Put, "config", """{"compatibility":"NONE"}""") })
            {
                var (status, json) = await SendTypedAsync(method, path, body, type);
                Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
                Assert.Equal(415, json.GetProperty("error_code").GetInt32());
            }
        }

        AssertError(await SendAsync(HttpMethod.Get, "subjects/other-value/versions"), HttpStatusCode.NotFound, 40401);
        Assert.Equal("BACKWARD", (await SendAsync(HttpMethod.Get, "config")).Json.GetProperty("compatibilityLevel").GetString());
    }

    /// <summary>
    /// Confluent's resources produce <c>application/vnd.schemaregistry.v1+json</c> (qs 1), <c>application/vnd.schemaregistry+json</c>
    /// (qs 0.9) and <c>application/json</c> (qs 0.5): a client that accepts only <c>application/json</c> gets that, errors too.
    /// </summary>
    [Theory]
    [InlineData(null, "application/vnd.schemaregistry.v1+json")]
    [InlineData("*/*", "application/vnd.schemaregistry.v1+json")]
    [InlineData("application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json", "application/vnd.schemaregistry.v1+json")]
    [InlineData("application/json", "application/json")]
    [InlineData("application/json, */*; q=0.1", "application/json")]
    [InlineData("application/*", "application/vnd.schemaregistry.v1+json")]
    [InlineData("application/vnd.schemaregistry+json", "application/vnd.schemaregistry+json")]
    public async Task Answers_are_in_the_content_type_the_client_accepts(string? accept, string expected)
    {
        await RegisterAsync("orders-value", V1);
        foreach (var path in new[] { "subjects/orders-value/versions/latest", "schemas/ids/1/schema", "subjects/missing-value/versions" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (accept is not null)
            {
                request.Headers.TryAddWithoutValidation("Accept", accept);
            }

            using var response = await _http.SendAsync(request);
            Assert.Equal(expected, response.Content.Headers.ContentType?.MediaType);
            JsonDocument.Parse(await response.Content.ReadAsStringAsync()).Dispose();
        }
    }

    private async Task<(HttpStatusCode Status, JsonElement Json)> SendTypedAsync(HttpMethod method, string path, string body, string? contentType)
    {
        using var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
        if (contentType is not null)
        {
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        using var response = await _http.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task A_permanent_delete_is_refused_with_42205()
    {
        await RegisterAsync("orders-value", V1);
        AssertError(await SendAsync(HttpMethod.Delete, "subjects/orders-value/versions/1?permanent=true"), HttpStatusCode.UnprocessableEntity, 42205, "softly only");
        Assert.Equal([1], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions")).Json.EnumerateArray().Select(e => e.GetInt32()));
    }

    /// <summary>
    /// Confluent offers <c>DELETE /subjects/{s}</c> (SubjectsResource.deleteSubject), <c>DELETE /config</c> and
    /// <c>DELETE /config/{s}</c> (ConfigResource); DataMesh does not, and refuses them in Confluent's shape (42205, as a
    /// registry that does not permit the operation answers), saying what to do instead, not with a 405 without a body
    /// that Confluent's clients cannot read.
    /// </summary>
    [Theory]
    [InlineData("subjects/orders-value", "versions")]
    [InlineData("subjects/orders-value?permanent=true", "versions")]
    [InlineData("config", "PUT /config")]
    [InlineData("config/orders-value", "PUT /config/orders-value")]
    public async Task Deletes_DataMesh_does_not_offer_are_refused_with_42205_saying_what_to_do(string path, string instead)
    {
        await RegisterAsync("orders-value", V1);
        AssertError(await SendAsync(HttpMethod.Delete, path), HttpStatusCode.UnprocessableEntity, 42205, instead);
        Assert.Equal([1], (await SendAsync(HttpMethod.Get, "subjects/orders-value/versions")).Json.EnumerateArray().Select(e => e.GetInt32()));
    }

    /// <summary>
    /// Confluent's ModeResource as a registry with <c>mode.mutability=false</c> answers it: <c>GET /mode</c> is READWRITE
    /// (READONLY for a read-only API); a subject has no mode of its own (40409, unless <c>defaultToGlobal=true</c>);
    /// changing a mode is 42205 "Mode changes are not allowed", an unknown one 42204.
    /// </summary>
    [Fact]
    public async Task The_mode_is_READWRITE_and_changing_it_is_refused_as_Confluent_refuses_it_without_mode_mutability()
    {
        Assert.Equal("READWRITE", (await SendAsync(HttpMethod.Get, "mode")).Json.GetProperty("mode").GetString());
        Assert.Equal("READWRITE", (await SendAsync(HttpMethod.Get, "mode/orders-value?defaultToGlobal=true")).Json.GetProperty("mode").GetString());
        AssertError(await SendAsync(HttpMethod.Get, "mode/orders-value"), HttpStatusCode.NotFound, 40409, "orders-value");

        AssertError(await SendAsync(HttpMethod.Put, "mode", """{"mode":"READONLY"}"""), HttpStatusCode.UnprocessableEntity, 42205, "Mode changes are not allowed");
        AssertError(await SendAsync(HttpMethod.Put, "mode/orders-value", """{"mode":"import"}"""), HttpStatusCode.UnprocessableEntity, 42205);
        AssertError(await SendAsync(HttpMethod.Put, "mode", """{"mode":"SIDEWAYS"}"""), HttpStatusCode.UnprocessableEntity, 42204, "Invalid mode");
        AssertError(await SendAsync(HttpMethod.Put, "mode", "no json"), HttpStatusCode.BadRequest, 400);
        Assert.Equal("READWRITE", (await SendAsync(HttpMethod.Get, "mode")).Json.GetProperty("mode").GetString());
    }

    [Fact]
    public async Task A_store_that_failed_answers_50001_and_the_server_logs_it_without_the_schema()
    {
        var id = await RegisterAsync("orders-value", V1);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, $"schemas/ids/{id}")).Status);
        await _host.Store.DisposeAsync();

        AssertError(await SendAsync(HttpMethod.Get, "subjects"), HttpStatusCode.InternalServerError, 50001, "Error in the backend data store");
        AssertError(await SendAsync(HttpMethod.Post, "subjects/orders-value/versions", Body(V2)), HttpStatusCode.InternalServerError, 50001);
        Assert.Contains(_host.Logs.Lines, l => l.Id.Id == 8004 && l.Message.Contains("POST /subjects/{subject}/versions", StringComparison.Ordinal));
        // A body served before the failure stays served: ids never change.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, $"schemas/ids/{id}")).Status);
        Assert.DoesNotContain(_host.Logs.Lines, l => l.Message.Contains("\"fields\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_oversized_body_is_refused_with_413()
    {
        var huge = Body("""{"type":"record","name":"Big","fields":[""" + string.Join(",", Enumerable.Range(0, 40_000).Select(i => $$"""{"name":"f{{i}}","type":"long"}""")) + "]}");
        Assert.True(huge.Length > 1 << 20);
        // Refused on its Content-Length before the body is read: with 100-continue the client waits for that answer rather
        // than race the server's close while it writes a megabyte (a broken pipe once in a clean run).
        AssertError(await SendAsync(HttpMethod.Post, "subjects/big-value/versions", huge, expectContinue: true), HttpStatusCode.RequestEntityTooLarge, 413, "MaxRequestBytes");
        AssertError(await SendAsync(HttpMethod.Get, "subjects/big-value/versions"), HttpStatusCode.NotFound, 40401);
    }
}
