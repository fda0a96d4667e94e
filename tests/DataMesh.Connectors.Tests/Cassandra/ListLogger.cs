using Microsoft.Extensions.Logging;

namespace DataMesh.Tests.Cassandra;

/// <summary>Keeps the log lines (Information and up) as "level event-id message".</summary>
internal sealed class ListLogger : ILogger
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            _lines.Enqueue($"{logLevel} {eventId.Id} {formatter(state, exception)}");
        }
    }
}
