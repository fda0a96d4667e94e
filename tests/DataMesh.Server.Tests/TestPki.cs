using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DataMesh.Server.Tests;

/// <summary>
/// Certificates made at test time with <see cref="CertificateRequest"/> (ECDSA P-256; nothing is committed): CAs, client
/// certificates they issue, and a server certificate for 127.0.0.1, as an organisation's private CA would issue them.
/// </summary>
internal static class TestPki
{
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";
    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    /// <summary>A CA: self-signed (a root) without <paramref name="issuer"/>, else an intermediate it issues.</summary>
    public static X509Certificate2 Ca(string name, X509Certificate2? issuer = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}, O=DataMesh tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var notBefore = DateTimeOffset.UtcNow.AddDays(-60);
        if (issuer is null)
        {
            return request.CreateSelfSigned(notBefore, DateTimeOffset.UtcNow.AddYears(1));
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var issued = request.Create(issuer, notBefore, issuer.NotAfter.ToUniversalTime().AddDays(-1), Serial());
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>A certificate <paramref name="ca"/> issues, valid from <paramref name="notBefore"/> to <paramref name="notAfter"/>
    /// (default: yesterday to a month from now), with the extended key usages given (default: client authentication).</summary>
    public static X509Certificate2 Issue(X509Certificate2 ca, string commonName, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, params string[] usages)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}, O=DataMesh tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var ekus = new OidCollection();
        foreach (var usage in usages.Length == 0 ? [ClientAuthentication] : usages)
        {
            ekus.Add(new Oid(usage));
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(ekus, false));
        if (usages.Contains(ServerAuthentication))
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        }

        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var issued = request.Create(ca, notBefore ?? DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(30), Serial());
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>A server certificate for 127.0.0.1 and localhost, issued by a CA of its own.</summary>
    public static X509Certificate2 Server()
    {
        using var ca = Ca("DataMesh tests server CA");
        return Issue(ca, "localhost", usages: ServerAuthentication);
    }

    /// <summary>Writes <paramref name="certificates"/> to one PEM file in <paramref name="folder"/>; returns its path.</summary>
    public static string WritePem(DirectoryInfo folder, string name, params X509Certificate2[] certificates)
    {
        var path = Path.Combine(folder.FullName, name);
        File.WriteAllText(path, string.Concat(certificates.Select(c => c.ExportCertificatePem() + "\n")));
        return path;
    }

    /// <summary>
    /// An <see cref="HttpClient"/> for the server at <paramref name="url"/> that trusts only <paramref name="server"/> and
    /// presents <paramref name="client"/> (or none) when asked, whatever its usages or dates: what is sent is the server's to judge.
    /// </summary>
    public static HttpClient Client(string url, X509Certificate2 server, X509Certificate2? client)
    {
        var serverThumbprint = server.GetCertHashString(HashAlgorithmName.SHA256);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, presented, _, _) =>
                    presented is not null && presented.GetCertHashString(HashAlgorithmName.SHA256) == serverThumbprint,
                LocalCertificateSelectionCallback = (_, _, _, _, _) => client!,
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
    }

    private static byte[] Serial() => RandomNumberGenerator.GetBytes(16);
}
