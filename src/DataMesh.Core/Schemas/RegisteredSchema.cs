using Avro;

namespace DataMesh.Schemas;

/// <summary>One version of a subject's schema, as a schema store holds it.</summary>
/// <param name="Subject">The subject, e.g. <c>pg.shop.public.orders-value</c>.</param>
/// <param name="Version">The version within the subject, from 1.</param>
/// <param name="Id">The schema id, a positive int32 as written in the Confluent wire format.</param>
/// <param name="Schema">The Avro schema.</param>
public sealed record RegisteredSchema(string Subject, int Version, int Id, Schema Schema);
