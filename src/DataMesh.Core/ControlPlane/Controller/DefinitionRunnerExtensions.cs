using DataMesh.ControlPlane.Controller;
using DataMesh.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DataMesh;

/// <summary>Adds the definition runner (what <c>datamesh run</c> hosts) to a DataMesh host.</summary>
public static class DefinitionRunnerExtensions
{
    /// <summary>
    /// Runs the sources and pipelines of the definition applied on the host's cluster (<see cref="DataMeshController.ApplyAsync"/>,
    /// <c>datamesh apply</c>), following every later apply, pause, resume, snapshot and delete. Several hosts with a
    /// runner share the work: a source runs on one at a time (its lease), a pipeline on all (its consumer group).
    /// </summary>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="configure">Sets the runner's options; <see cref="DataMeshControllerOptions.SourceTypes"/> must list the
    /// source types the definitions use (the connectors' <c>ConnectorSourceTypes.All</c>).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">A setting is invalid.</exception>
    public static DataMeshBuilder AddDefinitionRunner(this DataMeshBuilder builder, Action<DataMeshControllerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new DataMeshControllerOptions();
        configure(options);
        options.Validate();
        builder.Services.AddSingleton<IHostedService>(sp => new DefinitionRunner(sp, options));
        return builder;
    }
}
