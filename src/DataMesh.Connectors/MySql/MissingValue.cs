namespace DataMesh.Connectors.MySql;

/// <summary>A column left out of a row image (<c>binlog_row_image=MINIMAL</c> or <c>NOBLOB</c>): its value is unknown.</summary>
public sealed class MissingValue
{
    private MissingValue()
    {
    }

    /// <summary>The one instance.</summary>
    public static MissingValue Instance { get; } = new();

    /// <inheritdoc />
    public override string ToString() => "(missing)";
}
