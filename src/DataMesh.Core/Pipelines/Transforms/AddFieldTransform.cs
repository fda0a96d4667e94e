using System.Buffers;
using System.Text.Json.Nodes;
using DataMesh.Avro;
using DataMesh.Events;

namespace DataMesh.Pipelines.Transforms;

/// <summary>Appends a field: a constant, or a value of the envelope such as <c>source.table</c> or <c>op</c>.</summary>
internal sealed class AddFieldTransform : RowTransform
{
    private readonly string _field;
    private readonly object? _constant;
    private readonly string? _envelopePath;

    private AddFieldTransform(string field, object? constant, string? envelopePath)
    {
        _field = field;
        _constant = constant;
        _envelopePath = envelopePath;
    }

    /// <summary>The name of the field it appends.</summary>
    internal string Field => _field;

    public override string Name => _envelopePath is null ? $"add({_field} = {_constant})" : $"add({_field} = {_envelopePath})";

    public static AddFieldTransform Constant(string field, object value)
    {
        if (value is not (string or long or int or double or bool))
        {
            throw new ArgumentException($"A constant field holds a string, long, int, double or bool, not {value.GetType().Name}.", nameof(value));
        }

        return new AddFieldTransform(Check(field), value, null);
    }

    public static AddFieldTransform FromEnvelope(string field, string path) => new(Check(field), null, path);

    private static string Check(string field) =>
        AvroNames.IsValid(field) ? field : throw new ArgumentException($"'{field}' is not a valid Avro field name.", nameof(field));

    protected override List<OutputField> PlanRow(global::Avro.RecordSchema row, global::Avro.RecordSchema? envelope)
    {
        var result = SchemaJson.Fields(row).Select((json, i) => Copy(row.Fields[i], json)).ToList();
        if (_envelopePath is null)
        {
            var buffer = new ArrayBufferWriter<byte>();
            var writer = new AvroWriter(buffer);
            string type;
            switch (_constant)
            {
                case string s:
                    writer.WriteString(s);
                    type = "string";
                    break;
                case int i:
                    writer.WriteInt(i);
                    type = "int";
                    break;
                case long l:
                    writer.WriteLong(l);
                    type = "long";
                    break;
                case double d:
                    writer.WriteDouble(d);
                    type = "double";
                    break;
                default:
                    writer.WriteBoolean((bool)_constant!);
                    type = "boolean";
                    break;
            }

            writer.Flush();
            result.Add(new OutputField(SchemaJson.Field(_field, type), new ConstantOp(buffer.WrittenSpan.ToArray())));
            return result;
        }

        if (envelope is null)
        {
            throw new TransformPlanException($"{Name}: the input {row.Fullname} is not a change-event envelope, so it has no '{_envelopePath}'.");
        }

        var steps = _envelopePath.Split('.');
        if (steps.Length > 2 || !envelope.TryGetField(steps[0], out var top))
        {
            throw new TransformPlanException($"{Name}: the envelope has no field '{_envelopePath}' (use op, ts_ms, or source.<field>).");
        }

        if (steps.Length == 1)
        {
            result.Add(new OutputField(SchemaJson.Field(_field, SchemaJson.Type(top.Schema)), new EnvelopeValueOp(top.Pos, null, 0)));
            return result;
        }

        if (top.Schema is not global::Avro.RecordSchema nested || !nested.TryGetField(steps[1], out var inner))
        {
            throw new TransformPlanException($"{Name}: the envelope has no field '{_envelopePath}'.");
        }

        var innerType = SchemaJson.Type(inner.Schema);
        var json = SchemaJson.Field(_field, innerType, nullDefault: innerType is JsonArray);
        result.Add(new OutputField(json, new EnvelopeValueOp(top.Pos, AvroSchemaPlan.Compile(nested), inner.Pos)));
        return result;
    }
}
