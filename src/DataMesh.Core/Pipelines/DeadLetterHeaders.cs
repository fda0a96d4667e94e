namespace DataMesh.Pipelines;

/// <summary>
/// The headers a pipeline adds to a dead-lettered record (values are UTF-8 text). The key and value are the record as it
/// was read; in a pipeline whose transforms mask columns, they are masked (see <see cref="Masked"/>).
/// </summary>
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

    /// <summary>
    /// <c>true</c> on a dead letter of a pipeline whose transforms mask columns: its key and value are the record as it was
    /// read with those columns masked, each framed with the id of its masked schema (registered under
    /// <c>&lt;dead-letter topic&gt;-&lt;record full name&gt;</c>). Absent otherwise.
    /// </summary>
    public const string Masked = "dm.dlq.masked";

    /// <summary>
    /// With <see cref="Masked"/>: what could not be masked and was left out (null) rather than sent in clear — <c>key</c>,
    /// <c>value</c> or <c>key,value</c> — for example a value that is not Avro in the Confluent wire format, or whose schema is
    /// unknown. <see cref="PipelineOptions.UnmaskedDeadLetterTopic"/> keeps the original when set.
    /// </summary>
    public const string Withheld = "dm.dlq.withheld";
}
