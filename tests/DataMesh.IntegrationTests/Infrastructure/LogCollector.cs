using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>
/// Collects the log messages of a host (Information and above), for assertions on what a source reports, and every line
/// at every level it is given (with its exception), for <see cref="AssertNoSecret"/>: the test hosts (<c>PgCdc</c>,
/// <c>MySqlCdc</c>) give it their Debug lines too and check it when they are disposed, so no integration test that runs a
/// host passes while a password of the test servers appears in what the host logged.
/// </summary>
/// <param name="toSuiteLog">Whether the lines also go to the suite's log that <c>./build.sh test</c> scans for passwords
/// (false only for lines a test plants to show that a check fails).</param>
public sealed class LogCollector(bool toSuiteLog = true) : ILoggerProvider
{
    private readonly SecretScan _scan = new(toSuiteLog);

    public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Entries { get; } = new();

    /// <summary>The messages at <paramref name="level"/> that contain every one of <paramref name="parts"/>.</summary>
    public List<string> Find(LogLevel level, params string[] parts) =>
        Entries.Where(e => e.Level == level && parts.All(p => e.Message.Contains(p, StringComparison.Ordinal))).Select(e => e.Message).ToList();

    /// <summary>A source's status and the last <paramref name="lines"/> log lines, for a failure message that says why a
    /// wait timed out.</summary>
    /// <param name="status">The source's status, or null.</param>
    /// <param name="lines">How many of the last log lines.</param>
    public string Diagnose(string? status, int lines = 30)
    {
        var log = Entries.ToArray();
        return $"source status: {status ?? "none"}; last {Math.Min(lines, log.Length)} of {log.Length} log lines:" + Environment.NewLine +
            string.Join(Environment.NewLine, log.TakeLast(lines).Select(e => $"  {e.Level} [{e.Id.Id}] {e.Message}"));
    }

    /// <summary>Fails when a line the host logged, at any level, or its exception holds a password of the test servers.</summary>
    /// <param name="more">Other passwords to look for (a test's own users).</param>
    public void AssertNoSecret(params string[] more)
    {
        if (_scan.Texts.Count > 0)
        {
            _scan.AssertNoSecret(more);
        }
    }

    public ILogger CreateLogger(string categoryName) => new Collector(this);

    public void Dispose()
    {
    }

    private sealed class Collector(LogCollector owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            owner._scan.Log(logLevel, eventId, message, exception, (m, _) => m);
            if (logLevel >= LogLevel.Information)
            {
                owner.Entries.Enqueue((logLevel, eventId, message));
            }
        }
    }
}
