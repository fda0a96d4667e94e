using Confluent.SchemaRegistry;
using DataMesh.Schemas;
using Xunit;
using Schema = Avro.Schema;

namespace DataMesh.Tests.Schemas;

/// <summary>
/// <see cref="ConfluentSchemaRegistryStore"/> through Confluent.SchemaRegistry's real client, against
/// <see cref="FakeSchemaRegistry"/>, which stands for the real registry's documented REST behaviour.
/// </summary>
public sealed class ConfluentSchemaRegistryStoreTests : IAsyncLifetime
{
    private readonly FakeSchemaRegistry _registry = new();
    private ConfluentSchemaRegistryStore _store = null!;

    public Task InitializeAsync()
    {
        _store = new ConfluentSchemaRegistryStore(new SchemaRegistryConfig { Url = _registry.Url, RequestTimeoutMs = 10_000 });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _store.Dispose();
        await _registry.DisposeAsync();
    }

    private static Schema Order(params string[] extra) =>
        Schema.Parse($$"""{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}{{string.Concat(extra.Select(f => "," + f))}}]}""");

    [Fact]
    public async Task Credentials_in_the_url_are_sent_as_basic_credentials_and_never_appear_in_an_error()
    {
        // Found by a new-user pass: https://user:password@host was neither sent nor kept out of the client's messages,
        // which the CLI and the Schema Registry API repeated.
        var url = _registry.Url.Replace("http://", "http://reg%40user:Reg%3APass123@", StringComparison.Ordinal);
        using (var store = new ConfluentSchemaRegistryStore(new SchemaRegistryConfig { Url = url, RequestTimeoutMs = 10_000 }))
        {
            await store.GetCompatibilityAsync(null);
        }

        Assert.Equal("Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("reg@user:Reg:Pass123")), Assert.Single(_registry.Authorizations));

        using var unreachable = new ConfluentSchemaRegistryStore(new SchemaRegistryConfig { Url = "http://reguser:RegPass123@127.0.0.1:1", RequestTimeoutMs = 5_000 });
        var error = await Assert.ThrowsAnyAsync<Exception>(async () => await unreachable.GetSubjectsAsync());
        Assert.DoesNotContain("RegPass123", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_lookup_latest_and_by_id_round_trip()
    {
        var v1 = Order();
        var v2 = Order("""{"name":"note","type":["null","string"],"default":null}""");

        var id1 = await _store.RegisterAsync("orders-value", v1);
        var id2 = await _store.RegisterAsync("orders-value", v2);
        Assert.NotEqual(id1, id2);
        Assert.Equal(id1, await _store.RegisterAsync("orders-value", v1));

        var latest = await _store.GetLatestAsync("orders-value");
        Assert.NotNull(latest);
        Assert.Equal(("orders-value", 2, id2), (latest.Subject, latest.Version, latest.Id));
        Assert.Equal(v2.ToString(), latest.Schema.ToString());
        Assert.Equal(v1.ToString(), (await _store.GetByIdAsync(id1)).ToString());
        Assert.Equal([1, 2], (await _store.GetVersionsAsync("orders-value")).Select(v => v.Version));
        Assert.Null(await _store.GetLatestAsync("missing-value"));
        await Assert.ThrowsAsync<KeyNotFoundException>(async () => await _store.GetByIdAsync(4242));
        Assert.Contains("POST /subjects/orders-value/versions", _registry.Requests);
    }

    [Fact]
    public async Task Incompatible_schema_is_refused_locally_with_the_field_and_never_posted()
    {
        await _store.RegisterAsync("pg.shop.public.orders-value", Order());
        var posts = _registry.Requests.Count(r => r == "POST /subjects/pg.shop.public.orders-value/versions");

        var error = await Assert.ThrowsAsync<SchemaIncompatibleException>(async () =>
            await _store.RegisterAsync("pg.shop.public.orders-value", Order("""{"name":"total","type":"double"}""")));

        Assert.Equal(
            "Schema for subject 'pg.shop.public.orders-value' is not BACKWARD compatible with version 1: field 'total' was added without a default",
            error.Message);
        Assert.Equal(posts, _registry.Requests.Count(r => r == "POST /subjects/pg.shop.public.orders-value/versions"));
    }

    [Fact]
    public async Task Compatibility_levels_per_subject_fall_back_to_the_global_level()
    {
        Assert.Equal(CompatibilityLevel.Backward, await _store.GetCompatibilityAsync(null));
        Assert.Equal(CompatibilityLevel.Backward, await _store.GetCompatibilityAsync("x-value"));

        await _store.SetCompatibilityAsync("x-value", CompatibilityLevel.ForwardTransitive);
        await _store.SetCompatibilityAsync(null, CompatibilityLevel.Full);

        Assert.Equal(CompatibilityLevel.ForwardTransitive, await _store.GetCompatibilityAsync("x-value"));
        Assert.Equal(CompatibilityLevel.Full, await _store.GetCompatibilityAsync("y-value"));
        Assert.Equal(CompatibilityLevel.Full, await _store.GetCompatibilityAsync(null));

        // FORWARD_TRANSITIVE: every earlier version must read the new one; a removed required field breaks that.
        await _store.RegisterAsync("x-value", Order("""{"name":"a","type":"string"}"""));
        var error = await Assert.ThrowsAsync<SchemaIncompatibleException>(async () => await _store.RegisterAsync("x-value", Order()));
        Assert.Contains("field 'a' was removed, and the old schema has no default for it", error.Message, StringComparison.Ordinal);
        Assert.Equal(CompatibilityLevel.ForwardTransitive, error.Level);

        await _store.SetCompatibilityAsync("x-value", CompatibilityLevel.None);
        Assert.True(await _store.RegisterAsync("x-value", Order()) > 0);
    }
}
