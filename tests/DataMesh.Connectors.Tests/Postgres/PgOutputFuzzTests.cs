using System.Buffers;
using DataMesh.Avro;
using DataMesh.Connectors.Postgres;
using DataMesh.Events;
using Xunit;

namespace DataMesh.Tests.Postgres;

/// <summary>
/// pgoutput decoding on mutated messages recorded from a real PostgreSQL 15 (<see cref="Fuzz"/>): every message type is
/// parsed, and every text value of a row is written as each column type the connector maps (numbers, decimals, money,
/// dates and times, bytea, arrays). Only <see cref="FormatException"/> may come out: the connector turns it into an error
/// naming the LSN, never a crash.
/// </summary>
public sealed class PgOutputFuzzTests
{
    private static readonly byte[][] Messages = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Postgres", "pgoutput-v1-alltypes.txt"))
        .Where(l => l.Length > 0).Select(Convert.FromHexString).ToArray();

    private static readonly PgColumnType[] Types =
    [
        Simple(PgValueKind.Boolean, DataTypeKind.Boolean),
        Simple(PgValueKind.BitAsBoolean, DataTypeKind.Boolean),
        Simple(PgValueKind.Int16, DataTypeKind.Int32),
        Simple(PgValueKind.Int32, DataTypeKind.Int32),
        Simple(PgValueKind.Int64, DataTypeKind.Int64),
        Simple(PgValueKind.UInt32, DataTypeKind.Int64),
        Simple(PgValueKind.Float4, DataTypeKind.Float32),
        Simple(PgValueKind.Float8, DataTypeKind.Float64),
        new(DataType.DecimalOf(10, 2, "numeric(10,2)"), PgValueKind.Numeric),
        new(DataType.DecimalOf(38, 0, "numeric(38,0)"), PgValueKind.Numeric),
        Simple(PgValueKind.Numeric, DataTypeKind.VariableDecimal),
        new(DataType.DecimalOf(19, 2, "money"), PgValueKind.Money),
        Simple(PgValueKind.PassThrough, DataTypeKind.String),
        Simple(PgValueKind.Bytea, DataTypeKind.Bytes),
        Simple(PgValueKind.Date, DataTypeKind.Date),
        Simple(PgValueKind.Time, DataTypeKind.Time),
        Simple(PgValueKind.Timestamp, DataTypeKind.LocalTimestamp),
        Simple(PgValueKind.TimestampTz, DataTypeKind.Timestamp),
        ArrayOf(Simple(PgValueKind.Int32, DataTypeKind.Int32), "integer[]"),
        ArrayOf(Simple(PgValueKind.PassThrough, DataTypeKind.String), "text[]"),
        ArrayOf(new(DataType.DecimalOf(10, 2, "numeric(10,2)"), PgValueKind.Numeric), "numeric(10,2)[]"),
        ArrayOf(Simple(PgValueKind.TimestampTz, DataTypeKind.Timestamp), "timestamptz[]"),
    ];

    [Fact]
    public void Mutated_messages_and_values_give_only_FormatException()
    {
        var row = new RowMessage();
        var buffer = new ArrayBufferWriter<byte>();
        var run = Fuzz.Run(
            "pgoutput messages",
            seed: 20261126,
            iterations: 20_000,
            random => (Message: Fuzz.Mutate(Messages[random.Next(Messages.Length)], random), Salt: random.Next(Types.Length), Decimals: (DecimalHandling)random.Next(2)),
            input =>
            {
                var message = input.Message;
                switch (message.Length == 0 ? (byte)0 : message[0])
                {
                    case (byte)'B': BeginMessage.Parse(message); break;
                    case (byte)'C': CommitMessage.Parse(message); break;
                    case (byte)'R': RelationMessage.Parse(message); break;
                    case (byte)'T': TruncateMessage.Parse(message); break;
                    default:
                        row.Parse(message);
                        if (row.OldKind != '\0')
                        {
                            WriteValues(row.Old, message, input.Salt, input.Decimals, buffer);
                        }

                        if (row.HasNew)
                        {
                            WriteValues(row.New, message, input.Salt, input.Decimals, buffer);
                        }

                        break;
                }
            },
            input => $"salt {input.Salt}, {input.Decimals}: {Convert.ToHexString(input.Message)}",
            typeof(FormatException));

        Assert.True(run.Refused > run.Iterations / 10, $"only {run.Refused} of {run.Iterations} mutations were refused");
    }

    /// <summary>Writes each text value of <paramref name="tuple"/> as one of <see cref="Types"/>, as the connector writes a row image.</summary>
    private static void WriteValues(PgTuple tuple, ReadOnlySpan<byte> message, int salt, DecimalHandling decimals, ArrayBufferWriter<byte> buffer)
    {
        for (var column = 0; column < tuple.Count; column++)
        {
            if (tuple.Kind(column) != TupleValueKind.Text)
            {
                continue;
            }

            buffer.ResetWrittenCount();
            var writer = new AvroWriter(buffer);
            PgValueWriter.Write(ref writer, Types[(column + salt) % Types.Length], tuple.Value(message, column), decimals);
            writer.Flush();
        }
    }

    private static PgColumnType Simple(PgValueKind kind, DataTypeKind dataKind) => new(DataType.Of(dataKind, kind.ToString()), kind);

    private static PgColumnType ArrayOf(PgColumnType element, string name) => new(DataType.ArrayOf(element.DataType, name), PgValueKind.Array, element);
}
