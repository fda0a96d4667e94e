namespace DataMesh.Pipelines.Transforms;

/// <summary>Per-record state carried along a transform chain.</summary>
public struct RecordContext
{
    /// <summary>The topic the record goes to, set by a route transform; <see langword="null"/> for the pipeline's default target.</summary>
    public string? Topic { get; set; }

    /// <summary>
    /// Set by a transform that emits a record that is already complete (the outbox router): the output it wrote is then
    /// the value in the Confluent wire format (<see cref="RawValueLength"/> bytes, with its own schema id), followed by the
    /// key (<see cref="RawKeyLength"/> bytes, -1 for none) and the headers as a JSON object (<see cref="RawHeadersLength"/>
    /// bytes, 0 for none). Such a transform must be the chain's last.
    /// </summary>
    internal bool IsRaw { get; set; }

    /// <summary>With <see cref="IsRaw"/>: the length of the framed value at the start of the output.</summary>
    internal int RawValueLength { get; set; }

    /// <summary>With <see cref="IsRaw"/>: the length of the key after the value, or -1 when the record has no key.</summary>
    internal int RawKeyLength { get; set; }

    /// <summary>With <see cref="IsRaw"/>: the length of the headers JSON after the key, or 0.</summary>
    internal int RawHeadersLength { get; set; }
}
