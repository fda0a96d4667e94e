using System.Buffers;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Events;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>The hot path writes the same bytes as Core's object-path <see cref="ChangeEventEncoder"/> for the same rows
/// (every column type of the recorded workload, NULLs and extremes), in both decimal handlings.</summary>
public sealed class EnvelopeWriterTests
{
    [Theory]
    [InlineData(DecimalHandling.Precise, "workload.binlog", 15)]
    [InlineData(DecimalHandling.String, "workload.binlog", 15)]
    [InlineData(DecimalHandling.Precise, "decoder.binlog", 12)]
    public void Envelopes_and_keys_equal_the_object_path_encoders_bytes(DecimalHandling decimals, string file, int rows)
    {
        var handler = new ComparingHandler(decimals);
        var processor = BinlogEvents.Processor(handler, file: file);
        foreach (var e in BinlogEvents.Split(Fixtures.Read(file)))
        {
            processor.Process(e);
        }

        Assert.True(handler.Compared >= rows, $"{handler.Compared} rows compared");
    }

    private sealed class ComparingHandler(DecimalHandling decimals) : RecordingHandler
    {
        private readonly RowEncoder _rows = new(decimals);
        private readonly Dictionary<DataMesh.Connectors.MySql.Schema.MySqlTable, (ChangeEventEncoder Encoder, EnvelopeWriter Writer)> _tables = [];

        public int Compared { get; private set; }

        public override void OnRow(scoped in RowChange change, TransactionState transaction)
        {
            var table = change.Binding.Table;
            if (!_tables.TryGetValue(table, out var pair))
            {
                var schemas = ChangeEventSchemas.Build(table.ToDescription(), MySqlSourceFields.Describe("shop"), new ChangeEventOptions { DecimalHandling = decimals });
                pair = (new ChangeEventEncoder(schemas, 7, 8), new EnvelopeWriter(schemas, _rows));
                _tables[table] = pair;
            }

            if ((change.Before?.MissingCount ?? 0) + (change.After?.MissingCount ?? 0) > 0)
            {
                return; // the object path has no "missing"; those rows are covered by the fixture tests
            }

            var ours = new ArrayBufferWriter<byte>();
            pair.Writer.WriteEnvelope(ours, 8, change, transaction, "mariadb-bin.000004", 1_700_000_000_123);
            var before = Values(change.Rows, change.Before, change.Binding);
            var after = Values(change.Rows, change.After, change.Binding);
            var source = new SourceValues
            {
                TimestampMs = transaction.TimestampMs,
                Snapshot = "false",
                Database = table.Database,
                Table = table.Name,
                TransactionId = transaction.Sequence,
                Position = ["mariadb-bin.000004", change.Position, (long)change.Row, (long)transaction.ServerId, transaction.Gtid, transaction.ThreadId == 0 ? null : (long)transaction.ThreadId, null, null, null],
            };
            var reference = new ArrayBufferWriter<byte>();
            var operation = change.Kind switch { RowsKind.Insert => ChangeOperation.Create, RowsKind.Update => ChangeOperation.Update, _ => ChangeOperation.Delete };
            pair.Encoder.WriteValue(reference, operation, before, after, source, 1_700_000_000_123);
            Assert.Equal(reference.WrittenSpan.ToArray(), ours.WrittenSpan.ToArray());

            if (pair.Writer.HasKey)
            {
                var ourKey = new ArrayBufferWriter<byte>();
                Assert.True(pair.Writer.WriteKey(ourKey, 7, change));
                var referenceKey = new ArrayBufferWriter<byte>();
                Assert.True(pair.Encoder.WriteKey(referenceKey, after ?? before!));
                Assert.Equal(referenceKey.WrittenSpan.ToArray(), ourKey.WrittenSpan.ToArray());
            }

            Compared++;
        }

        private object?[]? Values(ReadOnlySpan<byte> rows, RowImage? image, TableBinding binding)
        {
            if (image is null)
            {
                return null;
            }

            var values = new object?[binding.Columns.Length];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = image.State(i) == CellState.Null ? null : CellValues.ToObject(image.Cell(rows, i), binding.Columns[i], decimals == DecimalHandling.String);
            }

            return values;
        }
    }
}
