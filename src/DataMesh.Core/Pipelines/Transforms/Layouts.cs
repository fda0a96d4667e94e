namespace DataMesh.Pipelines.Transforms;

/// <summary>Finds fields by name and describes how their values are encoded.</summary>
internal static class Layouts
{
    /// <summary>The layout of a field of type <paramref name="schema"/>: a plain type or a union of null and one type.</summary>
    public static ValueLayout Of(global::Avro.Schema schema)
    {
        var nullBranch = -1;
        if (schema is global::Avro.UnionSchema union)
        {
            if (union.Count != 2 || (union[0].Tag != global::Avro.Schema.Type.Null && union[1].Tag != global::Avro.Schema.Type.Null))
            {
                return new ValueLayout(-1, ValueKind.Other, 0);
            }

            nullBranch = union[0].Tag == global::Avro.Schema.Type.Null ? 0 : 1;
            schema = union[1 - nullBranch];
        }

        var (kind, scale) = KindOf(schema);
        return new ValueLayout(nullBranch, kind, scale);
    }

    /// <summary>The value schema of a field: the non-null branch of a nullable union, else the type itself.</summary>
    public static global::Avro.Schema ValueSchema(global::Avro.Schema schema) =>
        schema is global::Avro.UnionSchema { Count: 2 } union && (union[0].Tag == global::Avro.Schema.Type.Null || union[1].Tag == global::Avro.Schema.Type.Null)
            ? union[union[0].Tag == global::Avro.Schema.Type.Null ? 1 : 0]
            : schema;

    private static (ValueKind Kind, int Scale) KindOf(global::Avro.Schema schema)
    {
        if (schema is global::Avro.LogicalSchema logical)
        {
            if (logical.LogicalTypeName == "decimal" && logical.BaseSchema.Tag == global::Avro.Schema.Type.Bytes)
            {
                return (ValueKind.Decimal, int.Parse(logical.GetProperty("scale") ?? "0", System.Globalization.CultureInfo.InvariantCulture));
            }

            schema = logical.BaseSchema;
        }

        return schema.Tag switch
        {
            global::Avro.Schema.Type.Boolean => (ValueKind.Boolean, 0),
            global::Avro.Schema.Type.Int => (ValueKind.Int, 0),
            global::Avro.Schema.Type.Long => (ValueKind.Long, 0),
            global::Avro.Schema.Type.Float => (ValueKind.Float, 0),
            global::Avro.Schema.Type.Double => (ValueKind.Double, 0),
            global::Avro.Schema.Type.String => (ValueKind.String, 0),
            global::Avro.Schema.Type.Bytes => (ValueKind.Bytes, 0),
            global::Avro.Schema.Type.Enumeration => (ValueKind.Enum, 0),
            _ => (ValueKind.Other, 0),
        };
    }

    /// <summary>The field of <paramref name="record"/> named <paramref name="name"/> by its Avro name or, failing that, its original column name (<c>dm.name</c>).</summary>
    public static global::Avro.Field? Find(global::Avro.RecordSchema record, string name)
    {
        if (record.TryGetField(name, out var field))
        {
            return field;
        }

        foreach (var f in record.Fields)
        {
            if (string.Equals(f.GetProperty(Events.AvroNames.OriginalNameProperty)?.Trim('"'), name, StringComparison.Ordinal))
            {
                return f;
            }
        }

        return null;
    }

    /// <summary>Like <see cref="Find"/>, throwing <see cref="TransformPlanException"/> naming the transform when the field is missing.</summary>
    public static global::Avro.Field Require(global::Avro.RecordSchema record, string name, string transform)
    {
        return Find(record, name) ?? throw new TransformPlanException(
            $"{transform}: the record {record.Fullname} has no field '{name}' (fields: {string.Join(", ", record.Fields.Select(f => f.Name))}){(NearestName.Hint(name, record.Fields.Select(f => f.Name)) is { Length: > 0 } hint ? hint : ".")}");
    }
}
