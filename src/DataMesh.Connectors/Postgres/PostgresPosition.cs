using System.Text.Json;
using NpgsqlTypes;

namespace DataMesh.Connectors.Postgres;

/// <summary>A PostgreSQL source's position: the end LSN of the last transaction (or the idle server position) whose
/// changes Kafka acknowledged. Stored as <c>{"lsn":"X/Y"}</c>.</summary>
/// <param name="Lsn">The LSN.</param>
internal sealed record PostgresPosition(ulong Lsn)
{
    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, string> { ["lsn"] = Format(Lsn) });

    public override string ToString() => Format(Lsn);

    public static PostgresPosition Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return new PostgresPosition((ulong)NpgsqlLogSequenceNumber.Parse(document.RootElement.GetProperty("lsn").GetString()!));
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or FormatException or OverflowException or InvalidOperationException or ArgumentNullException)
        {
            throw new PostgresSourceException($"The stored position '{json}' of this PostgreSQL source is not a PostgreSQL position ({{\"lsn\":\"X/Y\"}}): {ex.Message}. Reset the stored position to start afresh.", ex);
        }
    }

    public static string Format(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();
}
