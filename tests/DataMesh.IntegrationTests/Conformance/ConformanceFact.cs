using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>
/// What a check of the conformance suite needs from a connector's database beyond streaming row changes of keyed tables.
/// A driver declares what its connector lacks, with the reason (<see cref="ConformanceDriver.Lacks"/>); a check that needs
/// it is reported as skipped with that reason, never passed.
/// </summary>
internal enum Capability
{
    /// <summary>A transaction of several changes whose every change the log shows, in order (else each change is
    /// committed as its own transaction, and nothing is skipped).</summary>
    Transactions,

    /// <summary>An UPDATE may change a row's primary key.</summary>
    KeyUpdate,

    /// <summary>Tables without a primary key.</summary>
    KeylessTables,

    /// <summary>Columns added and dropped while the source runs.</summary>
    AddDropColumn,

    /// <summary>A column's type changed (widened, narrowed) while the source runs.</summary>
    ChangeColumnType,

    /// <summary>TRUNCATE as an event of the log.</summary>
    Truncate,

    /// <summary>A table created while the source runs is captured from its first row.</summary>
    TablesCreatedWhileRunning,
}

/// <summary>Thrown by <see cref="ConformanceDriver.Require"/>: the check does not apply to this connector, for the reason given.</summary>
internal sealed class ConformanceSkipException(string reason) : Exception(reason);

/// <summary>A check of the conformance suite: a fact that reports <see cref="ConformanceSkipException"/> as a skip with its reason.</summary>
[XunitTestCaseDiscoverer("DataMesh.IntegrationTests.Conformance.ConformanceFactDiscoverer", "DataMesh.IntegrationTests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class ConformanceFactAttribute : FactAttribute;

/// <summary>Discovers <see cref="ConformanceFactAttribute"/> checks (xUnit 2 has no skip decided while a test runs).</summary>
public sealed class ConformanceFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        [new ConformanceTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)];
}

/// <summary>A check whose failure by <see cref="ConformanceSkipException"/> is reported as skipped, with the exception's message as the reason.</summary>
public sealed class ConformanceTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes", error: true)]
    public ConformanceTestCase()
    {
    }

    public ConformanceTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod testMethod)
        : base(diagnosticMessageSink, display, options, testMethod)
    {
    }

    public override async Task<RunSummary> RunAsync(IMessageSink diagnosticMessageSink, IMessageBus messageBus, object[] constructorArguments, ExceptionAggregator aggregator, CancellationTokenSource cancellationTokenSource)
    {
        var bus = new SkippingBus(messageBus);
        var summary = await base.RunAsync(diagnosticMessageSink, bus, constructorArguments, aggregator, cancellationTokenSource);
        summary.Failed -= bus.Skipped;
        summary.Skipped += bus.Skipped;
        return summary;
    }

    /// <summary>Turns a failure by <see cref="ConformanceSkipException"/> into a skip.</summary>
    private sealed class SkippingBus(IMessageBus inner) : IMessageBus
    {
        public int Skipped { get; private set; }

        public bool QueueMessage(IMessageSinkMessage message)
        {
            if (message is ITestFailed failed && failed.ExceptionTypes.FirstOrDefault() == typeof(ConformanceSkipException).FullName)
            {
                Skipped++;
                return inner.QueueMessage(new TestSkipped(failed.Test, failed.Messages.FirstOrDefault() ?? "does not apply"));
            }

            return inner.QueueMessage(message);
        }

        public void Dispose()
        {
            // the inner bus belongs to the runner
        }
    }
}
