using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace DataMesh.ControlPlane.Controller;

/// <summary>
/// The control plane's instruments, on the meter <c>DataMesh.ControlPlane</c>:
/// <c>datamesh.controller.applies</c> (applies, by <c>datamesh.state_topic</c> and <c>datamesh.outcome</c>: applied (a new
/// version recorded), unchanged, refused (the definition is invalid)), <c>datamesh.runner.component.changes</c> (components started, restarted, stopped, paused
/// or failed on a runner, by <c>datamesh.runner</c>, <c>datamesh.component</c> and <c>datamesh.change</c>; a restart counts
/// as restarted, then started),
/// <c>datamesh.runner.state.errors</c> (passes where the state topic could not be read or acted on, by runner),
/// <c>datamesh.runner.reconcile.duration</c> (seconds a pass over the state took) and the gauges
/// <c>datamesh.runner.generation</c> (the generation of the definition a runner runs; -1 before it read one, 0 when none
/// is applied) and <c>datamesh.runner.components</c> (components a runner runs, by <c>datamesh.state</c>: running,
/// failed).
/// </summary>
internal static class ControlPlaneMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "DataMesh.ControlPlane";

    private static readonly Meter Meter = new(MeterName, typeof(ControlPlaneMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Counter<long> Applies = Meter.CreateCounter<long>("datamesh.controller.applies", "{apply}", "Applies, by outcome (applied, unchanged, refused).");
    private static readonly Counter<long> Changes = Meter.CreateCounter<long>("datamesh.runner.component.changes", "{change}", "Components started, restarted, stopped, paused or failed on a runner.");
    private static readonly Counter<long> StateErrors = Meter.CreateCounter<long>("datamesh.runner.state.errors", "{error}", "Passes where the controller's state could not be read or acted on.");
    private static readonly Histogram<double> Reconcile = Meter.CreateHistogram<double>("datamesh.runner.reconcile.duration", "s", "Seconds a runner's pass over the controller's state took.");
    private static readonly ConcurrentDictionary<object, (string Runner, Func<RunnerCounts> Read)> Runners = new();

    static ControlPlaneMetrics()
    {
        Meter.CreateObservableGauge("datamesh.runner.generation", () => Runners.Values.Select(r => new Measurement<long>(r.Read().Generation, new KeyValuePair<string, object?>("datamesh.runner", r.Runner))), "{generation}", "The generation of the applied definition a runner runs (-1 before it read the state, 0 when none is applied).");
        Meter.CreateObservableGauge(
            "datamesh.runner.components",
            () => Runners.Values.SelectMany(r =>
            {
                var (_, running, failed) = r.Read();
                var runner = new KeyValuePair<string, object?>("datamesh.runner", r.Runner);
                return new[] { new Measurement<int>(running, runner, new("datamesh.state", "running")), new Measurement<int>(failed, runner, new("datamesh.state", "failed")) };
            }),
            "{component}",
            "Components a runner runs, by state.");
    }

    /// <summary>Counts an apply by its outcome.</summary>
    public static void Applied(string stateTopic, string outcome) =>
        Applies.Add(1, new KeyValuePair<string, object?>("datamesh.state_topic", stateTopic), new KeyValuePair<string, object?>("datamesh.outcome", outcome));

    /// <summary>Counts a change of a component on a runner.</summary>
    public static void ComponentChanged(string runner, string component, string change) =>
        Changes.Add(1, new("datamesh.runner", runner), new("datamesh.component", component), new("datamesh.change", change));

    /// <summary>Counts a pass that failed.</summary>
    public static void StateError(string runner) => StateErrors.Add(1, new KeyValuePair<string, object?>("datamesh.runner", runner));

    /// <summary>Records how long a pass took.</summary>
    public static void Reconciled(string runner, TimeSpan took) => Reconcile.Record(took.TotalSeconds, new KeyValuePair<string, object?>("datamesh.runner", runner));

    /// <summary>Observes a runner's generation and components until it is forgotten; by instance, so that two runners
    /// given the same id in one process keep their own measurements (both tagged with the id).</summary>
    public static void Observe(object owner, string runner, Func<RunnerCounts> read) => Runners[owner] = (runner, read);

    /// <summary>Stops observing a runner.</summary>
    public static void Forget(object owner) => Runners.TryRemove(owner, out _);
}

/// <summary>What a runner runs, as its last pass left it (replaced as a whole, read by the gauges' callbacks).</summary>
internal sealed record RunnerCounts(long Generation, int Running, int Failed);
