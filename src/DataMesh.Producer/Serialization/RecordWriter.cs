using DataMesh.Avro;

namespace DataMesh.Producer.Serialization;

/// <summary>Writes one member of <typeparamref name="T"/> as a record field.</summary>
internal abstract class MemberWriter<T>
{
    public abstract void Write(ref AvroWriter writer, ref T instance);
}

internal sealed class FieldWriter<T, TField>(RefGetter<T, TField> getter, AvroValueWriter<TField> writer) : MemberWriter<T>
{
    public override void Write(ref AvroWriter output, ref T instance) => writer.Write(ref output, getter(ref instance));
}

/// <summary>
/// A record: its fields in schema order. The fields are set after construction, so that a type that contains itself
/// (a tree, a linked list) refers to the writer being built.
/// </summary>
internal sealed class RecordWriter<T> : AvroValueWriter<T>
{
    private MemberWriter<T>[] _fields = [];

    public void SetFields(MemberWriter<T>[] fields) => _fields = fields;

    public override void Write(ref AvroWriter writer, T value) => WriteFields(ref writer, ref value);

    public void WriteFields(ref AvroWriter writer, ref T value)
    {
        foreach (var field in _fields)
        {
            field.Write(ref writer, ref value);
        }
    }
}

/// <summary>Writes the key member of an event, and gives its text for the outbox's <c>aggregate_id</c> column.</summary>
internal abstract class KeyWriter<T>
{
    public abstract void Write(ref AvroWriter writer, ref T instance);

    public abstract string? Text(ref T instance);
}

internal sealed class KeyWriter<T, TKey>(RefGetter<T, TKey> getter, AvroValueWriter<TKey> writer) : KeyWriter<T>
{
    public override void Write(ref AvroWriter output, ref T instance) => writer.Write(ref output, getter(ref instance));

    public override string? Text(ref T instance) => getter(ref instance) switch
    {
        null => null,
        byte[] bytes => Convert.ToHexString(bytes),
        IFormattable formattable => formattable.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        var other => other.ToString(),
    };
}
