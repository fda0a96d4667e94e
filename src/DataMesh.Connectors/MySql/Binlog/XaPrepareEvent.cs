using System.Globalization;
using System.Text;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// XA_PREPARE (38): ends the event group of an XA transaction's <c>XA PREPARE</c> (MariaDB 10.5+, MySQL 5.7+) with its
/// XID; its outcome comes later in an event group of its own, a QUERY <c>XA COMMIT X'..',X'..',n</c> or
/// <c>XA ROLLBACK ...</c>. MySQL also ends <c>XA COMMIT ... ONE PHASE</c> with it (<see cref="OnePhase"/>), which
/// commits at once; MariaDB logs ONE PHASE as an ordinary transaction.
/// </summary>
internal readonly struct XaPrepareEvent
{
    private XaPrepareEvent(bool onePhase, string xid)
    {
        OnePhase = onePhase;
        Xid = xid;
    }

    /// <summary>Whether the event commits the transaction (XA COMMIT ... ONE PHASE) instead of preparing it.</summary>
    public bool OnePhase { get; }

    /// <summary>The XID in the server's text form, <c>X'gtrid',X'bqual',formatID</c> (<see cref="XaStatement.FormatXid"/>).</summary>
    public string Xid { get; }

    /// <summary>Parses the event body: one_phase (1), formatID (4), gtrid_length (4), bqual_length (4), then gtrid and bqual.</summary>
    public static XaPrepareEvent Parse(ReadOnlySpan<byte> body)
    {
        var reader = new Protocol.PayloadReader(body, "XA_PREPARE", BinlogEventHeader.Length);
        var onePhase = reader.ReadByte("one_phase") != 0;
        var formatId = (int)reader.ReadUInt32("format_id");
        var gtridLength = reader.ReadUInt32("gtrid_length");
        var bqualLength = reader.ReadUInt32("bqual_length");
        if (gtridLength > 64 || bqualLength > 64)
        {
            throw reader.Error("gtrid_length", $"an XID of {gtridLength} + {bqualLength} bytes (at most 64 + 64)");
        }

        var gtrid = reader.ReadSpan((int)gtridLength, "gtrid");
        var bqual = reader.ReadSpan((int)bqualLength, "bqual");
        return new XaPrepareEvent(onePhase, XaStatement.FormatXid(gtrid, bqual, formatId));
    }
}

/// <summary>What an <c>XA ...</c> statement of a QUERY event does.</summary>
internal enum XaStatementKind
{
    /// <summary>Not an XA statement this decoder acts on (XA END, XA RECOVER ...).</summary>
    Other,

    /// <summary><c>XA START</c> / <c>XA BEGIN</c> (MySQL logs it; MariaDB flags the GTID event instead).</summary>
    Start,

    /// <summary><c>XA COMMIT</c> of a prepared transaction.</summary>
    Commit,

    /// <summary><c>XA ROLLBACK</c> of a prepared transaction.</summary>
    Rollback,
}

/// <summary>Reads the XA statements that the servers write into QUERY events, in the server's own form
/// (<c>XA COMMIT X'6131',X'',1</c>); quoted strings and <c>0x</c> literals are read too.</summary>
internal static class XaStatement
{
    /// <summary>The XID's text form, the key under which a prepared transaction is held: <c>X'gtrid',X'bqual',formatID</c>
    /// with lower-case hex, as MariaDB writes it.</summary>
    public static string FormatXid(ReadOnlySpan<byte> gtrid, ReadOnlySpan<byte> bqual, long formatId) =>
        string.Create(CultureInfo.InvariantCulture, $"X'{Convert.ToHexStringLower(gtrid)}',X'{Convert.ToHexStringLower(bqual)}',{formatId}");

    /// <summary>Classifies a statement and, for XA COMMIT and XA ROLLBACK, reads its XID.</summary>
    /// <param name="query">The statement's text (UTF-8).</param>
    /// <param name="xid">The XID in <see cref="FormatXid"/>'s form, or null.</param>
    public static XaStatementKind Parse(ReadOnlySpan<byte> query, out string? xid)
    {
        xid = null;
        if (!StartsWithWord(query.TrimStart(Whitespace), "XA"u8, out var rest))
        {
            return XaStatementKind.Other;
        }

        rest = rest.TrimStart(Whitespace);
        XaStatementKind kind;
        if (StartsWithWord(rest, "START"u8, out var after) || StartsWithWord(rest, "BEGIN"u8, out after))
        {
            return XaStatementKind.Start;
        }
        else if (StartsWithWord(rest, "COMMIT"u8, out after))
        {
            kind = XaStatementKind.Commit;
        }
        else if (StartsWithWord(rest, "ROLLBACK"u8, out after))
        {
            kind = XaStatementKind.Rollback;
        }
        else
        {
            return XaStatementKind.Other;
        }

        var parts = new List<byte[]>(2);
        long formatId = 1;
        var at = Encoding.UTF8.GetString(after).Trim();
        for (var part = 0; part < 3 && at.Length > 0; part++)
        {
            if (part == 2)
            {
                var end = at.IndexOf(' ', StringComparison.Ordinal);
                var number = end < 0 ? at : at[..end];
                if (!long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out formatId))
                {
                    return XaStatementKind.Other;
                }

                at = end < 0 ? string.Empty : at[end..];
                break;
            }

            if (!TryReadString(ref at, out var bytes))
            {
                return XaStatementKind.Other;
            }

            parts.Add(bytes);
            at = at.TrimStart();
            if (!at.StartsWith(','))
            {
                break;
            }

            at = at[1..].TrimStart();
        }

        if (parts.Count == 0)
        {
            return XaStatementKind.Other;
        }

        xid = FormatXid(parts[0], parts.Count > 1 ? parts[1] : [], formatId);
        return kind;
    }

    private static ReadOnlySpan<byte> Whitespace => " \t\r\n"u8;

    private static bool StartsWithWord(ReadOnlySpan<byte> text, ReadOnlySpan<byte> word, out ReadOnlySpan<byte> after)
    {
        after = default;
        if (text.Length < word.Length || !Ascii.EqualsIgnoreCase(text[..word.Length], word)
            || (text.Length > word.Length && !Whitespace.Contains(text[word.Length])))
        {
            return false;
        }

        after = text[word.Length..];
        return true;
    }

    // X'6162' or x'6162', 0x6162, or 'ab' (with '' and \' for a quote).
    private static bool TryReadString(ref string text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length >= 3 && text[0] is 'X' or 'x' && text[1] == '\'')
        {
            var end = text.IndexOf('\'', 2);
            if (end < 0)
            {
                return false;
            }

            try
            {
                bytes = Convert.FromHexString(text.AsSpan(2, end - 2));
            }
            catch (FormatException)
            {
                return false;
            }

            text = text[(end + 1)..];
            return true;
        }

        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            var end = 2;
            while (end < text.Length && char.IsAsciiHexDigit(text[end]))
            {
                end++;
            }

            if ((end - 2) % 2 != 0)
            {
                return false;
            }

            bytes = Convert.FromHexString(text.AsSpan(2, end - 2));
            text = text[end..];
            return true;
        }

        if (text.Length >= 2 && text[0] == '\'')
        {
            var value = new StringBuilder();
            for (var i = 1; i < text.Length; i++)
            {
                var c = text[i];
                if (c == '\\' && i + 1 < text.Length)
                {
                    value.Append(text[++i]);
                }
                else if (c == '\'' && i + 1 < text.Length && text[i + 1] == '\'')
                {
                    value.Append('\'');
                    i++;
                }
                else if (c == '\'')
                {
                    bytes = Encoding.UTF8.GetBytes(value.ToString());
                    text = text[(i + 1)..];
                    return true;
                }
                else
                {
                    value.Append(c);
                }
            }
        }

        return false;
    }
}
