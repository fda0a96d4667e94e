using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using DataMesh.Connectors.Cassandra.Cdc;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Server.Tests;
using DataMesh.Sources;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// Nodes read through their agents (docs/cassandra.md, "Agents"): each node's <c>cdc_raw</c> served by
/// <c>MapCassandraCdcAgent</c> on Kestrel over HTTPS (a certificate of a CA made at test time), the source reading the three
/// agents with the CA's PEM and the token, de-duplicating their copies as it does for directories.
/// </summary>
public sealed partial class CassandraSourceTests
{
    private const string AgentToken = "a-test-token-of-the-agents-0123456789";

    [Fact]
    public async Task Three_nodes_read_through_their_agents_over_https_publish_each_write_once_and_their_acknowledged_segments_are_deleted()
    {
        using var copies = new CopyCounter();
        var writes = Enumerable.Range(1, 10).Select(i => Insert(i, 1, i * 10)).ToArray();
        var nodes = NodeDirectories(ThreeNodes);
        var node1 = new CdcRawWriter(nodes[0], 7, 100, [writes]);
        var node2 = new CdcRawWriter(nodes[1], 7, 300, [writes.AsEnumerable().Reverse()]);
        var node3 = new CdcRawWriter(nodes[2], 7, 200, [writes.Skip(5), writes.Take(5)]);
        using var pki = new AgentPki(_directory);
        await using var agents = await Agents.StartAsync(nodes, pki.Server);
        var options = ReplicaOptions(nodes, CassandraConsistencyLevel.Quorum);
        options.Nodes.Clear();
        for (var i = 0; i < nodes.Length; i++)
        {
            options.Nodes[ThreeNodes[i]] = agents.Urls[i];
        }

        options.Agent.Token = AgentToken;
        options.Agent.TlsCaCertificate = pki.CaFile;
        Assert.Empty(options.Validate("cass"));
        var runtime = await RuntimeAsync(options);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);

        // node3's first section is durable before its segment completes: read up to its index's offset, then again.
        node3.Sync(1);
        node1.Sync(1, completed: true);
        await WaitUntilAsync(() => copies.Total >= 15, "node1's copies and node3's first five");
        node3.Sync(2, completed: true);
        node2.Sync(1, completed: true);
        await WaitUntilAsync(() => runtime.StoredPosition is { } p
            && p.Of("node1") >= new CommitLogPosition(100, node1.End(1)) && p.Of("node2") >= new CommitLogPosition(300, node2.End(1)) && p.Of("node3") >= new CommitLogPosition(200, node3.End(2)),
            "every node's position past its last write");

        var records = await ReadAsync(Topic("shop", "orders"), 10, exact: true);
        Assert.Equal(Enumerable.Range(1, 10), records.Select(r => (int)r.Key!["id"]).Order());
        Assert.Equal((10, 10, 10), (copies["published"], copies["held"], copies["duplicate"]));
        // Deleted by the agents, once acknowledged: the node's cdc_total_space is given back.
        await WaitUntilAsync(() => nodes.All(d => Directory.GetFiles(d).Length == 0), "every node's acknowledged segments to be deleted through its agent");
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    [Fact]
    public async Task A_node_whose_agent_is_down_does_not_hold_up_the_others_under_quorum_and_is_read_once_back()
    {
        // A node down is the case Quorum is for: the other two nodes' copies publish every write (found by a new-user pass:
        // an unreachable agent failed the whole source, and nothing was published until it came back).
        using var copies = new CopyCounter();
        var writes = Enumerable.Range(1, 5).Select(i => Insert(i, 1, i)).ToArray();
        var nodes = NodeDirectories(ThreeNodes);
        for (var i = 0; i < nodes.Length; i++)
        {
            new CdcRawWriter(nodes[i], 7, 100 + i, [writes]).Sync(1, completed: true);
        }

        using var pki = new AgentPki(_directory);
        await using var agents = await Agents.StartAsync(nodes, pki.Server);
        var options = ReplicaOptions(nodes, CassandraConsistencyLevel.Quorum);
        options.KeepSegments = true;
        for (var i = 0; i < nodes.Length; i++)
        {
            options.Nodes[ThreeNodes[i]] = agents.Urls[i];
        }

        options.Agent.Token = AgentToken;
        options.Agent.TlsCaCertificate = pki.CaFile;
        await agents.StopAsync(2);
        var monitor = new SourceMonitor();
        var logger = new ListLogger();
        var runtime = await RuntimeAsync(options, monitor, logger: logger);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);

        var records = await ReadAsync(Topic("shop", "orders"), 5, exact: true);
        Assert.Equal(Enumerable.Range(1, 5), records.Select(r => (int)r.Key!["id"]).Order());
        Assert.Equal(SourceState.Running, monitor.Get("cass")!.State);
        Assert.Single(logger.Lines, l => l.Contains("node3", StringComparison.Ordinal) && l.Contains("cannot be reached", StringComparison.Ordinal));

        // Back: its copies are late duplicates of what the others published.
        await agents.RestartAsync(2, nodes[2], pki.Server);
        await WaitUntilAsync(() => copies["duplicate"] == 5, "node3's copies read once it is back");
        // Logged when the poll that read the copies returns, which can come just after the copies were counted.
        await WaitUntilAsync(
            () => logger.Lines.Any(l => l.Contains("node3", StringComparison.Ordinal) && l.Contains("is read again", StringComparison.Ordinal)),
            "node3's return logged");
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
        Assert.Equal(5, (await ReadAsync(Topic("shop", "orders"), 5, exact: true)).Count);
    }

    [Theory]
    [InlineData(CassandraConsistencyLevel.Quorum)]
    [InlineData(CassandraConsistencyLevel.All)]
    public async Task Writes_whose_copies_wait_for_a_node_out_of_reach_longer_than_the_window_are_published_once_it_is_back(CassandraConsistencyLevel level)
    {
        // Found by review: passing a node over while the replica window ran let a copy waiting for it expire, and dropped
        // the write as late when the node came back. Under All (too few nodes left) the run stops and retries instead.
        using var copies = new CopyCounter();
        var time = new ManualClock();
        var (w1, w2, w3) = (Insert(1, 1, 1), Insert(2, 1, 2), Insert(3, 1, 3));
        var nodes = NodeDirectories(ThreeNodes);
        new CdcRawWriter(nodes[0], 7, 100, [[w1, w2, w3]]).Sync(1, completed: true);
        new CdcRawWriter(nodes[1], 7, 200, [[w1, w2]]).Sync(1, completed: true); // node2 missed w3
        new CdcRawWriter(nodes[2], 7, 300, [[w1, w2, w3]]).Sync(1, completed: true);
        using var pki = new AgentPki(_directory);
        await using var agents = await Agents.StartAsync(nodes, pki.Server);
        var options = ReplicaOptions(nodes, level);
        options.Replicas.Window = TimeSpan.FromSeconds(10);
        for (var i = 0; i < nodes.Length; i++)
        {
            options.Nodes[ThreeNodes[i]] = agents.Urls[i];
        }

        options.Agent.Token = AgentToken;
        options.Agent.TlsCaCertificate = pki.CaFile;
        await agents.StopAsync(2);
        var logger = new ListLogger();
        var runtime = await RuntimeAsync(options, time: time, logger: logger);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await WaitUntilAsync(() => copies.Total >= 5, "node1's and node2's copies read"); // under Quorum w1 and w2 published, w3 held

        // The clock moves only while node3 is out of reach as the source sees it; otherwise the jump stands for 60 s
        // spent within one pass over the nodes, after which a copy read before it has expired, as the window is meant to.
        if (level == CassandraConsistencyLevel.Quorum)
        {
            // Once the source found node3 out of reach: the window stands still from then on.
            await WaitUntilAsync(() => logger.Lines.Any(l => l.Contains("node node3 cannot be reached", StringComparison.Ordinal)), "node3 found out of reach");
        }

        var attempts = Attempts(logger);
        time.Advance(TimeSpan.FromSeconds(60)); // far past the window while node3 is out of reach
        if (level == CassandraConsistencyLevel.All)
        {
            // Every attempt stops at node3 and the next reads afresh: node3 comes back only once an attempt began after the
            // jump. Else an attempt that read node1's copies before the jump and is slow to reach node2 (a loaded machine)
            // finds node3 back after it: node1's copies expire by the window, and w1 and w2 are never published.
            await WaitUntilAsync(() => Attempts(logger) > attempts, "an attempt begun after the clock moved");
        }

        await agents.RestartAsync(2, nodes[2], pki.Server);

        // Under All, w3 (two copies: node2 missed it) never reaches the level; w1 and w2 wait for node3, whose copies come
        // after the window ran far past them.
        int[] expected = level == CassandraConsistencyLevel.Quorum ? [1, 2, 3] : [1, 2];
        var records = await ReadAsync(Topic("shop", "orders"), expected.Length, exact: true);
        Assert.Equal(expected, records.Select(r => (int)r.Key!["id"]).Order());
        Assert.Equal(0, copies.Expired);
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    /// <summary>How many times the source began to read (it logs each node's start at each attempt).</summary>
    private static int Attempts(ListLogger logger) => logger.Lines.Count(l => l.StartsWith("Information 2400 ", StringComparison.Ordinal) && l.Contains("of node node1 ", StringComparison.Ordinal));

    [Theory]
    [InlineData("token")]
    [InlineData("certificate")]
    public async Task A_wrong_token_or_an_agent_certificate_of_an_untrusted_ca_stops_the_source_saying_what_to_set(string wrong)
    {
        var nodes = NodeDirectories(["node1"]);
        new CdcRawWriter(nodes[0], 7, 100, [[Insert(1, 1, 10)]]).Sync(1, completed: true);
        using var pki = new AgentPki(_directory);
        await using var agents = await Agents.StartAsync(nodes, pki.Server);
        var options = ReplicaOptions(nodes, CassandraConsistencyLevel.One);
        options.Nodes["node1"] = agents.Urls[0];
        options.Agent.Token = wrong == "token" ? "another-token-of-some-other-agent" : AgentToken;
        if (wrong == "token")
        {
            options.Agent.TlsCaCertificate = pki.CaFile;
        }

        var monitor = new SourceMonitor();
        var runtime = await RuntimeAsync(options, monitor);

        Assert.Equal(SourceOutcome.Failed, await runtime.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        var message = monitor.Get("cass")!.Message!;
        Assert.Contains(wrong == "token"
            ? $"the agent of node node1 at {agents.Urls[0]} refused the request (GET cdc/segments: HTTP 401"
            : $"the TLS certificate of node node1's agent at {agents.Urls[0]} is refused: the certificate 'CN=localhost, O=DataMesh tests' (issued by 'CN=DataMesh tests agent CA, O=DataMesh tests') is not signed by a CA this system trusts", message, StringComparison.Ordinal);
        Assert.Contains(wrong == "token" ? "set Agent:Token" : "set Agent:TlsCaCertificate", message, StringComparison.Ordinal);
        Assert.DoesNotContain(AgentToken, message, StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(nodes[0], "*.log"));
    }

    [Fact]
    public async Task An_agent_that_keeps_its_segments_stops_a_source_that_would_delete_them_before_anything_is_read()
    {
        var nodes = NodeDirectories(["node1"]);
        new CdcRawWriter(nodes[0], 7, 100, [[Insert(1, 1, 10)]]).Sync(1, completed: true);
        using var pki = new AgentPki(_directory);
        await using var agents = await Agents.StartAsync(nodes, pki.Server, allowDelete: false);
        var options = ReplicaOptions(nodes, CassandraConsistencyLevel.One);
        options.Nodes["node1"] = agents.Urls[0];
        options.Agent.Token = AgentToken;
        options.Agent.TlsCaCertificate = pki.CaFile;
        var monitor = new SourceMonitor();

        Assert.Equal(SourceOutcome.Failed, await (await RuntimeAsync(options, monitor)).RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("keeps its segments (AllowDelete false), and this source deletes them once acknowledged: set KeepSegments on this source", monitor.Get("cass")!.Message, StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(nodes[0], "*.log"));
    }

    [Fact]
    public async Task The_agent_refuses_requests_without_its_token_files_other_than_segments_and_the_deletion_of_a_segment_still_written()
    {
        var nodes = NodeDirectories(["node1"]);
        var writer = new CdcRawWriter(nodes[0], 7, 100, [[Insert(1, 1, 10)], [Insert(2, 1, 20)]]);
        writer.Sync(1);
        File.WriteAllText(Path.Combine(_directory, "secret.txt"), "not served");
        using var pki = new AgentPki(_directory);
        await using var agents = await Agents.StartAsync(nodes, pki.Server);
        using var client = TestPki.Client(agents.Urls[0], pki.Server, null);

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("cdc/segments")).StatusCode);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "wrong-token-wrong-token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("cdc/segments")).StatusCode);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AgentToken);
        Assert.Contains("\"name\":\"CommitLog-7-100.log\"", await client.GetStringAsync("cdc/segments"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("cdc/segments/..%2Fsecret.txt")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("cdc/segments/CommitLog-7-100_cdc.idx")).StatusCode);

        // Byte ranges are honoured (the source asks for whole segments: an index's offset is logical).
        using var range = new HttpRequestMessage(HttpMethod.Get, "cdc/segments/CommitLog-7-100.log") { Headers = { Range = new RangeHeaderValue(0, 99) } };
        using var partial = await client.SendAsync(range);
        Assert.Equal((HttpStatusCode.PartialContent, 100), (partial.StatusCode, (await partial.Content.ReadAsByteArrayAsync()).Length));

        Assert.Equal(HttpStatusCode.Conflict, (await client.DeleteAsync("cdc/segments/CommitLog-7-100.log")).StatusCode);
        writer.Sync(2, completed: true);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("cdc/segments/CommitLog-7-100.log")).StatusCode);
        Assert.Empty(Directory.GetFiles(nodes[0]));
        Assert.True(File.Exists(Path.Combine(_directory, "secret.txt")));
    }

    [Theory]
    [InlineData("DeflateCompressor")]
    [InlineData("LZ4Compressor")]
    public async Task A_compressed_segment_read_through_its_agent_gives_the_entries_and_position_it_gives_from_its_directory(string compressor)
    {
        // Its _cdc.idx holds a logical (uncompressed) offset, which the file's bytes may run past: a read cut at that
        // offset in file bytes would lose the last section (found by review).
        var directory = NodeDirectories(["node1"])[0];
        var bytes = SegmentWriter.Compressed(7, 100, compressor, [[Insert(1, 1, 10)], [Insert(2, 1, 20)], [Insert(3, 1, 30)]]);
        long logicalEnd;
        using (var reader = new CommitLogSegmentReader("CommitLog-7-100.log", bytes))
        {
            while (reader.TryReadEntry(out _))
            {
            }

            var last = reader.Sections[^1];
            logicalEnd = last.LogicalStart + 8 + last.Length;
        }

        File.WriteAllBytes(Path.Combine(directory, "CommitLog-7-100.log"), bytes);
        File.WriteAllText(Path.Combine(directory, "CommitLog-7-100_cdc.idx"), logicalEnd + "\nCOMPLETED");
        var fromDirectory = new List<CommitLogPosition>();
        var directoryEnd = new CdcRawFollower(directory).Poll(default, (string _, in CommitLogEntry e) => fromDirectory.Add(e.Position));
        using var pki = new AgentPki(_directory);
        await using var agents = await Agents.StartAsync([directory], pki.Server);
        using var client = new CdcRawAgentClient("cass", "node1", new Uri(agents.Urls[0]), new CassandraAgentConnection { Token = AgentToken, TlsCaCertificate = pki.CaFile });
        var fromAgent = new List<CommitLogPosition>();

        var agentEnd = new CdcRawFollower(client).Poll(default, (string _, in CommitLogEntry e) => fromAgent.Add(e.Position));

        Assert.Equal(3, fromDirectory.Count);
        Assert.Equal(fromDirectory, fromAgent);
        Assert.Equal(directoryEnd, agentEnd);
    }

    [Fact]
    public async Task A_plain_segment_growing_through_its_agent_is_fetched_whole_once_then_only_what_became_durable()
    {
        var directory = NodeDirectories(["node1"])[0];
        var writes = Enumerable.Range(1, 30).Select(i => Insert(i, 1, i)).ToArray();
        var writer = new CdcRawWriter(directory, 7, 100, [writes.Take(10), writes.Skip(10).Take(10), writes.Skip(20)]);
        using var pki = new AgentPki(_directory);
        await using var agents = await Agents.StartAsync([directory], pki.Server);
        using var client = new CdcRawAgentClient("cass", "node1", new Uri(agents.Urls[0]), new CassandraAgentConnection { Token = AgentToken, TlsCaCertificate = pki.CaFile });
        var throughAgent = new CdcRawFollower(client);
        var fromDirectory = new CdcRawFollower(directory);
        var (agentEntries, directoryEntries) = (new List<CommitLogPosition>(), new List<CommitLogPosition>());
        var (agentAt, directoryAt) = (default(CommitLogPosition), default(CommitLogPosition));

        foreach (var (sections, completed) in new[] { (1, false), (2, false), (3, true) })
        {
            writer.Sync(sections, completed);
            agentAt = throughAgent.Poll(agentAt, (string _, in CommitLogEntry e) => agentEntries.Add(e.Position));
            directoryAt = fromDirectory.Poll(directoryAt, (string _, in CommitLogEntry e) => directoryEntries.Add(e.Position));
        }

        Assert.Equal(30, directoryEntries.Count);
        Assert.Equal(directoryEntries, agentEntries);
        Assert.Equal(directoryAt, agentAt);
        // The pre-sized file once, then the two sections that became durable after the first.
        var size = new FileInfo(writer.Path).Length;
        Assert.Equal(size + (writer.End(3) - writer.End(1)), client.BytesFetched);
    }

    [Fact]
    public async Task A_cassandra_3_segment_still_being_copied_into_cdc_raw_is_read_through_its_agent_only_once_its_length_stays_the_same()
    {
        var directory = NodeDirectories(["node1"])[0];
        var whole = SegmentWriter.Plain(6, 100, [[Insert(1, 1, 10), Insert(2, 1, 20)], [Insert(3, 1, 30)]], size: 1 << 14);
        int firstSectionEnd;
        using (var reader = new CommitLogSegmentReader("CommitLog-6-100.log", whole))
        {
            while (reader.TryReadEntry(out _))
            {
            }

            firstSectionEnd = reader.Sections[0].Next;
        }

        var path = Path.Combine(directory, "CommitLog-6-100.log");
        File.WriteAllBytes(path, whole.AsSpan(0, firstSectionEnd).ToArray());
        using var pki = new AgentPki(_directory);
        await using var agents = await Agents.StartAsync([directory], pki.Server);
        using var client = new CdcRawAgentClient("cass", "node1", new Uri(agents.Urls[0]), new CassandraAgentConnection { Token = AgentToken, TlsCaCertificate = pki.CaFile });
        var follower = new CdcRawFollower(client) { SettleTime = TimeSpan.Zero };
        var entries = new List<CommitLogPosition>();
        var at = follower.Poll(default, (string _, in CommitLogEntry e) => entries.Add(e.Position));
        Assert.Empty(entries);

        File.WriteAllBytes(path, whole);
        for (var i = 0; i < 3; i++)
        {
            at = follower.Poll(at, (string _, in CommitLogEntry e) => entries.Add(e.Position));
        }

        Assert.Equal(3, entries.Count);
    }

    [Fact]
    public void Agent_settings_are_checked_at_start_with_what_to_set()
    {
        var options = ReplicaOptions(NodeDirectories(["a"]), CassandraConsistencyLevel.One);
        options.Nodes["b"] = "http://node-b:7480/";
        options.Nodes["c"] = "https://node-c:7480/?x=1";
        options.Nodes["d"] = "https://node-d:7480/";
        options.Agent.TlsCaCertificate = Path.Combine(_directory, "missing-ca.pem");
        options.Agent.RequestTimeout = TimeSpan.Zero;

        var problems = options.Validate("cass").ToList();

        Assert.Contains(problems, p => p.Contains("Nodes:b 'http://node-b:7480/' is plain HTTP", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Nodes:c 'https://node-c:7480/?x=1' is not an agent address", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Agent:Token is required", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Agent:RequestTimeout must be between 1 second and 10 minutes", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Agent:TlsCaCertificate '" + options.Agent.TlsCaCertificate + "' does not exist: give the PEM file", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.Contains("node-d", StringComparison.Ordinal));

        var agent = new DataMesh.CassandraCdcAgentOptions { CdcRawDirectory = Path.Combine(_directory, "nowhere"), Token = "short" };
        var failures = new ServiceCollection().AddCassandraCdcAgent(o => (o.CdcRawDirectory, o.Token) = (agent.CdcRawDirectory, agent.Token))
            .BuildServiceProvider().GetRequiredService<IEnumerable<IValidateOptions<DataMesh.CassandraCdcAgentOptions>>>()
            .Single().Validate(null, agent).Failures!.ToList();
        Assert.Contains(failures, f => f.Contains("DataMesh:CassandraAgent:CdcRawDirectory '" + agent.CdcRawDirectory + "' does not exist", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("DataMesh:CassandraAgent:Token is required, at least 16 characters", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.Contains("short", StringComparison.Ordinal));
    }

    /// <summary>A CA and the agents' server certificate it issues (for 127.0.0.1 and localhost), the CA's PEM in a file.</summary>
    private sealed class AgentPki : IDisposable
    {
        private readonly X509Certificate2 _ca = TestPki.Ca("DataMesh tests agent CA");

        public AgentPki(string directory)
        {
            Server = TestPki.Issue(_ca, "localhost", usages: TestPki.ServerAuthentication);
            CaFile = TestPki.WritePem(new DirectoryInfo(directory), "agent-ca.pem", _ca);
        }

        public X509Certificate2 Server { get; }

        public string CaFile { get; }

        public void Dispose()
        {
            Server.Dispose();
            _ca.Dispose();
        }
    }

    /// <summary>One agent per directory, each on Kestrel over HTTPS on a free loopback port.</summary>
    private sealed class Agents : IAsyncDisposable
    {
        private readonly List<WebApplication?> _apps = [];

        public List<string> Urls { get; } = [];

        public static async Task<Agents> StartAsync(IEnumerable<string> directories, X509Certificate2 certificate, bool allowDelete = true)
        {
            var agents = new Agents();
            foreach (var directory in directories)
            {
                var app = await StartOneAsync(directory, certificate, 0, allowDelete);
                agents._apps.Add(app);
                var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
                agents.Urls.Add($"https://localhost:{address.Port}/");
            }

            return agents;
        }

        /// <summary>Stops agent <paramref name="index"/>, as a node going down does.</summary>
        public async Task StopAsync(int index)
        {
            if (_apps[index] is { } app)
            {
                await app.StopAsync();
                await app.DisposeAsync();
                _apps[index] = null;
            }
        }

        /// <summary>Starts agent <paramref name="index"/> again on its port.</summary>
        public async Task RestartAsync(int index, string directory, X509Certificate2 certificate) =>
            _apps[index] = await StartOneAsync(directory, certificate, new Uri(Urls[index]).Port);

        public async ValueTask DisposeAsync()
        {
            for (var i = 0; i < _apps.Count; i++)
            {
                await StopAsync(i);
            }
        }

        private static async Task<WebApplication> StartOneAsync(string directory, X509Certificate2 certificate, int port, bool allowDelete = true)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, listen => listen.UseHttps(certificate)));
            builder.Services.AddCassandraCdcAgent(o =>
            {
                o.CdcRawDirectory = directory;
                o.Token = AgentToken;
                o.AllowDelete = allowDelete;
            });
            var app = builder.Build();
            app.MapCassandraCdcAgent();
            await app.StartAsync();
            return app;
        }
    }
}
