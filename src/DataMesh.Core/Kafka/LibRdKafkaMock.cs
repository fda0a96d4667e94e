using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;

namespace DataMesh.Kafka;

/// <summary>
/// Binds the mock-cluster functions of the librdkafka build that Confluent.Kafka has loaded into this process.
/// </summary>
/// <remarks>
/// Confluent.Kafka chooses one of several native builds at run time (on this machine the default build needs
/// libsasl2.so.3 and it falls back to its <c>centos8</c> build). The mock must run inside that same library, so
/// the path is read from <c>/proc/self/maps</c> once Confluent.Kafka has loaded it, and the exports are bound
/// with <see cref="NativeLibrary.GetExport"/>. Only non-variadic functions are bound: calling a C variadic
/// function through a fixed signature is undefined behaviour, so error pushes use
/// <c>rd_kafka_mock_push_request_errors_array</c>.
/// </remarks>
internal sealed unsafe class LibRdKafkaMock
{
    private const int ProducerType = 0;
    private const int ErrStrSize = 512;

    private static readonly Lazy<LibRdKafkaMock> Shared = new(Bind, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly delegate* unmanaged[Cdecl]<nint> _confNew;
    private readonly delegate* unmanaged[Cdecl]<nint, byte*, byte*, byte*, nuint, int> _confSet;
    private readonly delegate* unmanaged[Cdecl]<nint, void> _confDestroy;
    private readonly delegate* unmanaged[Cdecl]<int, nint, byte*, nuint, nint> _new;
    private readonly delegate* unmanaged[Cdecl]<nint, void> _destroy;
    private readonly delegate* unmanaged[Cdecl]<nint, int, nint> _clusterNew;
    private readonly delegate* unmanaged[Cdecl]<nint, void> _clusterDestroy;
    private readonly delegate* unmanaged[Cdecl]<nint, byte*> _clusterBootstraps;
    private readonly delegate* unmanaged[Cdecl]<nint, byte*, int, int, int> _topicCreate;
    private readonly delegate* unmanaged[Cdecl]<nint, int, int> _brokerSetDown;
    private readonly delegate* unmanaged[Cdecl]<nint, int, int> _brokerSetUp;
    private readonly delegate* unmanaged[Cdecl]<nint, int, int, int> _brokerSetRtt;
    private readonly delegate* unmanaged[Cdecl]<nint, short, nuint, int*, void> _pushRequestErrorsArray;
    private readonly delegate* unmanaged[Cdecl]<nint, short, void> _clearRequestErrors;

    // Newer exports (librdkafka 2.13+), bound when present: the cluster works without them.
    private readonly delegate* unmanaged[Cdecl]<nint, byte*, int, long, int> _partitionDeleteRecords;
    private readonly delegate* unmanaged[Cdecl]<nint, byte*, int> _topicDelete;

    private LibRdKafkaMock(nint library, string path)
    {
        LibraryPath = path;
        _confNew = (delegate* unmanaged[Cdecl]<nint>)Export(library, path, "rd_kafka_conf_new");
        _confSet = (delegate* unmanaged[Cdecl]<nint, byte*, byte*, byte*, nuint, int>)Export(library, path, "rd_kafka_conf_set");
        _confDestroy = (delegate* unmanaged[Cdecl]<nint, void>)Export(library, path, "rd_kafka_conf_destroy");
        _new = (delegate* unmanaged[Cdecl]<int, nint, byte*, nuint, nint>)Export(library, path, "rd_kafka_new");
        _destroy = (delegate* unmanaged[Cdecl]<nint, void>)Export(library, path, "rd_kafka_destroy");
        _clusterNew = (delegate* unmanaged[Cdecl]<nint, int, nint>)Export(library, path, "rd_kafka_mock_cluster_new");
        _clusterDestroy = (delegate* unmanaged[Cdecl]<nint, void>)Export(library, path, "rd_kafka_mock_cluster_destroy");
        _clusterBootstraps = (delegate* unmanaged[Cdecl]<nint, byte*>)Export(library, path, "rd_kafka_mock_cluster_bootstraps");
        _topicCreate = (delegate* unmanaged[Cdecl]<nint, byte*, int, int, int>)Export(library, path, "rd_kafka_mock_topic_create");
        _brokerSetDown = (delegate* unmanaged[Cdecl]<nint, int, int>)Export(library, path, "rd_kafka_mock_broker_set_down");
        _brokerSetUp = (delegate* unmanaged[Cdecl]<nint, int, int>)Export(library, path, "rd_kafka_mock_broker_set_up");
        _brokerSetRtt = (delegate* unmanaged[Cdecl]<nint, int, int, int>)Export(library, path, "rd_kafka_mock_broker_set_rtt");
        _pushRequestErrorsArray = (delegate* unmanaged[Cdecl]<nint, short, nuint, int*, void>)Export(library, path, "rd_kafka_mock_push_request_errors_array");
        _clearRequestErrors = (delegate* unmanaged[Cdecl]<nint, short, void>)Export(library, path, "rd_kafka_mock_clear_request_errors");
        _partitionDeleteRecords = (delegate* unmanaged[Cdecl]<nint, byte*, int, long, int>)OptionalExport(library, "rd_kafka_mock_partition_delete_records");
        _topicDelete = (delegate* unmanaged[Cdecl]<nint, byte*, int>)OptionalExport(library, "rd_kafka_mock_topic_delete");
    }

    /// <summary>The path of the librdkafka build the functions were bound from.</summary>
    public string LibraryPath { get; }

    /// <summary>The bound functions, resolved once per process.</summary>
    public static LibRdKafkaMock Instance => Shared.Value;

    /// <summary>Creates a plain producer handle (no bootstrap servers, quiet log) that owns a mock cluster.</summary>
    public nint CreateOwnerHandle()
    {
        var conf = _confNew();
        if (conf == 0)
        {
            throw new InvalidOperationException("rd_kafka_conf_new returned NULL.");
        }

        try
        {
            SetConf(conf, "client.id", "datamesh-embedded-kafka");
            // Errors only: the owner handle never connects, but the mock cluster logs through it.
            SetConf(conf, "log_level", "3");
        }
        catch
        {
            _confDestroy(conf);
            throw;
        }

        var errstr = stackalloc byte[ErrStrSize];
        var rk = _new(ProducerType, conf, errstr, ErrStrSize);
        if (rk == 0)
        {
            // rd_kafka_new only takes ownership of the configuration when it succeeds.
            _confDestroy(conf);
            throw new InvalidOperationException(
                "rd_kafka_new failed for the embedded Kafka cluster's owner handle: " + ReadString(errstr));
        }

        return rk;
    }

    public void DestroyHandle(nint rk) => _destroy(rk);

    public nint ClusterNew(nint rk, int brokers) => _clusterNew(rk, brokers);

    public void ClusterDestroy(nint cluster) => _clusterDestroy(cluster);

    public string Bootstraps(nint cluster) => ReadString(_clusterBootstraps(cluster));

    public ErrorCode TopicCreate(nint cluster, string topic, int partitions, int replicationFactor)
    {
        var name = ToUtf8Z(topic);
        fixed (byte* p = name)
        {
            return (ErrorCode)_topicCreate(cluster, p, partitions, replicationFactor);
        }
    }

    public ErrorCode BrokerSetDown(nint cluster, int brokerId) => (ErrorCode)_brokerSetDown(cluster, brokerId);

    public ErrorCode BrokerSetUp(nint cluster, int brokerId) => (ErrorCode)_brokerSetUp(cluster, brokerId);

    public ErrorCode BrokerSetRtt(nint cluster, int brokerId, int rttMs) => (ErrorCode)_brokerSetRtt(cluster, brokerId, rttMs);

    public void PushRequestErrors(nint cluster, short apiKey, ReadOnlySpan<ErrorCode> errors)
    {
        var codes = new int[errors.Length];
        for (var i = 0; i < errors.Length; i++)
        {
            codes[i] = (int)errors[i];
        }

        fixed (int* p = codes)
        {
            _pushRequestErrorsArray(cluster, apiKey, (nuint)codes.Length, p);
        }
    }

    public void ClearRequestErrors(nint cluster, short apiKey) => _clearRequestErrors(cluster, apiKey);

    /// <summary>Deletes the records of a partition before <paramref name="beforeOffset"/>, as retention would: the log then starts there.</summary>
    public ErrorCode PartitionDeleteRecords(nint cluster, string topic, int partition, long beforeOffset)
    {
        if (_partitionDeleteRecords == null)
        {
            throw Missing("rd_kafka_mock_partition_delete_records");
        }

        var name = ToUtf8Z(topic);
        fixed (byte* p = name)
        {
            return (ErrorCode)_partitionDeleteRecords(cluster, p, partition, beforeOffset);
        }
    }

    /// <summary>Deletes a topic with its records and committed offsets.</summary>
    public ErrorCode TopicDelete(nint cluster, string topic)
    {
        if (_topicDelete == null)
        {
            throw Missing("rd_kafka_mock_topic_delete");
        }

        var name = ToUtf8Z(topic);
        fixed (byte* p = name)
        {
            return (ErrorCode)_topicDelete(cluster, p);
        }
    }

    private void SetConf(nint conf, string name, string value)
    {
        var n = ToUtf8Z(name);
        var v = ToUtf8Z(value);
        var errstr = stackalloc byte[ErrStrSize];
        int result;
        fixed (byte* pn = n)
        fixed (byte* pv = v)
        {
            result = _confSet(conf, pn, pv, errstr, ErrStrSize);
        }

        if (result != 0)
        {
            throw new InvalidOperationException(
                $"rd_kafka_conf_set('{name}', '{value}') failed ({result.ToString(CultureInfo.InvariantCulture)}): {ReadString(errstr)}");
        }
    }

    private static LibRdKafkaMock Bind()
    {
        // Does nothing when Confluent.Kafka has already loaded its native library.
        Library.Load();
        var path = FindLoadedLibRdKafka()
            ?? throw new InvalidOperationException(
                "The embedded Kafka cluster could not find the librdkafka that Confluent.Kafka loaded: no mapping whose " +
                "file name contains 'librdkafka' in /proc/self/maps (the embedded cluster supports Linux only).");
        var handle = NativeLibrary.Load(path);
        return new LibRdKafkaMock(handle, path);
    }

    private static string? FindLoadedLibRdKafka()
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps))
        {
            return null;
        }

        foreach (var line in File.ReadLines(maps))
        {
            var slash = line.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0)
            {
                continue;
            }

            var path = line[slash..].Trim();
            if (Path.GetFileName(path).Contains("librdkafka", StringComparison.Ordinal) && File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }

    private static nint Export(nint library, string path, string name)
    {
        if (!NativeLibrary.TryGetExport(library, name, out var address))
        {
            throw new InvalidOperationException(
                $"The librdkafka build at '{path}' does not export '{name}', which the embedded Kafka cluster needs " +
                $"(librdkafka {Library.VersionString}).");
        }

        return address;
    }

    private static nint OptionalExport(nint library, string name) =>
        NativeLibrary.TryGetExport(library, name, out var address) ? address : 0;

    private NotSupportedException Missing(string name) =>
        new($"The librdkafka build at '{LibraryPath}' (librdkafka {Library.VersionString}) does not export '{name}'.");

    private static byte[] ToUtf8Z(string value)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, bytes);
        return bytes;
    }

    private static string ReadString(byte* p) => p == null ? string.Empty : Marshal.PtrToStringUTF8((nint)p) ?? string.Empty;
}
