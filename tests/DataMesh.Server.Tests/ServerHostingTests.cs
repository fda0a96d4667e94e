using System.Net;
using Confluent.SchemaRegistry;
using DataMesh.Schemas;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;
using Xunit;
using RegisteredSchema = DataMesh.Schemas.RegisteredSchema;
using RegistrySchema = Confluent.SchemaRegistry.Schema;

namespace DataMesh.Server.Tests;

/// <summary>How a host takes the server: options checked at start, a path prefix, read-only mode, what it logs.</summary>
public sealed class ServerHostingTests
{
    private const string V1 = """{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}""";

    [Theory]
    [InlineData("registry", "DataMesh:Server:SchemaRegistry:PathPrefix must be empty or a path like '/registry'")]
    [InlineData("/registry/", "DataMesh:Server:SchemaRegistry:PathPrefix")]
    [InlineData("/a b", "DataMesh:Server:SchemaRegistry:PathPrefix")]
    [InlineData("/ok", null)]
    public void Options_are_checked_when_the_host_maps_and_starts_naming_the_setting(string prefix, string? error)
    {
        var store = new UnusedStore();
        if (error is null)
        {
            using var ok = RegistryHost.Build(store, o => o.SchemaRegistry.PathPrefix = prefix);
            return;
        }

        var failure = Assert.Throws<OptionsValidationException>(() => RegistryHost.Build(store, o => o.SchemaRegistry.PathPrefix = prefix));
        Assert.Contains(error, failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/subjects", null, "PagePath '/subjects' is a path of the Schema Registry API")]
    [InlineData("/ui", "/config/x", "PathPrefix '/config/x' is a path of the Schema Registry API")]
    [InlineData("/mode", null, "PagePath '/mode' is a path of the Schema Registry API")]
    [InlineData("/api", "/api", "PagePath and DataMesh:Server:Controller:PathPrefix must differ")]
    [InlineData("/ui", "/api", null)]
    [InlineData("/subjectsx", "/api", null)]
    public void The_page_and_the_controllers_api_cannot_take_the_registrys_paths(string page, string? api, string? error)
    {
        // A new user's pass: PagePath=/subjects was accepted, then GET /subjects answered 500 (two endpoints for one path).
        var options = new DataMeshServerOptions();
        options.Controller.Enabled = true;
        options.Controller.PagePath = page;
        options.Controller.PathPrefix = api ?? options.Controller.PathPrefix;
        var result = new DataMeshServerOptionsValidator().Validate(null, options);
        if (error is null)
        {
            Assert.True(result.Succeeded, result.FailureMessage);
        }
        else
        {
            Assert.Contains(error, result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void MaxRequestBytes_out_of_range_is_refused_naming_the_setting()
    {
        var failure = Assert.Throws<OptionsValidationException>(() => RegistryHost.Build(new UnusedStore(), o => o.SchemaRegistry.MaxRequestBytes = 10));
        Assert.Contains("DataMesh:Server:SchemaRegistry:MaxRequestBytes must be between 1024", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MapDataMesh_without_AddDataMeshServer_says_what_to_call()
    {
        var builder = WebApplication.CreateSlimBuilder();
        using var app = builder.Build();
        var error = Assert.Throws<InvalidOperationException>(() => app.MapDataMesh());
        Assert.Contains("services.AddDataMeshServer()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_a_path_prefix_Confluents_client_works_with_the_prefixed_url_and_the_root_has_no_registry()
    {
        await using var host = await RegistryHost.StartAsync(o => o.SchemaRegistry.PathPrefix = "/registry");
        Assert.EndsWith("/registry", host.Url, StringComparison.Ordinal);
        using var client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = host.Url });
        var id = await client.RegisterSchemaAsync("orders-value", new RegistrySchema(V1, SchemaType.Avro));
        Assert.Equal(id, (await client.GetLatestSchemaAsync("orders-value")).Id);

        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(host.Url[..^"/registry".Length] + "/subjects")).StatusCode);
        Assert.Contains(host.Logs.Lines, l => l.Id.Id == 8000 && l.Message.Contains("'/registry/'", StringComparison.Ordinal) && l.Message.Contains("KafkaSchemaStore", StringComparison.Ordinal));
        Assert.Contains(host.Logs.Lines, l => l.Id.Id == 8001 && l.Message == $"Schema Registry API: subject 'orders-value' registered schema id {id}");
    }

    [Fact]
    public async Task A_read_only_API_serves_reads_and_refuses_every_change_with_42205()
    {
        await using var host = await RegistryHost.StartAsync(o => o.SchemaRegistry.ReadOnly = true);
        var id = await host.Store.RegisterAsync("orders-value", global::Avro.Schema.Parse(V1));
        using var client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = host.Url });

        Assert.Equal("Order", global::Avro.Schema.Parse((await client.GetSchemaAsync(id)).SchemaString).Name);
        var register = await Assert.ThrowsAsync<SchemaRegistryException>(() => client.RegisterSchemaAsync("orders-value", new RegistrySchema(V1, SchemaType.Avro)));
        Assert.Equal(42205, register.ErrorCode);
        Assert.Contains("DataMesh:Server:SchemaRegistry:ReadOnly", register.Message, StringComparison.Ordinal);
        Assert.Equal(42205, (await Assert.ThrowsAsync<SchemaRegistryException>(() => client.UpdateCompatibilityAsync(Compatibility.None, null))).ErrorCode);

        using var http = new HttpClient();
        using var delete = await http.DeleteAsync(host.Url + "/subjects/orders-value/versions/1");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, delete.StatusCode);
        Assert.Contains("42205", await delete.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal([1], await client.GetSubjectVersionsAsync("orders-value"));
        Assert.Equal(CompatibilityLevel.Backward, await host.Store.GetCompatibilityAsync(null));

        // Confluent's mode for a registry that registers nothing.
        Assert.Contains("\"mode\":\"READONLY\"", await http.GetStringAsync(host.Url + "/mode"), StringComparison.Ordinal);
    }

    /// <summary>A store no test calls: hosts built only to check their options.</summary>
    internal sealed class UnusedStore : ISchemaStore
    {
        public ValueTask<int> RegisterAsync(string subject, global::Avro.Schema schema, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<global::Avro.Schema> GetByIdAsync(int id, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<RegisteredSchema?> GetLatestAsync(string subject, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<IReadOnlyList<RegisteredSchema>> GetVersionsAsync(string subject, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<IReadOnlyList<string>> GetSubjectsAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<RegisteredSchema?> FindAsync(string subject, global::Avro.Schema schema, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<bool> DeleteVersionAsync(string subject, int version, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<CompatibilityLevel> GetCompatibilityAsync(string? subject, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask SetCompatibilityAsync(string? subject, CompatibilityLevel level, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
