namespace DataMesh.Pipelines.Transforms;

/// <summary>Per-record state carried along a transform chain.</summary>
public struct RecordContext
{
    /// <summary>The topic the record goes to, set by a route transform; <see langword="null"/> for the pipeline's default target.</summary>
    public string? Topic { get; set; }
}
