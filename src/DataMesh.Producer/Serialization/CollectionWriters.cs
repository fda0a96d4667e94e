using System.Runtime.InteropServices;
using DataMesh.Avro;

namespace DataMesh.Producer.Serialization;

internal sealed class ArrayWriter<TItem>(AvroValueWriter<TItem> items) : AvroValueWriter<TItem[]>
{
    public override void Write(ref AvroWriter writer, TItem[] value)
    {
        writer.WriteArrayStart(value.Length);
        foreach (var item in value)
        {
            items.Write(ref writer, item);
        }

        writer.WriteArrayEnd();
    }
}

internal sealed class ListWriter<TItem>(AvroValueWriter<TItem> items) : AvroValueWriter<List<TItem>>
{
    public override void Write(ref AvroWriter writer, List<TItem> value)
    {
        var span = CollectionsMarshal.AsSpan(value);
        writer.WriteArrayStart(span.Length);
        foreach (var item in span)
        {
            items.Write(ref writer, item);
        }

        writer.WriteArrayEnd();
    }
}

/// <summary>Any <see cref="IReadOnlyList{T}"/> (including structs such as <c>ImmutableArray&lt;T&gt;</c>, called without boxing).</summary>
internal sealed class ReadOnlyListWriter<TList, TItem>(AvroValueWriter<TItem> items) : AvroValueWriter<TList>
    where TList : IReadOnlyList<TItem>
{
    public override void Write(ref AvroWriter writer, TList value)
    {
        var count = value.Count;
        writer.WriteArrayStart(count);
        for (var i = 0; i < count; i++)
        {
            items.Write(ref writer, value[i]);
        }

        writer.WriteArrayEnd();
    }
}

internal sealed class ListInterfaceWriter<TList, TItem>(AvroValueWriter<TItem> items) : AvroValueWriter<TList>
    where TList : IList<TItem>
{
    public override void Write(ref AvroWriter writer, TList value)
    {
        var count = value.Count;
        writer.WriteArrayStart(count);
        for (var i = 0; i < count; i++)
        {
            items.Write(ref writer, value[i]);
        }

        writer.WriteArrayEnd();
    }
}

/// <summary>Any other sequence: one block with the count when it is known without enumerating, else one block per item
/// (valid Avro; it costs one byte per item), so that a sequence is enumerated exactly once.</summary>
internal sealed class EnumerableWriter<TSequence, TItem>(AvroValueWriter<TItem> items, string path) : AvroValueWriter<TSequence>
    where TSequence : IEnumerable<TItem>
{
    public override void Write(ref AvroWriter writer, TSequence value)
    {
        if (value.TryGetNonEnumeratedCount(out var count))
        {
            writer.WriteArrayStart(count);
            var written = 0;
            foreach (var item in value)
            {
                if (++written > count)
                {
                    break;
                }

                items.Write(ref writer, item);
            }

            if (written != count)
            {
                throw new ArgumentException($"'{path}' reported {count} items but enumerated {written}.");
            }

            writer.WriteArrayEnd();
            return;
        }

        foreach (var item in value)
        {
            writer.WriteBlockCount(1);
            items.Write(ref writer, item);
        }

        writer.WriteBlockEnd();
    }
}

internal sealed class DictionaryWriter<TValue>(AvroValueWriter<TValue> values, string path) : AvroValueWriter<Dictionary<string, TValue>>
{
    public override void Write(ref AvroWriter writer, Dictionary<string, TValue> value)
    {
        writer.WriteMapStart(value.Count);
        foreach (var (key, item) in value)
        {
            WriteKey(ref writer, key, path);
            values.Write(ref writer, item);
        }

        writer.WriteMapEnd();
    }

    internal static void WriteKey(ref AvroWriter writer, string key, string path)
    {
        try
        {
            writer.WriteString(key);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"a key of '{path}': {ex.Message}", ex);
        }
    }
}

/// <summary>Any other <c>IEnumerable&lt;KeyValuePair&lt;string, TValue&gt;&gt;</c> (IDictionary, IReadOnlyDictionary, sorted dictionaries ...).</summary>
internal sealed class MapWriter<TMap, TValue>(AvroValueWriter<TValue> values, string path) : AvroValueWriter<TMap>
    where TMap : IEnumerable<KeyValuePair<string, TValue>>
{
    public override void Write(ref AvroWriter writer, TMap value)
    {
        var known = value.TryGetNonEnumeratedCount(out var count);
        if (known)
        {
            writer.WriteMapStart(count);
        }

        var written = 0;
        foreach (var (key, item) in value)
        {
            if (!known)
            {
                writer.WriteBlockCount(1);
            }
            else if (++written > count)
            {
                throw new ArgumentException($"'{path}' reported {count} entries but enumerated more.");
            }

            DictionaryWriter<TValue>.WriteKey(ref writer, key, path);
            values.Write(ref writer, item);
        }

        if (known && written != count)
        {
            throw new ArgumentException($"'{path}' reported {count} entries but enumerated {written}.");
        }

        writer.WriteMapEnd();
    }
}
