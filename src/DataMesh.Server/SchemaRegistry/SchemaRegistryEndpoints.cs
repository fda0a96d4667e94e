using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace DataMesh.Server.SchemaRegistry;

/// <summary>The routes of the Schema Registry API, as Confluent's REST API names them.</summary>
internal static class SchemaRegistryEndpoints
{
    public static void Map(RouteGroupBuilder group, SchemaRegistryApi api)
    {
        group.MapGet("/schemas/ids/{id}", (RequestDelegate)api.GetSchemaByIdAsync);
        group.MapGet("/schemas/ids/{id}/schema", (RequestDelegate)api.GetRawSchemaByIdAsync);
        group.MapGet("/schemas/ids/{id}/versions", (RequestDelegate)api.GetVersionsOfIdAsync);
        group.MapGet("/schemas/ids/{id}/subjects", (RequestDelegate)api.GetSubjectsOfIdAsync);
        group.MapGet("/schemas/types", (RequestDelegate)api.GetSchemaTypesAsync);
        group.MapGet("/associations/resources/{**resource}", (RequestDelegate)api.GetAssociationsAsync);
        group.MapGet("/subjects", (RequestDelegate)api.GetSubjectsAsync);
        group.MapPost("/subjects/{subject}", (RequestDelegate)api.LookUpAsync);
        group.MapDelete("/subjects/{subject}", (RequestDelegate)api.DeleteSubjectAsync);
        group.MapGet("/subjects/{subject}/versions", (RequestDelegate)api.GetVersionNumbersAsync);
        group.MapPost("/subjects/{subject}/versions", (RequestDelegate)api.RegisterAsync);
        group.MapGet("/subjects/{subject}/versions/{version}", (RequestDelegate)api.GetVersionAsync);
        group.MapGet("/subjects/{subject}/versions/{version}/schema", (RequestDelegate)api.GetRawVersionAsync);
        group.MapGet("/subjects/{subject}/versions/{version}/referencedby", (RequestDelegate)api.GetReferencedByAsync);
        group.MapDelete("/subjects/{subject}/versions/{version}", (RequestDelegate)api.DeleteVersionAsync);
        group.MapPost("/compatibility/subjects/{subject}/versions/{version}", (RequestDelegate)api.CheckCompatibilityAsync);
        group.MapPost("/compatibility/subjects/{subject}/versions", (RequestDelegate)api.CheckCompatibilityWithAllAsync);
        group.MapGet("/config", (RequestDelegate)api.GetConfigAsync);
        group.MapPut("/config", (RequestDelegate)api.SetConfigAsync);
        group.MapGet("/config/{subject}", (RequestDelegate)api.GetConfigAsync);
        group.MapPut("/config/{subject}", (RequestDelegate)api.SetConfigAsync);
        group.MapGet("/mode", (RequestDelegate)api.GetModeAsync);
        group.MapGet("/mode/{subject}", (RequestDelegate)api.GetModeAsync);
        group.MapPut("/mode", (RequestDelegate)api.SetModeAsync);
        group.MapPut("/mode/{subject}", (RequestDelegate)api.SetModeAsync);
        group.MapDelete("/config", (RequestDelegate)api.DeleteConfigAsync);
        group.MapDelete("/config/{subject}", (RequestDelegate)api.DeleteConfigAsync);
    }
}
