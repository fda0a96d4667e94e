using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DataMesh.Connectors.Cassandra;

/// <summary>The CA files of the Cassandra source's TLS connections (the <c>system_schema</c> client, the nodes' agents):
/// read, checked at start, and trusted alone when given.</summary>
internal static class CassandraTls
{
    /// <summary>The certificates of a PEM file.</summary>
    public static X509Certificate2Collection LoadCa(string path)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(path);
        return certificates;
    }

    /// <summary>Why a CA file cannot be used ("does not exist", "holds no certificate", "is not a PEM file of
    /// certificates: …"), or null.</summary>
    public static string? CaProblem(string path)
    {
        if (!File.Exists(path))
        {
            return "does not exist";
        }

        try
        {
            var certificates = LoadCa(path);
            var count = certificates.Count;
            Dispose(certificates);
            return count == 0 ? "holds no certificate" : null;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            return "is not a PEM file of certificates: " + ex.Message;
        }
    }

    /// <summary>A chain policy that trusts <paramref name="roots"/> only (revocation not checked: a private CA seldom
    /// publishes lists the client can reach).</summary>
    public static X509ChainPolicy CustomRoots(X509Certificate2Collection roots)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.AddRange(roots);
        return policy;
    }

    /// <summary>Disposes every certificate of <paramref name="certificates"/>.</summary>
    public static void Dispose(X509Certificate2Collection? certificates)
    {
        foreach (var certificate in certificates ?? [])
        {
            certificate.Dispose();
        }
    }
}
