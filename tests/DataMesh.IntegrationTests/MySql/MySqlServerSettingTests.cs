using DataMesh.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Logging;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>Server settings the source warns about at start. In the serial collection: it changes a global setting.</summary>
[Collection(ServerRestartCollection.Name)]
public sealed class MySqlServerSettingTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task A_server_without_full_row_images_is_a_warning_at_start()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY)");
        var logger = new ListLogger();
        await server.ExecuteAsync("SET GLOBAL binlog_row_image = MINIMAL");
        try
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var run = cdc.RunConnectorAsync(logger, stop.Token);
            await cdc.WaitForSavedPositionAsync();
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        }
        finally
        {
            await server.ExecuteAsync("SET GLOBAL binlog_row_image = FULL");
        }

        var warning = Assert.Single(logger.Messages, m => m.Level == LogLevel.Warning && m.Text.Contains("binlog_row_image", StringComparison.Ordinal));
        Assert.Contains("binlog_row_image=MINIMAL", warning.Text, StringComparison.Ordinal);
        Assert.Contains("SET GLOBAL binlog_row_image=FULL", warning.Text, StringComparison.Ordinal);
    }

    private sealed class ListLogger : ILogger
    {
        public System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, string Text)> Messages { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Enqueue((logLevel, formatter(state, exception)));
    }
}
