namespace DataMesh.Benchmarks;

/// <summary>One benchmark suite, selected by name on the command line.</summary>
internal interface IBenchmarkSuite
{
    /// <summary>The name on the command line (for example <c>avro</c>).</summary>
    string Name { get; }

    /// <summary>Runs the suite; the last line written to stdout is its one-line result.</summary>
    /// <param name="args">The arguments after the suite name.</param>
    /// <returns>The process exit code.</returns>
    int Run(string[] args);
}
