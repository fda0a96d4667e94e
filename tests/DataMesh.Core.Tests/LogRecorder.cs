using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DataMesh.Tests;

/// <summary>Records every log entry of the loggers it creates (all levels), for assertions on what DataMesh reports.</summary>
internal sealed class LogRecorder : ILoggerProvider, ILoggerFactory
{
    public ConcurrentQueue<(string Category, LogLevel Level, int EventId, string Message, Exception? Exception)> Entries { get; } = new();

    public IEnumerable<(string Category, LogLevel Level, int EventId, string Message, Exception? Exception)> WithId(int eventId) =>
        Entries.Where(e => e.EventId == eventId);

    public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private sealed class Recorder(LogRecorder owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Entries.Enqueue((category, logLevel, eventId.Id, formatter(state, exception), exception));
    }
}
