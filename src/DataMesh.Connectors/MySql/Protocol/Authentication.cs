using System.Security.Cryptography;
using System.Text;

namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>The password scrambles of the authentication plugins this client speaks.</summary>
internal static class Authentication
{
    public const string NativePassword = "mysql_native_password";
    public const string CachingSha2Password = "caching_sha2_password";
    public const string ClearPassword = "mysql_clear_password";

    /// <summary>caching_sha2_password's AuthMoreData status: the fast path succeeded, OK follows.</summary>
    public const byte FastAuthSuccess = 3;

    /// <summary>caching_sha2_password's AuthMoreData status: the server needs the password itself.</summary>
    public const byte PerformFullAuthentication = 4;

    /// <summary>The client's request for the server's RSA public key (caching_sha2_password without TLS).</summary>
    public const byte RequestPublicKey = 2;

    /// <summary>mysql_native_password: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))); empty for an empty password.</summary>
    public static byte[] NativeScramble(string password, ReadOnlySpan<byte> nonce)
    {
        if (password.Length == 0)
        {
            return [];
        }

        var hash1 = SHA1.HashData(Encoding.UTF8.GetBytes(password));
        var hash2 = SHA1.HashData(hash1);
        var salted = SHA1.HashData([.. nonce[..Math.Min(20, nonce.Length)], .. hash2]);
        for (var i = 0; i < hash1.Length; i++)
        {
            hash1[i] ^= salted[i];
        }

        return hash1;
    }

    /// <summary>caching_sha2_password's fast path: SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce).</summary>
    public static byte[] CachingSha2Scramble(string password, ReadOnlySpan<byte> nonce)
    {
        if (password.Length == 0)
        {
            return [];
        }

        var hash1 = SHA256.HashData(Encoding.UTF8.GetBytes(password));
        var hash2 = SHA256.HashData(hash1);
        var salted = SHA256.HashData([.. hash2, .. nonce[..Math.Min(20, nonce.Length)]]);
        for (var i = 0; i < hash1.Length; i++)
        {
            hash1[i] ^= salted[i];
        }

        return hash1;
    }

    /// <summary>The password and a NUL, as sent in the clear over TLS.</summary>
    public static byte[] ClearText(string password) => [.. Encoding.UTF8.GetBytes(password), 0];

    /// <summary>caching_sha2_password's full path without TLS: (password + NUL) XOR the nonce, RSA-OAEP encrypted with the server's public key.</summary>
    /// <param name="password">The password.</param>
    /// <param name="nonce">The 20-byte nonce of the handshake.</param>
    /// <param name="publicKeyPem">The server's RSA public key (PEM).</param>
    public static byte[] RsaEncryptPassword(string password, ReadOnlySpan<byte> nonce, string publicKeyPem)
    {
        var clear = ClearText(password);
        for (var i = 0; i < clear.Length; i++)
        {
            clear[i] ^= nonce[i % nonce.Length];
        }

        using var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(publicKeyPem);
        }
        catch (ArgumentException ex)
        {
            throw new MySqlReplicationException("The server's RSA public key is not a PEM public key: " + ex.Message, ex);
        }

        return rsa.Encrypt(clear, RSAEncryptionPadding.OaepSHA1);
    }

    /// <summary>The first auth response for <paramref name="plugin"/>.</summary>
    /// <param name="plugin">The plugin the server asks for.</param>
    /// <param name="password">The password.</param>
    /// <param name="nonce">The server's nonce.</param>
    /// <param name="channel">Whether the password itself may be sent (mysql_clear_password), and if not, why.</param>
    public static byte[] InitialResponse(string plugin, string password, ReadOnlySpan<byte> nonce, PasswordChannel channel) => plugin switch
    {
        NativePassword => NativeScramble(password, nonce),
        CachingSha2Password => CachingSha2Scramble(password, nonce),
        ClearPassword when channel.MayRevealPassword => ClearText(password),
        ClearPassword => throw new MySqlReplicationException(
            $"The server asks for mysql_clear_password, which sends the password itself, and {channel.Reason}: a man in the middle would get the password, so the replication client did not send it. " +
            "Set SslMode=VerifyFull with SslCa=<PEM file of the CA that signed the server's certificate> (or VerifyCA)."),
        _ => throw new MySqlReplicationException($"The server asks for authentication plugin '{plugin}'; the replication client speaks {NativePassword}, {CachingSha2Password} and {ClearPassword} (over TLS with a verified certificate)."),
    };

    /// <summary>Whether the password itself may be sent on a channel: over TLS whose server certificate was verified, or to a
    /// server on this machine; <see cref="Reason"/> says why not.</summary>
    /// <param name="MayRevealPassword">Whether it may.</param>
    /// <param name="Reason">Why not (for the refusal), or null.</param>
    internal readonly record struct PasswordChannel(bool MayRevealPassword, string? Reason)
    {
        public static PasswordChannel Trusted => new(true, null);
    }
}
