using System.Globalization;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>
/// The replication client's check of a server certificate, with MySqlConnector's meaning of the settings: the chain must
/// end at a CA of <c>SslCa</c> when it is given (a custom root trust: the system's CAs do not count then), else at a CA the
/// system trusts; the certificate must be valid now and be meant for server authentication; with
/// <see cref="TlsMode.VerifyFull"/> it must also name the host the client connected to. Only the BCL's X.509 code is used.
/// </summary>
internal static class ServerCertificateCheck
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    /// <summary>Why <paramref name="certificate"/> is refused, with what to do; null when it is verified.</summary>
    /// <param name="certificate">The server's certificate.</param>
    /// <param name="chain">The chain <see cref="SslStream"/> built (with the intermediates the server sent).</param>
    /// <param name="errors">What <see cref="SslStream"/> found against the system's trust and the host name.</param>
    /// <param name="roots">The CAs of <c>SslCa</c>, or null to trust the system's CAs.</param>
    /// <param name="checkHostName">Whether the certificate must name the host (<see cref="TlsMode.VerifyFull"/>).</param>
    /// <param name="host">The host the client connected to, for the message.</param>
    public static string? Problem(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, X509Certificate2Collection? roots, bool checkHostName, string host)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return "the server sent no certificate";
        }

        // SslStream hands an X509Certificate2 (which it owns); a copy only for any other kind.
        using var copy = certificate as X509Certificate2 is null ? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()) : null;
        var leaf = copy ?? (X509Certificate2)certificate;
        if (roots is null)
        {
            if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            {
                return ChainProblem(leaf, chain?.ChainStatus ?? [], chain, customRoots: false);
            }
        }
        else
        {
            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(roots);
            // A private CA seldom publishes revocation lists; MySqlConnector does not check revocation with SslCa either.
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            custom.ChainPolicy.ApplicationPolicy.Add(ServerAuthentication);
            if (chain is not null)
            {
                custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            if (!custom.Build(leaf))
            {
                return ChainProblem(leaf, custom.ChainStatus, custom, customRoots: true);
            }
        }

        if (checkHostName && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the certificate is for {Names(leaf)}, not for '{host}' (SslMode=VerifyFull checks the host name): connect with one of its names in Server, " +
                "have the server's certificate name this host (subjectAltName), or set SslMode=VerifyCA to check only that a trusted CA signed it";
        }

        return null;
    }

    /// <summary>The certificate's names: its subjectAltName DNS names and IP addresses, else its subject.</summary>
    internal static string Names(X509Certificate2 certificate)
    {
        var names = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                names.AddRange(san.EnumerateDnsNames());
                names.AddRange(san.EnumerateIPAddresses().Select(a => a.ToString()));
            }
        }

        return names.Count > 0 ? string.Join(", ", names.Select(n => $"'{n}'")) : $"'{certificate.Subject}' (no subjectAltName)";
    }

    private static string ChainProblem(X509Certificate2 leaf, X509ChainStatus[] status, X509Chain? chain, bool customRoots)
    {
        var flags = status.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        if ((flags & X509ChainStatusFlags.NotTimeValid) != 0)
        {
            var expired = chain?.ChainElements.Select(e => e.Certificate).FirstOrDefault(c => c.NotAfter < DateTime.Now || c.NotBefore > DateTime.Now) ?? leaf;
            return string.Create(CultureInfo.InvariantCulture,
                $"the certificate '{expired.Subject}' is valid from {expired.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z to {expired.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z, not now: renew the server's certificate");
        }

        if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
        {
            return customRoots
                ? $"the certificate '{leaf.Subject}' (issued by '{leaf.Issuer}') is not signed by a CA of SslCa: set SslCa to the PEM file of the CA that signed the server's certificate"
                : $"the certificate '{leaf.Subject}' (issued by '{leaf.Issuer}') is not signed by a CA this system trusts: set SslCa to the PEM file of the CA that signed the server's certificate";
        }

        if ((flags & X509ChainStatusFlags.NotValidForUsage) != 0)
        {
            return $"the certificate '{leaf.Subject}' is not meant for server authentication (its extendedKeyUsage lacks serverAuth): issue the server a TLS server certificate";
        }

        var details = string.Join("; ", status.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}"));
        return $"the certificate '{leaf.Subject}' (issued by '{leaf.Issuer}') does not verify: {(details.Length == 0 ? "chain errors" : details)}";
    }
}
