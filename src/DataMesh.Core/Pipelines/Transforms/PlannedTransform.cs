using System.Buffers;

namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// A transform planned for one input schema: it reads a record datum (Avro binary, without the Confluent header) and
/// writes the output datum, allocating nothing per record.
/// </summary>
/// <remarks>Planned transforms are immutable and thread-safe; <see cref="Execute"/> may run on many threads at once.</remarks>
public abstract class PlannedTransform
{
    private protected PlannedTransform(Transform transform, global::Avro.RecordSchema inputSchema, global::Avro.RecordSchema outputSchema)
    {
        Transform = transform;
        InputSchema = inputSchema;
        OutputSchema = outputSchema;
    }

    /// <summary>The transform this plan was made from.</summary>
    public Transform Transform { get; }

    /// <summary>The schema of the records this plan reads.</summary>
    public global::Avro.RecordSchema InputSchema { get; }

    /// <summary>The schema of the records this plan writes.</summary>
    public global::Avro.RecordSchema OutputSchema { get; }

    /// <summary>
    /// Whether the transform only decides (keep, drop, route) and leaves the bytes unchanged, so that a chain can skip the
    /// copy; <see cref="Execute"/> still copies for callers that run it alone.
    /// </summary>
    public virtual bool PassesBytesThrough => false;

    /// <summary>
    /// Whether <see cref="Execute"/> writes a raw record ([framed value][key][headers JSON], described by
    /// <see cref="RecordContext.IsRaw"/> and its lengths) instead of a datum of <see cref="OutputSchema"/>: the outbox router.
    /// </summary>
    internal virtual bool EmitsRawRecords => false;

    /// <summary>Runs the transform on one record.</summary>
    /// <param name="input">One datum of <see cref="InputSchema"/>.</param>
    /// <param name="output">Receives one datum of <see cref="OutputSchema"/> when the outcome is <see cref="TransformOutcome.Emit"/>; nothing otherwise.</param>
    /// <param name="context">Per-record state shared along a chain (the target topic).</param>
    /// <returns>What became of the record.</returns>
    /// <exception cref="TransformException">The record cannot be transformed (a value that does not cast, malformed bytes).</exception>
    public abstract TransformOutcome Execute(ReadOnlySpan<byte> input, IBufferWriter<byte> output, ref RecordContext context);
}
