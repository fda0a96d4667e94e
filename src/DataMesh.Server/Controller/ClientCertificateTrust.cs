using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DataMesh.Server.Controller;

/// <summary>
/// The client certificates the controller's API accepts (<see cref="ClientCertificateOptions"/>): the CAs read once from
/// the PEM files, and the check of one certificate with <see cref="X509Chain"/> in
/// <see cref="X509ChainTrustMode.CustomRootTrust"/> (the machine's trust store plays no part). Thread-safe: the stores are
/// not changed after construction and every check builds its own chain.
/// </summary>
internal sealed class ClientCertificateTrust : IDisposable
{
    /// <summary>The configuration path of the settings, for messages.</summary>
    public const string Setting = DataMeshServerOptions.SectionName + ":Controller:ClientCertificates";

    /// <summary>The extended key usage of TLS client authentication.</summary>
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private readonly X509Certificate2Collection _roots;
    private readonly X509Certificate2Collection _intermediates;
    private readonly HashSet<string> _names;
    private readonly HashSet<string> _distinguishedNames;
    private readonly HashSet<string> _thumbprints;
    private readonly X509RevocationMode _revocation;

    private ClientCertificateTrust(X509Certificate2Collection roots, X509Certificate2Collection intermediates, ClientCertificateOptions options)
    {
        _roots = roots;
        _intermediates = intermediates;
        _revocation = options.RevocationMode;
        _names = new(options.AllowedSubjects.Where(s => !s.Contains('=', StringComparison.Ordinal)).Select(s => s.Trim()), StringComparer.OrdinalIgnoreCase);
        _distinguishedNames = new(options.AllowedSubjects.Where(s => s.Contains('=', StringComparison.Ordinal)).Select(s => Normalize(new X500DistinguishedName(s.Trim()))), StringComparer.OrdinalIgnoreCase);
        _thumbprints = new(options.AllowedThumbprints.Select(NormalizeThumbprint), StringComparer.Ordinal);
    }

    /// <summary>The files read, for the start message.</summary>
    public IReadOnlyList<string> Paths { get; private init; } = [];

    /// <summary>Whether only some certificates of the CAs are accepted (<c>AllowedSubjects</c>, <c>AllowedThumbprints</c>).</summary>
    public bool IsRestricted => _names.Count + _distinguishedNames.Count + _thumbprints.Count > 0;

    /// <summary>Reads the CAs; null when <paramref name="options"/> configure none.</summary>
    /// <exception cref="InvalidOperationException">The settings have problems (<see cref="Problems"/>), each named.</exception>
    public static ClientCertificateTrust? Create(ClientCertificateOptions? options)
    {
        if (options is null || !options.IsConfigured)
        {
            return null;
        }

        var problems = new List<string>();
        var (roots, intermediates) = Read(options, problems);
        if (problems.Count > 0)
        {
            roots.Dispose();
            intermediates.Dispose();
            throw new InvalidOperationException(string.Join(" ", problems));
        }

        return new ClientCertificateTrust(roots.Collection, intermediates.Collection, options) { Paths = [.. options.CaPaths] };
    }

    /// <summary>What is wrong with <paramref name="options"/>, each problem naming its setting; empty when nothing is.</summary>
    public static List<string> Problems(ClientCertificateOptions options)
    {
        var problems = new List<string>();
        if (!options.IsConfigured)
        {
            if (options.AllowedSubjects.Count + options.AllowedThumbprints.Count > 0)
            {
                problems.Add($"{Setting}:AllowedSubjects and AllowedThumbprints need {Setting}:CaPaths, the PEM file(s) of the CA the client certificates chain to.");
            }

            return problems;
        }

        var (roots, intermediates) = Read(options, problems);
        roots.Dispose();
        intermediates.Dispose();
        if (!Enum.IsDefined(options.RevocationMode))
        {
            problems.Add($"{Setting}:RevocationMode must be NoCheck, Online or Offline; it is {options.RevocationMode}.");
        }

        foreach (var subject in options.AllowedSubjects)
        {
            if (string.IsNullOrWhiteSpace(subject))
            {
                problems.Add($"{Setting}:AllowedSubjects has an empty entry.");
            }
            else if (subject.Contains('=', StringComparison.Ordinal))
            {
                try
                {
                    _ = new X500DistinguishedName(subject.Trim());
                }
                catch (CryptographicException)
                {
                    problems.Add($"{Setting}:AllowedSubjects: '{subject}' is not a distinguished name such as 'CN=deployer, O=Example' (or a common name without '=').");
                }
            }
        }

        foreach (var thumbprint in options.AllowedThumbprints)
        {
            if (NormalizeThumbprint(thumbprint) is not { Length: 64 } hex || !hex.All(char.IsAsciiHexDigit))
            {
                problems.Add($"{Setting}:AllowedThumbprints: '{thumbprint}' is not a SHA-256 fingerprint (64 hexadecimal digits, colons allowed; openssl x509 -noout -fingerprint -sha256 -in client.pem).");
            }
        }

        return problems;
    }

    /// <summary>
    /// Null when <paramref name="certificate"/> may call the API, else why not: what a client can act on, naming the
    /// certificate by subject and SHA-256 fingerprint (never a key).
    /// </summary>
    public string? Check(X509Certificate2? certificate)
    {
        if (certificate is null)
        {
            return $"The controller's API needs a client certificate issued by a CA of {Setting}:CaPaths, and the connection presented none (it must be HTTPS, and the server must ask for client certificates: docs/server.md).";
        }

        var now = DateTime.UtcNow;
        var which = $"The client certificate '{certificate.Subject}' (SHA-256 {Thumbprint(certificate)})";
        if (now < certificate.NotBefore.ToUniversalTime())
        {
            return string.Create(CultureInfo.InvariantCulture, $"{which} is not valid before {certificate.NotBefore.ToUniversalTime():u}.");
        }

        if (now > certificate.NotAfter.ToUniversalTime())
        {
            return string.Create(CultureInfo.InvariantCulture, $"{which} expired at {certificate.NotAfter.ToUniversalTime():u}.");
        }

        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } usages &&
            !usages.EnhancedKeyUsages.Cast<Oid>().Any(u => u.Value == ClientAuthentication))
        {
            return $"{which} is not for client authentication: its extended key usages do not include {ClientAuthentication}.";
        }

        // Trust first, without revocation: a certificate that does not chain to the configured CAs is refused before any
        // CRL address it names is fetched (an unauthenticated client must not make the server reach addresses it chose).
        if (Build(certificate, now, X509RevocationMode.NoCheck, which) is { } untrusted)
        {
            return untrusted;
        }

        if (_revocation != X509RevocationMode.NoCheck && Build(certificate, now, _revocation, which) is { } revoked)
        {
            return revoked;
        }

        if (IsRestricted && !_thumbprints.Contains(Thumbprint(certificate)) &&
            !_distinguishedNames.Contains(Normalize(certificate.SubjectName)) &&
            !_names.Contains(certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false)))
        {
            return $"{which} chains to a trusted CA but is not among {Setting}:AllowedSubjects or AllowedThumbprints.";
        }

        return null;
    }

    /// <summary>Builds the certificate's chain to the configured CAs only; null when it holds, else the reason.</summary>
    private string? Build(X509Certificate2 certificate, DateTime now, X509RevocationMode revocation, string which)
    {
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.CustomTrustStore.AddRange(_roots);
        policy.ExtraStore.AddRange(_intermediates);
        policy.RevocationMode = revocation;
        policy.RevocationFlag = X509RevocationFlag.ExcludeRoot;
        policy.ApplicationPolicy.Add(new Oid(ClientAuthentication));
        policy.VerificationTime = now;
        policy.VerificationTimeIgnored = false;

        // Certificates are not fetched from the addresses a client's certificate names; CRLs are, when RevocationMode is
        // Online, and only for a chain already found to end at a configured CA.
        policy.DisableCertificateDownloads = true;
        policy.UrlRetrievalTimeout = TimeSpan.FromSeconds(10);
        try
        {
            return chain.Build(certificate) ? null : $"{which} is refused: {Describe(chain)}.";
        }
        catch (CryptographicException ex)
        {
            return $"{which} could not be checked: {ex.Message}.";
        }
    }

    public void Dispose()
    {
        foreach (var certificate in _roots.Concat(_intermediates))
        {
            certificate.Dispose();
        }
    }

    /// <summary>The certificate's SHA-256 fingerprint in upper-case hexadecimal, as <c>AllowedThumbprints</c> holds them.</summary>
    public static string Thumbprint(X509Certificate2 certificate) => certificate.GetCertHashString(HashAlgorithmName.SHA256);

    private static string NormalizeThumbprint(string thumbprint) =>
        thumbprint.Replace(":", string.Empty, StringComparison.Ordinal).Replace(" ", string.Empty, StringComparison.Ordinal).ToUpperInvariant();

    private static string Normalize(X500DistinguishedName name) =>
        string.Join(",", name.Decode(X500DistinguishedNameFlags.UseCommas | X500DistinguishedNameFlags.DoNotUsePlusSign).Split(',').Select(p => p.Trim()));

    private static string Describe(X509Chain chain)
    {
        var statuses = chain.ChainStatus.Select(s => s.Status).Aggregate(X509ChainStatusFlags.NoError, (a, s) => a | s);
        var advice = (statuses & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0
            ? $"it does not chain to a CA of {Setting}:CaPaths"
            : (statuses & (X509ChainStatusFlags.RevocationStatusUnknown | X509ChainStatusFlags.OfflineRevocation)) != 0
                ? $"its revocation could not be checked (no CRL distribution point, or the CRL could not be read); publish a CRL, or set {Setting}:RevocationMode to NoCheck for a CA without one"
                : (statuses & X509ChainStatusFlags.Revoked) != 0 ? "it or its issuer is revoked"
                : (statuses & X509ChainStatusFlags.NotValidForUsage) != 0 ? $"its chain does not allow client authentication ({ClientAuthentication})"
                : (statuses & X509ChainStatusFlags.NotTimeValid) != 0 ? "its issuer is not valid now"
                : "its chain is not valid";
        var details = string.Join("; ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
        return $"{advice} ({details})";
    }

    private static (Owned Roots, Owned Intermediates) Read(ClientCertificateOptions options, List<string> problems)
    {
        var roots = new Owned();
        var intermediates = new Owned();
        foreach (var path in options.CaPaths)
        {
            if (string.IsNullOrWhiteSpace(path))
            {
                problems.Add($"{Setting}:CaPaths has an empty entry.");
                continue;
            }

            var certificates = new X509Certificate2Collection();
            try
            {
                certificates.ImportFromPemFile(Path.GetFullPath(path));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                problems.Add($"{Setting}:CaPaths: '{path}' cannot be read as PEM certificates: {ex.Message}");
                continue;
            }

            if (certificates.Count == 0)
            {
                problems.Add($"{Setting}:CaPaths: '{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
                continue;
            }

            foreach (var certificate in certificates)
            {
                (certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData) ? roots : intermediates).Collection.Add(certificate);
            }
        }

        if (problems.Count == 0 && roots.Collection.Count == 0)
        {
            problems.Add($"{Setting}:CaPaths holds no root: at least one certificate must be self-signed (a CA's own), the others are intermediates.");
        }

        return (roots, intermediates);
    }

    /// <summary>Certificates read, disposed with the collection unless handed on.</summary>
    private sealed class Owned : IDisposable
    {
        public X509Certificate2Collection Collection { get; } = [];

        public void Dispose()
        {
            foreach (var certificate in Collection)
            {
                certificate.Dispose();
            }
        }
    }
}
