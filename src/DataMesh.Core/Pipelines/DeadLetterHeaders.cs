namespace DataMesh.Pipelines;

/// <summary>The headers a pipeline adds to a dead-lettered record (values are UTF-8 text). The key and value are the original bytes.</summary>
public static class DeadLetterHeaders
{
    /// <summary>Why the record was rejected.</summary>
    public const string Reason = "dm.dlq.reason";

    /// <summary>The stage that rejected it: a transform's name, <c>schema</c> (its schema could not be found or planned) or <c>sink</c>.</summary>
    public const string Stage = "dm.dlq.stage";

    /// <summary>The pipeline's name.</summary>
    public const string Pipeline = "dm.dlq.pipeline";

    /// <summary>The source topic.</summary>
    public const string Topic = "dm.dlq.topic";

    /// <summary>The source partition, in decimal.</summary>
    public const string Partition = "dm.dlq.partition";

    /// <summary>The source offset, in decimal.</summary>
    public const string Offset = "dm.dlq.offset";
}
