using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace DataMesh.IntegrationTests.CockroachDb;

/// <summary>A CockroachDB source against <see cref="FakeCockroachServer"/>, in a host with the embedded Kafka cluster; a
/// restart starts a new host on the same Kafka (the earlier hosts are disposed at the end).</summary>
internal sealed class CrdbCdc : IAsyncDisposable
{
    private readonly List<IHost> _hosts = [];
    private KafkaConnection? _kafka;

    public CrdbCdc(string? password = null)
    {
        Server = new FakeCockroachServer(password);
    }

    public FakeCockroachServer Server { get; }

    public string SourceName { get; } = "src";

    public LogCollector Logs { get; } = new();

    public IHost Host => _hosts[^1];

    public KafkaConnection Kafka => _kafka!;

    public ISchemaStore Store => Host.Services.GetRequiredService<ISchemaStore>();

    public SourceStatus? Status => Host.Services.GetRequiredService<SourceMonitor>().Get(SourceName);

    public string Topic(string table) => TopicNames.ForTable("dm", SourceName, "public", table);

    public async Task StartAsync(Action<CockroachDbSourceOptions>? configure = null, bool waitForFeed = true)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(Logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        if (_kafka is not null)
        {
            builder.Services.AddSingleton(_kafka);
        }

        builder.Services.AddDataMesh().AddCockroachDbSource(SourceName, o =>
        {
            o.ConnectionString = Server.ConnectionString;
            o.PositionSaveInterval = TimeSpan.FromMilliseconds(100);
            o.RetryDelay = TimeSpan.FromMilliseconds(100);
            o.MaxRetryDelay = TimeSpan.FromMilliseconds(500);
            o.OnFatalError = FatalErrorPolicy.StopSource;
            configure?.Invoke(o);
        });
        var host = builder.Build();
        _hosts.Add(host);
        await host.StartAsync();
        _kafka ??= host.Services.GetRequiredService<KafkaConnection>();
        if (waitForFeed)
        {
            try
            {
                await WaitAsync(() => Server.RunningFeeds > 0, "the changefeed to start");
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException($"{ex.Message} {Logs.Diagnose(Status?.ToString())}", ex);
            }
        }
    }

    public async Task StopAsync() => await Host.StopAsync(TimeSpan.FromSeconds(30));

    public Task<List<CdcRecord>> ReadAsync(string table, int count) => PgCdc.ReadAsync(Kafka, Store, Topic(table), count, TimeSpan.FromSeconds(30));

    /// <summary>Waits until the source stored a position at or after <paramref name="hlc"/>.</summary>
    public async Task WaitForStoredAsync(long hlc)
    {
        try
        {
            await WaitAsync(() => Status?.StoredPosition is { } stored && StoredHlc(stored) >= hlc, $"a stored position at or after {hlc}");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message} {Logs.Diagnose(Status?.ToString())}", ex);
        }
    }

    /// <summary>The wall time of a stored position as the status shows it: its first HLC (<c>1700000000000001000.0000000000</c>,
    /// <c>initial scan at …</c>, or its JSON).</summary>
    public static long StoredHlc(string stored) =>
        long.Parse(System.Text.RegularExpressions.Regex.Match(stored, @"\d{10,}").Value, System.Globalization.CultureInfo.InvariantCulture);

    public static async Task WaitAsync(Func<bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited {seconds} s for {what}.");
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _hosts.Count - 1; i >= 0; i--)
        {
            try
            {
                await _hosts[i].StopAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception)
            {
                // a host whose source failed
            }

            _hosts[i].Dispose();
        }

        await Server.DisposeAsync();
        // (LogCollector.AssertNoSecret needs the real servers' settings; the fake's own password is checked here.)
        Assert.DoesNotContain(Logs.Entries, e => Server.Password is { } password && e.Message.Contains(password, StringComparison.Ordinal));
    }
}
