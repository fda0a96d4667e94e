using System.Globalization;
using System.Text;
using Avro.Generic;
using Avro.IO;
using Confluent.Kafka;
using DataMesh.Avro;
using DataMesh.Schemas;

namespace OrderConsumer;

/// <summary>
/// Reads domain events back from Kafka and decodes them with nothing but the schema store: the schema id in each
/// message's Confluent wire-format header gives the writer schema, Apache.Avro's generic reader does the rest. A
/// consumer needs none of the producer's C# types.
/// </summary>
public static class OrderEventReader
{
    /// <summary>Prints events of <paramref name="topics"/> from the beginning until <paramref name="count"/> were read (or forever when null).</summary>
    public static async Task<int> PrintAsync(ConsumerConfig config, ISchemaStore schemas, IReadOnlyList<string> topics, int? count, TextWriter output, CancellationToken cancellationToken)
    {
        // Consume blocks: it runs on a task of its own, as the Confluent examples do.
        return await Task.Run(
            async () =>
            {
                using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
                consumer.Subscribe(topics);
                var read = 0;
                while (!cancellationToken.IsCancellationRequested && (count is null || read < count))
                {
                    var result = consumer.Consume(TimeSpan.FromMilliseconds(250));
                    if (result is null || result.IsPartitionEOF)
                    {
                        continue;
                    }

                    read++;
                    var key = result.Message.Key is { } k ? Render(await DecodeAsync(schemas, k, cancellationToken)) : "null";
                    var value = result.Message.Value is { } v ? Render(await DecodeAsync(schemas, v, cancellationToken)) : "null";
                    var type = Header(result, "ce_type");
                    var id = Header(result, "ce_id");
                    await output.WriteLineAsync($"  [{result.Topic} p{result.Partition.Value}@{result.Offset.Value}] {type[(type.LastIndexOf('.') + 1)..]} key={key} ce_id={id}\n      {value}");
                }

                consumer.Close();
                return read;
            },
            cancellationToken);
    }

    private static async Task<object?> DecodeAsync(ISchemaStore schemas, byte[] message, CancellationToken cancellationToken)
    {
        ConfluentWireFormat.ReadHeader(message, out var schemaId, out _);
        var schema = await schemas.GetByIdAsync(schemaId, cancellationToken);
        var reader = new GenericDatumReader<object>(schema, schema);
        using var stream = new MemoryStream(message, ConfluentWireFormat.HeaderLength, message.Length - ConfluentWireFormat.HeaderLength);
        return reader.Read(null!, new BinaryDecoder(stream));
    }

    private static string Header(ConsumeResult<byte[]?, byte[]?> result, string name) =>
        result.Message.Headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : "";

    /// <summary>A compact JSON-like rendering of a decoded Avro value.</summary>
    public static string Render(object? value) => value switch
    {
        null => "null",
        string s => "\"" + s + "\"",
        GenericRecord record => "{" + string.Join(", ", record.Schema.Fields.Select(f => f.Name + ": " + Render(record[f.Name]))) + "}",
        GenericEnum symbol => symbol.Value,
        Dictionary<string, object> map => "{" + string.Join(", ", map.Select(e => e.Key + ": " + Render(e.Value))) + "}",
        object[] array => "[" + string.Join(", ", array.Select(Render)) + "]",
        byte[] bytes => "0x" + Convert.ToHexString(bytes),
        Avro.AvroDecimal number => number.ToString(),
        DateTime time => time.ToString("O", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
