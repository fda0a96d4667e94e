using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace DataMesh.Server.SchemaRegistry;

/// <summary>
/// The media types of the Schema Registry API, as Confluent's resources declare them: bodies are taken as
/// <c>application/vnd.schemaregistry.v1+json</c>, <c>application/vnd.schemaregistry+json</c>, <c>application/json</c> or
/// <c>application/octet-stream</c> (what a body without a Content-Type is taken as); answers are in the first of
/// <c>application/vnd.schemaregistry.v1+json</c> (server quality 1), <c>application/vnd.schemaregistry+json</c> (0.9) and
/// <c>application/json</c> (0.5) that the client's Accept prefers.
/// </summary>
internal static class SchemaRegistryMediaTypes
{
    /// <summary>Confluent's media type for the API's requests and responses, and the answer to a client that accepts anything.</summary>
    public const string V1Json = "application/vnd.schemaregistry.v1+json";

    /// <summary>The answer types, best first by the server's quality.</summary>
    private static readonly string[] Produced = [V1Json, "application/vnd.schemaregistry+json", "application/json"];

    private static readonly string[] Consumed = [.. Produced, "application/octet-stream"];

    /// <summary>Whether a request body of <paramref name="contentType"/> (the header's value, or null) is read.</summary>
    public static bool IsReadable(string? contentType) =>
        string.IsNullOrEmpty(contentType) ||
        (MediaTypeHeaderValue.TryParse(contentType, out var parsed) &&
         Consumed.Contains(parsed.MediaType.Value, StringComparer.OrdinalIgnoreCase));

    /// <summary>
    /// The answer's type for <paramref name="request"/>'s Accept: the produced type with the highest quality the client
    /// gives it (from its most specific matching range), ties to the server's order. A client that accepts none of them,
    /// or sends an Accept that does not parse, gets <see cref="V1Json"/> (Confluent answers 406; every JSON client reads it).
    /// </summary>
    public static string ResponseType(HttpRequest request)
    {
        var accept = request.Headers.Accept;
        if (StringValues.IsNullOrEmpty(accept) || !MediaTypeHeaderValue.TryParseList(accept, out var ranges) || ranges.Count == 0)
        {
            return V1Json;
        }

        var best = V1Json;
        var bestQuality = 0.0;
        foreach (var type in Produced)
        {
            var quality = QualityOf(type, ranges);
            if (quality > bestQuality)
            {
                best = type;
                bestQuality = quality;
            }
        }

        return best;
    }

    /// <summary>The quality of <paramref name="type"/> in the client's ranges: that of the most specific range that matches it, 0 if none does.</summary>
    private static double QualityOf(string type, IList<MediaTypeHeaderValue> ranges)
    {
        var specificity = -1;
        var quality = 0.0;
        foreach (var range in ranges)
        {
            // Not IsSubsetOf: it takes application/vnd.schemaregistry.v1+json as a subset of application/json (the +json
            // suffix), where Jersey, as HTTP, matches a type only by its name or a wildcard.
            var (rangeSpecificity, matches) = range.MatchesAllTypes ? (0, true)
                : range.MatchesAllSubTypes ? (1, type.StartsWith(range.Type.Value + "/", StringComparison.OrdinalIgnoreCase))
                : (2, string.Equals(type, range.MediaType.Value, StringComparison.OrdinalIgnoreCase));
            if (matches && rangeSpecificity > specificity)
            {
                specificity = rangeSpecificity;
                quality = range.Quality ?? 1.0;
            }
        }

        return quality;
    }
}
