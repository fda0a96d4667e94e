using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace DataMesh.Server.Controller;

/// <summary>The routes of the controller's API (<c>docs/server.md</c>).</summary>
internal static class ControllerEndpoints
{
    public static void Map(RouteGroupBuilder group, ControllerApi api)
    {
        group.MapGet("/status", (RequestDelegate)api.GetStatusAsync);
        group.MapGet("/definition", (RequestDelegate)api.GetDefinitionAsync);
        group.MapDelete("/definition", (RequestDelegate)api.DeleteAsync);
        group.MapPost("/validate", (RequestDelegate)api.ValidateAsync);
        group.MapPost("/plan", (RequestDelegate)api.PlanAsync);
        group.MapPost("/apply", (RequestDelegate)api.ApplyAsync);
        foreach (var (plural, kind) in new[] { ("sources", "source"), ("pipelines", "pipeline") })
        {
            group.MapGet("/" + plural, context => api.ListAsync(context, kind));
            group.MapGet("/" + plural + "/{name}", context => api.GetComponentAsync(context, kind));
            group.MapPost("/" + plural + "/{name}/pause", context => api.PauseAsync(context, kind));
            group.MapPost("/" + plural + "/{name}/resume", context => api.ResumeAsync(context, kind));
        }

        group.MapPost("/sources/{name}/snapshot", (RequestDelegate)api.SnapshotAsync);
    }
}
