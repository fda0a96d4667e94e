using DataMesh.Avro;

namespace DataMesh.Producer.Serialization;

/// <summary>
/// Writes one CLR value as Avro. Writers are composed once per event type (by <see cref="EventSchemaBuilder"/>) and
/// then called for every event: no reflection, no boxing, no allocation.
/// </summary>
/// <typeparam name="T">The CLR type written.</typeparam>
internal abstract class AvroValueWriter<T>
{
    public abstract void Write(ref AvroWriter writer, T value);
}

/// <summary>Reads a member of <typeparamref name="T"/> through a reference, so that structs are not copied per member.</summary>
internal delegate TField RefGetter<T, TField>(ref T instance);

/// <summary>Rejects a null in a member whose type is not nullable, naming the member, then writes the value.</summary>
internal sealed class RequiredWriter<T>(AvroValueWriter<T> inner, string path) : AvroValueWriter<T>
    where T : class
{
    public override void Write(ref AvroWriter writer, T value)
    {
        if (value is null)
        {
            throw new ArgumentException($"'{path}' is null, but its type is not nullable: declare it nullable (e.g. string?) to allow null.");
        }

        inner.Write(ref writer, value);
    }
}

/// <summary>A nullable reference: the union <c>["null", T]</c>.</summary>
internal sealed class NullableReferenceWriter<T>(AvroValueWriter<T> inner) : AvroValueWriter<T?>
    where T : class
{
    public override void Write(ref AvroWriter writer, T? value)
    {
        if (value is null)
        {
            writer.WriteUnionIndex(0);
        }
        else
        {
            writer.WriteUnionIndex(1);
            inner.Write(ref writer, value);
        }
    }
}

/// <summary>A <see cref="Nullable{T}"/>: the union <c>["null", T]</c>.</summary>
internal sealed class NullableValueWriter<T>(AvroValueWriter<T> inner) : AvroValueWriter<T?>
    where T : struct
{
    public override void Write(ref AvroWriter writer, T? value)
    {
        if (value.HasValue)
        {
            writer.WriteUnionIndex(1);
            inner.Write(ref writer, value.GetValueOrDefault());
        }
        else
        {
            writer.WriteUnionIndex(0);
        }
    }
}
