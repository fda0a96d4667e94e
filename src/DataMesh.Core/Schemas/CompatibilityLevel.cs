namespace DataMesh.Schemas;

/// <summary>
/// How a new version of a subject's schema must relate to the versions before it, with the meanings of
/// Confluent Schema Registry's levels of the same names. "Can read" follows the Avro specification's schema
/// resolution rules.
/// </summary>
public enum CompatibilityLevel
{
    /// <summary>No check: any schema is accepted.</summary>
    None,

    /// <summary>The new schema can read data written with the latest version (the default).</summary>
    Backward,

    /// <summary>The latest version can read data written with the new schema.</summary>
    Forward,

    /// <summary>Both <see cref="Backward"/> and <see cref="Forward"/> against the latest version.</summary>
    Full,

    /// <summary>The new schema can read data written with every earlier version.</summary>
    BackwardTransitive,

    /// <summary>Every earlier version can read data written with the new schema.</summary>
    ForwardTransitive,

    /// <summary>Both <see cref="BackwardTransitive"/> and <see cref="ForwardTransitive"/>.</summary>
    FullTransitive,
}
