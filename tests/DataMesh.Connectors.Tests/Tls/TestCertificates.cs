using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DataMesh.Tests.Tls;

/// <summary>
/// Throwaway certificates made in the test with the BCL's <see cref="CertificateRequest"/>: CAs, server certificates
/// (for host names and IP addresses, valid now or expired) and client certificates; PEM files of them in a folder the
/// instance owns and deletes. Keys are ECDSA P-256 (quick to make); a CA loaded from PEM may be RSA.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private static long _serial = DateTime.UtcNow.Ticks;
    private readonly List<X509Certificate2> _made = [];

    public string Folder { get; } = Directory.CreateTempSubdirectory("datamesh-tls-").FullName;

    /// <summary>A self-signed CA with its private key.</summary>
    public X509Certificate2 Ca(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return Keep(request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)));
    }

    /// <summary>A TLS server certificate signed by <paramref name="ca"/>, for <paramref name="names"/> (host names or IP
    /// addresses, in subjectAltName), valid from <paramref name="notBefore"/> to <paramref name="notAfter"/> (default: a day
    /// ago to a month ahead).</summary>
    public X509Certificate2 Server(X509Certificate2 ca, string[] names, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var address))
            {
                san.AddIpAddress(address);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        return Issue(ca, $"CN={names[0]}", "1.3.6.1.5.5.7.3.1", san.Build(), notBefore, notAfter);
    }

    /// <summary>A TLS client certificate signed by <paramref name="ca"/> with subject <c>CN=<paramref name="commonName"/></c>.</summary>
    public X509Certificate2 Client(X509Certificate2 ca, string commonName, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null) =>
        Issue(ca, $"CN={commonName}", "1.3.6.1.5.5.7.3.2", null, notBefore, notAfter);

    /// <summary>Writes the certificate as <c>name.pem</c> and, when it has one, its key as <c>name.key</c> (PKCS #8, no
    /// password); returns the certificate's path.</summary>
    public string WritePem(X509Certificate2 certificate, string name)
    {
        var path = Path.Combine(Folder, name + ".pem");
        File.WriteAllText(path, certificate.ExportCertificatePem());
        if (((AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey() ?? certificate.GetRSAPrivateKey()) is { } key)
        {
            using (key)
            {
                File.WriteAllText(Path.Combine(Folder, name + ".key"), key.ExportPkcs8PrivateKeyPem());
            }
        }

        return path;
    }

    /// <summary>Writes the certificate and its key as a PKCS #12 file with <paramref name="password"/>; returns its path.</summary>
    public string WritePkcs12(X509Certificate2 certificate, string name, string password)
    {
        var path = Path.Combine(Folder, name + ".pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, password));
        return path;
    }

    /// <summary>A CA from PEM files (the certificate and its key), to sign with.</summary>
    public X509Certificate2 LoadCa(string certificatePem, string keyPem) => Keep(X509Certificate2.CreateFromPemFile(certificatePem, keyPem));

    public void Dispose()
    {
        foreach (var certificate in _made)
        {
            certificate.Dispose();
        }

        Directory.Delete(Folder, recursive: true);
    }

    private X509Certificate2 Issue(X509Certificate2 ca, string subject, string usage, X509Extension? san, DateTimeOffset? notBefore, DateTimeOffset? notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (san is not null)
        {
            request.CertificateExtensions.Add(san);
        }

        var from = notBefore ?? DateTimeOffset.UtcNow.AddDays(-1);
        var to = notAfter ?? DateTimeOffset.UtcNow.AddDays(30);
        // A certificate cannot outlive its issuer (CertificateRequest refuses): clamp to the CA's validity.
        from = from < ca.NotBefore ? new DateTimeOffset(ca.NotBefore) : from;
        to = to > ca.NotAfter ? new DateTimeOffset(ca.NotAfter) : to;
        // The CA's key signs, ECDSA or RSA (the CA of scripts/servers.sh is RSA).
        using var caEcdsa = ca.GetECDsaPrivateKey();
        using var caRsa = caEcdsa is null ? ca.GetRSAPrivateKey() : null;
        var signer = caEcdsa is not null ? X509SignatureGenerator.CreateForECDsa(caEcdsa) : X509SignatureGenerator.CreateForRSA(caRsa!, RSASignaturePadding.Pkcs1);
        using var issued = request.Create(ca.SubjectName, signer, from, to, BitConverter.GetBytes(Interlocked.Increment(ref _serial)));
        using var withKey = issued.CopyWithPrivateKey(key);
        // Through PKCS #12, so that SslStream can use the key on every platform.
        return Keep(X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pfx), null, X509KeyStorageFlags.Exportable));
    }

    private X509Certificate2 Keep(X509Certificate2 certificate)
    {
        _made.Add(certificate);
        return certificate;
    }
}
