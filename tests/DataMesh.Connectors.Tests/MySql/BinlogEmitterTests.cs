using System.Buffers;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Events;
using DataMesh.Sources;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>The binlog path through the source runtime's envelope writer gives the same bytes as Core's object-path
/// <see cref="ChangeEventEncoder"/> for the same rows (every column type of the recorded workload, NULLs and extremes),
/// in both decimal handlings.</summary>
public sealed class BinlogEmitterTests
{
    private const long Now = 1_700_000_000_123;

    [Theory]
    [InlineData(DecimalHandling.Precise, "workload.binlog", 15)]
    [InlineData(DecimalHandling.String, "workload.binlog", 15)]
    [InlineData(DecimalHandling.Precise, "decoder.binlog", 12)]
    public void Envelopes_and_keys_equal_the_object_path_encoders_bytes(DecimalHandling decimals, string file, int rows)
    {
        var events = new ChangeEventOptions { DecimalHandling = decimals };
        var context = new EncodingHost(MySqlSourceFields.Describe("shop"), events) { FixedIds = (7, 8), FixedTimestampMs = Now }.Context<MySqlPosition>();
        var handler = new ComparingHandler(decimals, events, context, file);
        var processor = BinlogEvents.Processor(handler, file: file);
        handler.Emitter.Processor = processor;
        foreach (var e in BinlogEvents.Split(Fixtures.Read(file)))
        {
            processor.Process(e);
        }

        Assert.True(handler.Compared >= rows, $"{handler.Compared} rows compared");
    }

    [Fact]
    public void The_truncate_envelope_equals_the_object_path_encoders_bytes()
    {
        var events = new ChangeEventOptions();
        var context = new EncodingHost(MySqlSourceFields.Describe("src"), events) { FixedIds = (7, 8), FixedTimestampMs = Now }.Context<MySqlPosition>();
        var emitter = new BinlogEmitter("src", new MySqlSourceOptions(), context, null!, NullLogger.Instance);
        var table = TruncateTests.Table("shop", "orders");
        var transaction = new TransactionState
        {
            Gtid = "0-1-42",
            GtidUtf8 = "0-1-42"u8.ToArray(),
            Sequence = 42,
            ServerId = 1,
            ThreadId = 7,
            TimestampMs = 1_700_000_000_000,
        };
        emitter.OnTruncate(table, 1234, transaction);
        var record = Assert.Single(context.TakeEncoded());
        Assert.Null(record.Key);
        Assert.Equal(0, record.Partition);

        var schemas = ChangeEventSchemas.Build(table.ToDescription(), MySqlSourceFields.Describe("src"), events);
        var reference = new ArrayBufferWriter<byte>();
        var source = new SourceValues
        {
            TimestampMs = transaction.TimestampMs,
            Snapshot = "false",
            Database = "shop",
            Table = "orders",
            TransactionId = 42,
            Position = [string.Empty, 1234L, 0L, 1L, "0-1-42", 7L, null, null, null],
        };
        new ChangeEventEncoder(schemas, 7, 8).WriteValue(reference, ChangeOperation.Truncate, null, null, source, Now);
        Assert.Equal(reference.WrittenSpan.ToArray(), record.Value);
    }

    private sealed class ComparingHandler : RecordingHandler
    {
        private readonly DecimalHandling _decimals;
        private readonly ChangeEventOptions _events;
        private readonly SourceContext<MySqlPosition> _context;
        private readonly Dictionary<MySqlTable, ChangeEventEncoder> _encoders = [];

        private readonly string _file;

        public ComparingHandler(DecimalHandling decimals, ChangeEventOptions events, SourceContext<MySqlPosition> context, string file)
        {
            _file = file;
            _decimals = decimals;
            _events = events;
            _context = context;
            Emitter = new BinlogEmitter("shop", new MySqlSourceOptions(), context, null!, NullLogger.Instance);
        }

        public BinlogEmitter Emitter { get; }

        public int Compared { get; private set; }

        public override void OnRow(scoped in RowChange change, TransactionState transaction)
        {
            var table = change.Binding.Table;
            if ((change.Before?.MissingCount ?? 0) + (change.After?.MissingCount ?? 0) > 0)
            {
                return; // the object path has no "missing"; those rows are covered by the fixture tests
            }

            Emitter.OnRow(change, transaction);
            var records = _context.TakeEncoded();
            if (!_encoders.TryGetValue(table, out var encoder))
            {
                encoder = new ChangeEventEncoder(ChangeEventSchemas.Build(table.ToDescription(), MySqlSourceFields.Describe("shop"), _events), 7, 8);
                _encoders[table] = encoder;
            }

            var before = Values(change.Rows, change.Before, change.Binding);
            var after = Values(change.Rows, change.After, change.Binding);
            var operation = change.Kind switch { RowsKind.Insert => ChangeOperation.Create, RowsKind.Update => ChangeOperation.Update, _ => ChangeOperation.Delete };
            if (operation == ChangeOperation.Update && records.Count != 1)
            {
                return; // a key change: delete, tombstone and create, checked by the runtime's own tests
            }

            var source = new SourceValues
            {
                TimestampMs = transaction.TimestampMs,
                Snapshot = "false",
                Database = table.Database,
                Table = table.Name,
                TransactionId = transaction.Sequence,
                Position = [_file, change.Position, (long)change.Row, (long)transaction.ServerId, transaction.Gtid, transaction.ThreadId == 0 ? null : (long)transaction.ThreadId, null, null, null],
            };
            var reference = new ArrayBufferWriter<byte>();
            encoder.WriteValue(reference, operation, before, after, source, Now);
            Assert.Equal(reference.WrittenSpan.ToArray(), records[0].Value);
            if (encoder.Schemas.KeySchema is not null)
            {
                var referenceKey = new ArrayBufferWriter<byte>();
                Assert.True(encoder.WriteKey(referenceKey, before ?? after!));
                Assert.Equal(referenceKey.WrittenSpan.ToArray(), records[0].Key);
                Assert.Equal(operation == ChangeOperation.Delete ? 2 : 1, records.Count); // a delete's tombstone
            }
            else
            {
                Assert.Equal(0, records[0].Partition);
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
                values[i] = image.State(i) == CellState.Null ? null : CellValues.ToObject(image.Cell(rows, i), binding.Columns[i], _decimals == DecimalHandling.String);
            }

            return values;
        }
    }
}
