using System.Globalization;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>A MariaDB global transaction id: replication domain, originating server id, sequence number.</summary>
/// <param name="Domain">The replication domain.</param>
/// <param name="ServerId">The server that first committed the transaction.</param>
/// <param name="Sequence">The sequence number within the domain.</param>
internal readonly record struct MariaDbGtid(uint Domain, uint ServerId, ulong Sequence)
{
    /// <summary>The text form <c>domain-server-sequence</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Domain}-{ServerId}-{Sequence}");

    /// <summary>Parses <c>domain-server-sequence</c>.</summary>
    /// <exception cref="FormatException">The text is not a MariaDB GTID.</exception>
    public static MariaDbGtid Parse(string text)
    {
        var parts = text.Trim().Split('-');
        if (parts.Length != 3
            || !uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var domain)
            || !uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var server)
            || !ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
        {
            throw new FormatException($"'{text}' is not a MariaDB GTID (domain-server-sequence).");
        }

        return new MariaDbGtid(domain, server, sequence);
    }
}
