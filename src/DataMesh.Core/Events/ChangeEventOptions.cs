namespace DataMesh.Events;

/// <summary>Settings of the change-event contract that every connector shares.</summary>
public sealed class ChangeEventOptions
{
    /// <summary>The first part of every topic name; empty to leave it out. Default <c>dm</c>.</summary>
    public string TopicPrefix { get; set; } = "dm";

    /// <summary>How exact decimals travel. Default <see cref="DecimalHandling.Precise"/>.</summary>
    public DecimalHandling DecimalHandling { get; set; } = DecimalHandling.Precise;

    /// <summary>Whether a delete is followed by a tombstone (a null value with the same key) so that compacted
    /// topics drop the row. Default true.</summary>
    public bool Tombstones { get; set; } = true;

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(TopicPrefix, nameof(TopicPrefix));
        if (TopicPrefix.Length > 0 && !TopicNames.IsValid(TopicPrefix, out var reason))
        {
            throw new ArgumentException($"{nameof(TopicPrefix)} '{TopicPrefix}' is not valid: {reason}.", nameof(TopicPrefix));
        }

        if (!Enum.IsDefined(DecimalHandling))
        {
            throw new ArgumentException($"{nameof(DecimalHandling)} {(int)DecimalHandling} is not one of {string.Join(", ", Enum.GetNames<DecimalHandling>())}.", nameof(DecimalHandling));
        }
    }
}
