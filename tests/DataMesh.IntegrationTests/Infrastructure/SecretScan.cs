using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using Npgsql;

namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>
/// Every log line a source writes (every level, with its exception and inner exceptions), and any other text a test hands
/// it (a status message, an exception), checked for the test servers' passwords: no password may appear in any of them.
/// </summary>
public sealed class SecretScan(bool toSuiteLog = true) : ILoggerProvider, ILogger
{
    private readonly ConcurrentQueue<string> _texts = new();

    /// <summary>The passwords of the test servers' users (datamesh on both servers, and the TLS user).</summary>
    public static IReadOnlyList<string> Secrets { get; } =
    [
        new MySqlConnectionStringBuilder(ServerEnvironment.Require(ServerEnvironment.MariaDbConnection)).Password,
        new NpgsqlConnectionStringBuilder(ServerEnvironment.Require(ServerEnvironment.PostgresConnection)).Password!,
        ServerEnvironment.Require(ServerEnvironment.TlsPassword),
    ];

    /// <summary>The log lines and texts seen so far.</summary>
    public IReadOnlyCollection<string> Texts => _texts;

    /// <summary>Adds a text that is not a log line (a status message, an exception's <see cref="Exception.ToString"/>).</summary>
    public void Add(string? text)
    {
        if (text is not null)
        {
            _texts.Enqueue(text);
            Suite(text);
        }
    }

    /// <summary>Fails when no text was seen (the check would prove nothing) or when a text holds a password.</summary>
    /// <param name="more">Other passwords to look for (a test's own users).</param>
    public void AssertNoSecret(params string[] more)
    {
        if (_texts.IsEmpty)
        {
            throw new Xunit.Sdk.XunitException("No log line or text was collected: the secret check would prove nothing.");
        }

        foreach (var text in _texts)
        {
            foreach (var secret in Secrets.Concat(more))
            {
                if (text.Contains(secret, StringComparison.Ordinal))
                {
                    throw new Xunit.Sdk.XunitException($"A password of the test servers appears in: {text.Replace(secret, "<password>", StringComparison.Ordinal)}");
                }
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var line = $"{logLevel} {eventId.Id} {formatter(state, exception)}{(exception is null ? string.Empty : " " + exception)}";
        _texts.Enqueue(line);
        Suite(line);
    }

    public void Dispose()
    {
    }

    // Also into the suite's log (scanned by scripts/scan-secrets.py), unless the lines are planted by a test of the check.
    private void Suite(string text)
    {
        if (toSuiteLog)
        {
            SuiteLog.Write(text);
        }
    }
}
