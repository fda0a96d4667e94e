using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>Collects the log messages of a host (Information and above), for assertions on what a source reports.</summary>
public sealed class LogCollector : ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Entries { get; } = new();

    /// <summary>The messages at <paramref name="level"/> that contain every one of <paramref name="parts"/>.</summary>
    public List<string> Find(LogLevel level, params string[] parts) =>
        Entries.Where(e => e.Level == level && parts.All(p => e.Message.Contains(p, StringComparison.Ordinal))).Select(e => e.Message).ToList();

    public ILogger CreateLogger(string categoryName) => new Collector(this);

    public void Dispose()
    {
    }

    private sealed class Collector(LogCollector owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Entries.Enqueue((logLevel, eventId, formatter(state, exception)));
            }
        }
    }
}
