namespace DataMesh.Pipelines.Transforms;

/// <summary>What a transform made of one record.</summary>
public enum TransformOutcome
{
    /// <summary>The record goes on, with the bytes written to the output.</summary>
    Emit,

    /// <summary>The record is filtered out: nothing goes on, and its offset still counts as processed.</summary>
    Drop,

    /// <summary>The record becomes a tombstone (a null value with its key), for example a delete after unwrap.</summary>
    Tombstone,
}
