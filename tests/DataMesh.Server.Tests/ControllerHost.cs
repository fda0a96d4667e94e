using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using DataMesh.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DataMesh.Server.Tests;

/// <summary>
/// What <c>datamesh run FILE --http 127.0.0.1:PORT</c> hosts, in the test process: DataMesh on its own embedded Kafka
/// cluster, the definition runner, and the server (Schema Registry API, controller API, page) on Kestrel at 127.0.0.1
/// (a free port). The source and sink types are the connectors', as the CLI gives them.
/// </summary>
internal sealed class ControllerHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ControllerHost(WebApplication app, string url, LogRecorder logs)
    {
        _app = app;
        Url = url;
        Logs = logs;
        Http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>The server's base URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Url { get; }

    public LogRecorder Logs { get; }

    public HttpClient Http { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts the host; with <paramref name="serverCertificate"/>, over HTTPS and asking for client certificates as
    /// docs/server.md tells hosts to (<c>ClientCertificateMode.AllowCertificate</c>, any certificate through the handshake).</summary>
    public static async Task<ControllerHost> StartAsync(Action<DataMeshServerOptions>? configure = null, X509Certificate2? serverCertificate = null)
    {
        var logs = new LogRecorder();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https =>
        {
            https.ServerCertificate = serverCertificate;
            https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            https.AllowAnyClientCertificate();
        })).UseUrls(serverCertificate is null ? "http://127.0.0.1:0" : "https://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddDataMesh().AddDefinitionRunner(o =>
        {
            o.PollInterval = TimeSpan.FromMilliseconds(250);
            o.StatusInterval = TimeSpan.FromSeconds(1);
            o.AddConnectorTypes();
        });
        builder.Services.AddDataMeshServer(o =>
        {
            o.Controller.Settings.AddConnectorTypes();

            configure?.Invoke(o);
        });
        var app = builder.Build();
        app.MapDataMesh();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new ControllerHost(app, address, logs);
    }

    /// <summary>Creates a topic on the host's cluster (a pipeline's source topic).</summary>
    public Task CreateTopicAsync(string topic) =>
        Services.GetRequiredService<KafkaConnection>().EnsureTopicAsync(topic, 1, TopicRetention.Default, CancellationToken.None);

    /// <summary>Writes a record of raw bytes (not a change event) to <paramref name="topic"/>: a poison record for a pipeline.</summary>
    public async Task ProducePoisonAsync(string topic)
    {
        var kafka = Services.GetRequiredService<KafkaConnection>();
        using var producer = new Confluent.Kafka.ProducerBuilder<byte[], byte[]>(kafka.CreateProducerConfig()).Build();
        await producer.ProduceAsync(topic, new Confluent.Kafka.Message<byte[], byte[]> { Key = [1], Value = "not a change event"u8.ToArray() });
    }

    public async Task<(int Status, JsonElement Body, string Text)> SendAsync(HttpMethod method, string path, string? body = null, string? token = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "text/plain");
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var json = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return ((int)response.StatusCode, json, text);
    }

    /// <summary>Polls <c>GET /api/status</c> until <paramref name="component"/>'s runner reports <paramref name="state"/> (for
    /// <c>paused</c>: until it is wanted paused and no runner runs it).</summary>
    public async Task<JsonElement> WaitForStateAsync(string component, string state, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            var (status, body, text) = await SendAsync(HttpMethod.Get, "/api/status");
            last = text;
            if (status == 200)
            {
                foreach (var c in body.GetProperty("components").EnumerateArray())
                {
                    // A runner drops its report of a component it paused: paused is wanted paused with no runner running it.
                    var runners = c.GetProperty("runners").EnumerateArray().Select(r => r.GetProperty("state").GetString()).ToList();
                    if (c.GetProperty("component").GetString() == component && (state == "paused"
                        ? c.GetProperty("desired").GetString() == "paused" && runners.All(r => r == "paused")
                        : runners.Contains(state)))
                    {
                        return c;
                    }
                }
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"{component} did not reach '{state}' in {timeout}; the last status: {last}");
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
