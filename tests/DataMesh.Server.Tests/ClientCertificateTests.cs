using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using DataMesh.Server.Controller;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace DataMesh.Server.Tests;

/// <summary>
/// The controller's API with client certificates (<c>DataMesh:Server:Controller:ClientCertificates</c>): a real Kestrel on
/// 127.0.0.1 over HTTPS asking for client certificates, and HttpClients presenting certificates made by <see cref="TestPki"/>.
/// </summary>
public sealed class ClientCertificateTests : IDisposable
{
    private const string Token = "a-token-of-32-characters-or-so!!";

    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("datamesh-mtls-");
    private readonly X509Certificate2 _ca = TestPki.Ca("DataMesh tests client CA");
    private readonly X509Certificate2 _server = TestPki.Server();

    [Fact]
    public async Task Only_a_valid_client_certificate_of_the_configured_CA_gets_200_and_the_schema_registry_needs_none()
    {
        using var intermediate = TestPki.Ca("DataMesh tests issuing CA", _ca);
        using var good = TestPki.Issue(_ca, "deployer");
        using var viaIntermediate = TestPki.Issue(intermediate, "ops");
        using var otherCa = TestPki.Ca("Another CA");
        using var foreign = TestPki.Issue(otherCa, "deployer");
        using var expired = TestPki.Issue(_ca, "deployer", DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1));
        using var notYet = TestPki.Issue(_ca, "deployer", DateTimeOffset.UtcNow.AddDays(1), DateTimeOffset.UtcNow.AddDays(30));
        using var serverOnly = TestPki.Issue(_ca, "deployer", usages: TestPki.ServerAuthentication);
        var bundle = TestPki.WritePem(_folder, "clients-ca.pem", _ca, intermediate);
        await using var host = await ControllerHost.StartAsync(o => Trust(o, bundle), _server);
        Assert.StartsWith("https://127.0.0.1:", host.Url, StringComparison.Ordinal);

        Assert.Equal(200, (await GetStatusAsync(host, good)).Status);
        Assert.Equal(200, (await GetStatusAsync(host, viaIntermediate)).Status);

        foreach (var (client, reason) in new (X509Certificate2?, string)[]
        {
            (null, "presented none"),
            (foreign, "does not chain to a CA of DataMesh:Server:Controller:ClientCertificates:CaPaths"),
            (expired, "expired at"),
            (notYet, "is not valid before"),
            (serverOnly, "not for client authentication"),
        })
        {
            var (status, error) = await GetStatusAsync(host, client);
            Assert.Equal(401, status);
            Assert.Contains(reason, error, StringComparison.Ordinal);
        }

        // The Schema Registry API on the same port is not the controller's: no certificate needed.
        using (var anonymous = TestPki.Client(host.Url, _server, null))
        {
            Assert.Equal("[]", await anonymous.GetStringAsync("/subjects"));
        }

        Assert.Contains(host.Logs.Lines, l => l.Id.Id == 8010 && l.Message.Contains("every request needs a client certificate that chains to a CA of " + bundle, StringComparison.Ordinal));
        var refused = host.Logs.Lines.Where(l => l.Id.Id == 8016).ToList();
        Assert.All(refused, l => Assert.Equal(LogLevel.Warning, l.Level));
        Assert.Contains(refused, l => l.Message.Contains(ClientCertificateTrust.Thumbprint(expired), StringComparison.Ordinal) && l.Message.Contains("expired at", StringComparison.Ordinal));
        Assert.Contains(refused, l => l.Message.Contains("CN=deployer", StringComparison.Ordinal) && l.Message.Contains("does not chain", StringComparison.Ordinal));
        Assert.Contains(host.Logs.Lines, l => l.Id.Id == 8014 && l.Message.Contains("presented none", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_a_token_and_client_certificates_both_are_needed()
    {
        using var good = TestPki.Issue(_ca, "deployer");
        var bundle = TestPki.WritePem(_folder, "clients-ca.pem", _ca);
        await using var host = await ControllerHost.StartAsync(o =>
        {
            Trust(o, bundle);
            o.Controller.BearerToken = Token;
        }, _server);

        Assert.Equal(200, (await GetStatusAsync(host, good, Token)).Status);
        var (status, error) = await GetStatusAsync(host, good);
        Assert.Equal(401, status);
        Assert.Contains("Authorization: Bearer", error, StringComparison.Ordinal);
        Assert.Equal(401, (await GetStatusAsync(host, good, Token[..^1] + "?")).Status);
        (status, error) = await GetStatusAsync(host, null, Token);
        Assert.Equal(401, status);
        Assert.Contains("presented none", error, StringComparison.Ordinal);
        Assert.Contains(host.Logs.Lines, l => l.Id.Id == 8010 && l.Message.Contains("every request needs the bearer token and a client certificate", StringComparison.Ordinal));
        Assert.DoesNotContain(host.Logs.Lines, l => l.Message.Contains(Token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Over_plain_HTTP_no_certificate_can_be_presented_so_every_request_gets_401_and_the_start_warns()
    {
        await using var host = await ControllerHost.StartAsync(o => Trust(o, TestPki.WritePem(_folder, "clients-ca.pem", _ca)));
        Assert.StartsWith("http://", host.Url, StringComparison.Ordinal);
        var (status, body, _) = await host.SendAsync(HttpMethod.Get, "/api/status");
        Assert.Equal(401, status);
        Assert.Contains("presented none", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        using (var response = await host.Http.GetAsync("/api/status"))
        {
            // No token to ask for: the page shows no token form.
            Assert.Empty(response.Headers.WwwAuthenticate);
        }

        Assert.Contains(host.Logs.Lines, l => l.Id.Id == 8017 && l.Level == LogLevel.Warning && l.Message.Contains(host.Url, StringComparison.Ordinal));
    }

    [Fact]
    public void Allowed_subjects_and_thumbprints_narrow_the_certificates_of_the_CA()
    {
        using var deployer = TestPki.Issue(_ca, "deployer");
        using var ops = TestPki.Issue(_ca, "ops");
        using var other = TestPki.Issue(_ca, "someone-else");
        var bundle = TestPki.WritePem(_folder, "clients-ca.pem", _ca);
        var options = new ClientCertificateOptions { RevocationMode = X509RevocationMode.NoCheck };
        options.CaPaths.Add(bundle);
        options.AllowedSubjects.Add("deployer");
        options.AllowedThumbprints.Add(string.Join(':', ClientCertificateTrust.Thumbprint(ops).Chunk(2).Select(c => new string(c))).ToLowerInvariant());
        using (var trust = ClientCertificateTrust.Create(options)!)
        {
            Assert.Null(trust.Check(deployer));
            Assert.Null(trust.Check(ops));
            Assert.Contains("not among DataMesh:Server:Controller:ClientCertificates:AllowedSubjects or AllowedThumbprints", trust.Check(other), StringComparison.Ordinal);
        }

        options.AllowedThumbprints.Clear();
        options.AllowedSubjects.Clear();
        options.AllowedSubjects.Add("cn=someone-else,o=DataMesh tests");
        using (var trust = ClientCertificateTrust.Create(options)!)
        {
            Assert.Null(trust.Check(other));
            Assert.NotNull(trust.Check(deployer));
        }
    }

    [Fact]
    public void Revocation_is_checked_online_by_default_and_a_CA_without_CRLs_is_refused_with_what_to_set()
    {
        using var good = TestPki.Issue(_ca, "deployer");
        var options = new ClientCertificateOptions();
        options.CaPaths.Add(TestPki.WritePem(_folder, "clients-ca.pem", _ca));
        Assert.Equal(X509RevocationMode.Online, options.RevocationMode);
        using (var trust = ClientCertificateTrust.Create(options)!)
        {
            Assert.Contains("set DataMesh:Server:Controller:ClientCertificates:RevocationMode to NoCheck", trust.Check(good), StringComparison.Ordinal);
        }

        options.RevocationMode = X509RevocationMode.NoCheck;
        using (var trust = ClientCertificateTrust.Create(options)!)
        {
            Assert.Null(trust.Check(good));
        }
    }

    [Fact]
    public void Settings_bind_from_configuration_and_each_problem_is_refused_at_start_naming_the_setting()
    {
        var noCertificate = Path.Combine(_folder.FullName, "empty.pem");
        File.WriteAllText(noCertificate, "not a certificate");
        using var leaf = TestPki.Issue(_ca, "deployer");
        var onlyLeaf = TestPki.WritePem(_folder, "leaf.pem", leaf);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Controller:ClientCertificates:CaPaths:0"] = Path.Combine(_folder.FullName, "missing.pem"),
            ["Controller:ClientCertificates:CaPaths:1"] = noCertificate,
            ["Controller:ClientCertificates:CaPaths:2"] = onlyLeaf,
            ["Controller:ClientCertificates:AllowedThumbprints:0"] = "ABCDEF",
            ["Controller:ClientCertificates:AllowedSubjects:0"] = "CN=",
            ["Controller:ClientCertificates:RevocationMode"] = "NoCheck",
        }).Build();
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddDataMeshServer(configuration);
        using var provider = Microsoft.Extensions.DependencyInjection.ServiceCollectionContainerBuilderExtensions.BuildServiceProvider(services);
        var error = Assert.Throws<OptionsValidationException>(() => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<IOptions<DataMeshServerOptions>>(provider).Value);
        const string Setting = "DataMesh:Server:Controller:ClientCertificates:";
        Assert.Contains($"{Setting}CaPaths: '{Path.Combine(_folder.FullName, "missing.pem")}' cannot be read", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{Setting}CaPaths: '{noCertificate}' holds no PEM certificate", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{Setting}AllowedThumbprints: 'ABCDEF' is not a SHA-256 fingerprint", error.Message, StringComparison.Ordinal);

        var alone = Assert.Throws<OptionsValidationException>(() => RegistryHost.Build(new ServerHostingTests.UnusedStore(), o => o.Controller.ClientCertificates.CaPaths.Add(onlyLeaf)));
        Assert.Contains($"{Setting}CaPaths holds no root", alone.Message, StringComparison.Ordinal);
        var subjectsAlone = Assert.Throws<OptionsValidationException>(() => RegistryHost.Build(new ServerHostingTests.UnusedStore(), o => o.Controller.ClientCertificates.AllowedSubjects.Add("deployer")));
        Assert.Contains($"{Setting}AllowedSubjects and AllowedThumbprints need {Setting}CaPaths", subjectsAlone.Message, StringComparison.Ordinal);

        var good = TestPki.WritePem(_folder, "clients-ca.pem", _ca);
        var bound = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Controller:ClientCertificates:CaPaths:0"] = good,
            ["Controller:ClientCertificates:AllowedSubjects:0"] = "deployer",
            ["Controller:ClientCertificates:RevocationMode"] = "Offline",
        }).Build();
        using var valid = Microsoft.Extensions.DependencyInjection.ServiceCollectionContainerBuilderExtensions.BuildServiceProvider(
            new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddDataMeshServer(bound));
        var options = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IOptions<DataMeshServerOptions>>(valid).Value.Controller.ClientCertificates;
        Assert.Equal([good], options.CaPaths);
        Assert.Equal(["deployer"], options.AllowedSubjects);
        Assert.Equal(X509RevocationMode.Offline, options.RevocationMode);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _server.Dispose();
        _folder.Delete(recursive: true);
    }

    private static void Trust(DataMeshServerOptions options, string bundle)
    {
        options.Controller.ClientCertificates.CaPaths.Add(bundle);
        options.Controller.ClientCertificates.RevocationMode = X509RevocationMode.NoCheck;
    }

    private async Task<(int Status, string Error)> GetStatusAsync(ControllerHost host, X509Certificate2? client, string? token = null)
    {
        using var http = TestPki.Client(host.Url, _server, client);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/status");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode == HttpStatusCode.OK)
        {
            return (200, string.Empty);
        }

        using var json = JsonDocument.Parse(text);
        return ((int)response.StatusCode, json.RootElement.GetProperty("error").GetString()!);
    }
}
