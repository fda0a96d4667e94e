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

    /// <summary>Whether a TRUNCATE becomes a truncate event (<c>op = t</c>, no key, partition 0 of the table's topic).
    /// Default true. Turn it off for table topics that are compacted: Kafka refuses a record without a key there, which
    /// stops the source with an error that says so.</summary>
    public bool EmitTruncates { get; set; } = true;

    /// <summary>The default of <see cref="UnavailableValuePlaceholder"/>.</summary>
    public const string DefaultUnavailableValuePlaceholder = "__datamesh_unavailable_value";

    /// <summary>
    /// The value of a text or bytes column whose value the log did not carry and the source was allowed to leave out
    /// (PostgreSQL's unchanged TOASTed value on a table without REPLICA IDENTITY FULL): text columns carry this text, bytes
    /// columns its UTF-8 bytes. Table sinks keep the stored value of a column that holds it. Default
    /// <c>__datamesh_unavailable_value</c>.
    /// </summary>
    public string UnavailableValuePlaceholder { get; set; } = DefaultUnavailableValuePlaceholder;

    /// <summary>A copy of these settings under another topic prefix (a definition's sources take the host's settings
    /// under the definition's prefix).</summary>
    internal ChangeEventOptions WithTopicPrefix(string topicPrefix)
    {
        var copy = (ChangeEventOptions)MemberwiseClone();
        copy.TopicPrefix = topicPrefix;
        return copy;
    }

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(TopicPrefix, nameof(TopicPrefix));
        if (TopicPrefix.Length > 0 && !TopicNames.IsValid(TopicPrefix, out var reason))
        {
            throw new ArgumentException($"{nameof(TopicPrefix)} '{TopicPrefix}' is not valid: {reason}.", nameof(TopicPrefix));
        }

        if (string.IsNullOrEmpty(UnavailableValuePlaceholder))
        {
            throw new ArgumentException($"{nameof(UnavailableValuePlaceholder)} must not be empty.", nameof(UnavailableValuePlaceholder));
        }

        if (!Enum.IsDefined(DecimalHandling))
        {
            throw new ArgumentException($"{nameof(DecimalHandling)} {(int)DecimalHandling} is not one of {string.Join(", ", Enum.GetNames<DecimalHandling>())}.", nameof(DecimalHandling));
        }
    }
}
