using DataMesh.Hosting;
using Xunit;

namespace DataMesh.Tests.ControlPlane;

/// <summary>The controller on the embedded cluster, without databases: what it refuses, and an apply stopped midway
/// (the controller's process killed) that the next controller finishes. The runs against real databases are in the
/// integration tests (<c>ControlPlane/ControllerTests</c>).</summary>
public sealed class ControllerTests
{
    private const string Pipelines = """
        pipelines:
          - name: first
            source_topics: [in.one]
            sink:
              kafka: {topic: out.one, partitions: 2}
          - name: second
            source_topics: [in.two]
            on_error: stop
            sink:
              kafka: {topic: out.two}
        """;

    [Fact]
    public async Task A_secret_written_in_the_file_is_refused_by_plan_and_apply_naming_the_setting_not_the_secret()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        using var controller = Controller(kafka);
        const string text = """
            sources:
              - name: shop
                type: postgres
                connection_string: "Host=db;Username=u;Password=hunter2-secret"
            """;

        foreach (var attempt in new Func<Task>[] { () => controller.PlanAsync(text), () => controller.ApplyAsync(text) })
        {
            var refused = await Assert.ThrowsAsync<DefinitionInvalidException>(attempt);
            var problem = Assert.Single(refused.Problems);
            Assert.Equal(("sources[0].connection_string", 4, 24), (problem.Path, problem.Line, problem.Column));
            Assert.Equal("holds a secret written in the file; the controller keeps applied definitions in Kafka, so a secret must be a reference: write ${env:NAME} or ${config:Key}", problem.Reason);
            Assert.DoesNotContain("hunter2", refused.ToString(), StringComparison.Ordinal);
        }

        Assert.Equal(0, (await controller.GetStatusAsync()).Generation);

        // A password beside a reference, or under another of its names, is as literal.
        foreach (var connection in new[] { "Host=${env:HOME};Username=u;Password=hunter2-secret", "Host=db;Username=u;PSW=hunter2-secret" })
        {
            var refused = await Assert.ThrowsAsync<DefinitionInvalidException>(() => controller.PlanAsync(text.Replace("Host=db;Username=u;Password=hunter2-secret", connection, StringComparison.Ordinal)));
            Assert.Equal("sources[0].connection_string", Assert.Single(refused.Problems).Path);
        }
    }

    [Fact]
    public async Task An_apply_stopped_midway_keeps_what_it_made_and_the_next_controller_finishes_it()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        using (var first = Controller(kafka))
        {
            var plan = await first.PlanAsync(Pipelines);
            Assert.Equal(
                [
                    "+   pipeline first", "+   consumer group datamesh-pipeline-first", "+   pipeline second", "+   consumer group datamesh-pipeline-second",
                    "+   topic out.one", "+   topic out.one.dlq", "+   topic out.two",
                ],
                plan.Changes.Select(c => c.ToString().Split(':')[0]));
            Assert.Equal("+   topic out.one: sink of pipeline first; 2 partitions, cleanup.policy=delete", plan.Changes[4].ToString());
            Assert.Equal(1, plan.Generation);

            // The controller "dies" right after creating its first topic: the definition is not recorded, the topic stays.
            using var dies = new CancellationTokenSource();
            var made = new List<string>();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first.ApplyAsync(Pipelines, new Stop(made, dies), dies.Token));
            Assert.Equal(["+   topic out.one"], made.Where(m => m.Contains("topic", StringComparison.Ordinal)));
            Assert.Equal(0, (await first.GetStatusAsync()).Generation);
        }

        using var next = Controller(kafka);
        var rest = await next.PlanAsync(Pipelines);
        Assert.Equal(PlanAction.Unchanged, rest.Changes.Single(c => c.Name == "out.one").Action);
        Assert.Equal(PlanAction.Create, rest.Changes.Single(c => c.Name == "out.two").Action);
        var applied = await next.ApplyAsync(Pipelines);
        Assert.Equal(1, applied.Generation);
        Assert.Equal(2, await kafka.PartitionCountAsync("out.one", CancellationToken.None));
        var again = await next.PlanAsync(Pipelines);
        Assert.False(again.HasChanges);
        Assert.Equal("Plan: 0 to create, 0 to update, 0 to restart, 0 to stop or delete, 7 unchanged.", again.ToString().Split('\n')[0]);

        var status = await next.GetStatusAsync();
        Assert.Equal(1, status.Generation);
        Assert.Equal(["pipeline/first", "pipeline/second"], status.Components.Select(c => c.Component));
        Assert.All(status.Components, c => Assert.Equal(("running", 0), (c.Desired, c.Runners.Count)));

        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => next.PauseAsync(["pipeline/frist"]));
        Assert.StartsWith("'pipeline/frist' is not in the applied definition; did you mean 'pipeline/first'?", unknown.Message, StringComparison.Ordinal);
    }

    private static DataMeshController Controller(KafkaConnection kafka)
    {
        var options = new DataMeshControllerOptions();
        options.AddConnectorTypes();

        return new DataMeshController(kafka, DefinitionTestSupport.OrdersStore(), options);
    }

    /// <summary>Cancels the apply once it has made a topic, as a process killed there would stop it.</summary>
    private sealed class Stop(List<string> made, CancellationTokenSource dies) : IProgress<PlanChange>
    {
        public void Report(PlanChange value)
        {
            made.Add(value.ToString().Split(':')[0]);
            if (value.Kind == "topic")
            {
                dies.Cancel();
            }
        }
    }
}
