using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DataMesh.Connectors.MySql;

/// <summary>
/// Where the connector is in the binlog: the file and position after the last committed transaction, and the GTID
/// state there (MariaDB's GTID position <c>0-1-100</c>, or MySQL's executed GTID set), stored as JSON in the offsets topic.
/// </summary>
internal sealed record MySqlPosition
{
    [JsonPropertyName("file")]
    public required string File { get; init; }

    [JsonPropertyName("pos")]
    public required long Position { get; init; }

    /// <summary>MariaDB's GTID position or MySQL's GTID set after the transaction; null when the server has none.</summary>
    [JsonPropertyName("gtid")]
    public string? Gtid { get; init; }

    /// <summary>Whether <see cref="Gtid"/> is MariaDB's form.</summary>
    [JsonPropertyName("mariadb")]
    public bool MariaDb { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this);

    public static MySqlPosition FromJson(string json) =>
        JsonSerializer.Deserialize<MySqlPosition>(json) ?? throw new FormatException($"'{json}' is not a stored MySQL position.");

    /// <summary>The sequence number of a binlog file name (<c>mariadb-bin.000042</c> → 42), for ordering positions.</summary>
    public static long FileIndex(string file)
    {
        var dot = file.LastIndexOf('.');
        return dot >= 0 && long.TryParse(file.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? index : 0;
    }

    /// <summary>Whether this position is at or after <paramref name="file"/>:<paramref name="position"/>.</summary>
    public bool IsAtOrAfter(string file, long position)
    {
        var (mine, theirs) = (FileIndex(File), FileIndex(file));
        return mine > theirs || (mine == theirs && Position >= position);
    }

    public override string ToString() => $"{File}:{Position}{(Gtid is null ? string.Empty : " gtid " + Gtid)}";
}
