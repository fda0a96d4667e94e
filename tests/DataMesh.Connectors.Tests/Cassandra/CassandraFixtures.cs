using System.Globalization;
using System.Runtime.CompilerServices;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Schema;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// The real commit-log segments of shared/fixtures/cassandra (written by Cassandra 3.0.13, 3.0.29, 3.4 and 4.0.11; see
/// its README, which gives their provenance and Apache-2.0 licence): the repository's unmodified copy in
/// <c>tests/DataMesh.Connectors.Tests/Fixtures/cassandra</c>, else a <c>shared/fixtures/cassandra</c> folder beside the
/// repository or above it, or where DATAMESH_CASSANDRA_FIXTURES says. A missing folder fails the tests; it never skips them.
/// </summary>
internal static class CassandraFixtures
{
    /// <summary>The AES key of alias <c>testing:1</c> in the fixtures' <c>conf/cassandra.keystore</c> (JCEKS, password
    /// <c>cassandra</c>). .NET cannot read JCEKS (Java-serialised keys sealed with PBEWithMD5AndTripleDES), so the bytes
    /// were taken once with the JDK: <c>KeyStore.getInstance("JCEKS")</c>, <c>load(file, "cassandra")</c>,
    /// <c>getKey("testing:1", "cassandra").getEncoded()</c>, as the fixture README records. That the key is right is
    /// checked by the tests themselves: every chunk of the 3.4 segments decrypts, and the cells hash as hash.txt says.</summary>
    public const string Testing1KeyHex = "b7d96fb9b11d829179aeeb0b4e81f97a";

    private static readonly Lazy<string> Root = new(FindRoot);

    public static string Directory(string version) => Path.Combine(Root.Value, "legacy-commitlog", version);

    public static string Segment(string version, string file) => Path.Combine(Directory(version), file);

    /// <summary>The mutations of the real 4.0.11 segment (<c>CommitLog-7-1699285478684.log</c>), for segments of our making.</summary>
    public static List<byte[]> Mutations40() =>
        SegmentWriter.Mutations("CommitLog-7-1699285478684.log", File.ReadAllBytes(Segment("4.0.11-encrypted", "CommitLog-7-1699285478684.log")));

    public static IReadOnlyList<string> Segments(string version) =>
        [.. System.IO.Directory.GetFiles(Directory(version), "*.log").Order(StringComparer.Ordinal)];

    /// <summary>The cells, hash and table id of a directory's hash.txt.</summary>
    public static (int Cells, int Hash, Guid TableId) Expected(string version)
    {
        var properties = File.ReadAllLines(Path.Combine(Directory(version), "hash.txt"))
            .Where(line => line.Length > 0 && line[0] != '#')
            .Select(line => line.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1]);
        return (int.Parse(properties["cells"], CultureInfo.InvariantCulture), int.Parse(properties["hash"], CultureInfo.InvariantCulture), Guid.Parse(properties["cfid"]));
    }

    /// <summary>Keyspace1.Standard1 as the fixture README gives it: <c>key ascii, col ascii, val blob, val0 blob,
    /// PRIMARY KEY (key, col)</c>, with the directory's table id.</summary>
    public static CassandraTable Standard1(Guid id) => new(id, "Keyspace1", "Standard1",
    [
        ("key", "ascii", CassandraColumnKind.PartitionKey),
        ("col", "ascii", CassandraColumnKind.Clustering),
        ("val", "blob", CassandraColumnKind.Regular),
        ("val0", "blob", CassandraColumnKind.Regular),
    ]);

    public static CommitLogReaderOptions Options()
    {
        var options = new CommitLogReaderOptions();
        options.EncryptionKeys["testing:1"] = Convert.FromHexString(Testing1KeyHex);
        return options;
    }

    private static string FindRoot()
    {
        var configured = Environment.GetEnvironmentVariable("DATAMESH_CASSANDRA_FIXTURES");
        if (!string.IsNullOrEmpty(configured))
        {
            return System.IO.Directory.Exists(configured) ? configured : throw new DirectoryNotFoundException($"DATAMESH_CASSANDRA_FIXTURES={configured} does not exist");
        }

        // The repository's copy (Fixtures/cassandra, copied to the output folder), so that a clone alone runs these tests.
        var copied = Path.Combine(AppContext.BaseDirectory, "Fixtures", "cassandra");
        if (System.IO.Directory.Exists(Path.Combine(copied, "legacy-commitlog")))
        {
            return copied;
        }

        foreach (var start in new[] { SourceDirectory(), AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                var candidate = Path.Combine(directory.FullName, "shared", "fixtures", "cassandra");
                if (System.IO.Directory.Exists(Path.Combine(candidate, "legacy-commitlog")))
                {
                    return candidate;
                }
            }
        }

        throw new DirectoryNotFoundException($"shared/fixtures/cassandra was found above neither {SourceDirectory()} nor {AppContext.BaseDirectory}; set DATAMESH_CASSANDRA_FIXTURES to its folder");
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
