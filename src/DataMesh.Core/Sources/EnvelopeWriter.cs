using System.Text;
using DataMesh.Avro;
using DataMesh.Events;

namespace DataMesh.Sources;

/// <summary>
/// The one writer of keys and envelopes (after the 5-byte Confluent header, which callers write): the byte layout of
/// <see cref="ChangeEventSchemas"/> — <c>before</c> union and row, <c>after</c> union and row, the <c>source</c> block
/// (common fields, then the connector's position fields), <c>op</c>, <c>ts_ms</c> union. Used by the source runtime for
/// every connector and by <see cref="ChangeEventEncoder"/>.
/// </summary>
internal static class EnvelopeWriter
{
    private static readonly byte[] VersionUtf8 = Encoding.UTF8.GetBytes(ChangeEventSchemas.LibraryVersion);

    /// <summary>Whether an image holds a value or NULL for every key column.</summary>
    public static bool HasKey<TImage>(SourceTable table, scoped in TImage image)
        where TImage : IRowImage, allows ref struct
    {
        foreach (var index in table.KeyIndexes)
        {
            if (image.State(index) == ColumnValueState.Missing)
            {
                return false;
            }
        }

        return table.KeyIndexes.Length > 0;
    }

    /// <summary>Whether an image holds every column.</summary>
    public static bool IsComplete<TImage>(SourceTable table, scoped in TImage image)
        where TImage : IRowImage, allows ref struct
    {
        for (var i = 0; i < table.Nullable.Length; i++)
        {
            if (image.State(i) == ColumnValueState.Missing)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Writes the key record of an image (its key columns), a missing one taken from <paramref name="fallback"/>
    /// when <paramref name="hasFallback"/>.</summary>
    public static void WriteKey<TImage>(ref AvroWriter writer, SourceTable table, scoped in TImage image, scoped in TImage fallback, bool hasFallback)
        where TImage : IRowImage, allows ref struct
    {
        foreach (var index in table.KeyIndexes)
        {
            WriteColumn(ref writer, table, index, image, fallback, hasFallback, keyColumn: true);
        }
    }

    /// <summary>Writes a row union: null, or the row of <paramref name="image"/> with missing columns taken from
    /// <paramref name="fallback"/> when <paramref name="hasFallback"/>.</summary>
    public static void WriteRow<TImage>(ref AvroWriter writer, SourceTable table, bool present, scoped in TImage image, scoped in TImage fallback, bool hasFallback)
        where TImage : IRowImage, allows ref struct
    {
        if (!present)
        {
            writer.WriteUnionIndex(0);
            return;
        }

        writer.WriteUnionIndex(1);
        for (var i = 0; i < table.Nullable.Length; i++)
        {
            WriteColumn(ref writer, table, i, image, fallback, hasFallback);
        }
    }

    /// <summary>Writes the source block: the common fields, then the connector's position fields.</summary>
    public static void WriteSource<TBlock>(ref AvroWriter writer, SourceTable table, scoped in TBlock block, SnapshotMarker snapshot)
        where TBlock : ISourceBlock, allows ref struct
    {
        WriteCommonSource(ref writer, table.ConnectorUtf8, table.NameUtf8, block.CommitTimestampMs, snapshot, table.DatabaseUtf8, table.SchemaUtf8, table.TableUtf8, block.TransactionId);
        block.WritePositionFields(ref writer);
    }

    /// <summary>Writes the common fields of the source block.</summary>
    public static void WriteCommonSource(ref AvroWriter writer, ReadOnlySpan<byte> connector, ReadOnlySpan<byte> name, long commitMs, SnapshotMarker snapshot, ReadOnlySpan<byte> database, byte[]? schema, byte[]? tableName, long? transactionId)
    {
        writer.WriteStringUtf8(VersionUtf8);
        writer.WriteStringUtf8(connector);
        writer.WriteStringUtf8(name);
        writer.WriteLong(commitMs);
        writer.WriteStringUtf8(snapshot switch
        {
            SnapshotMarker.Snapshot => "true"u8,
            SnapshotMarker.Last => "last"u8,
            SnapshotMarker.Incremental => "incremental"u8,
            _ => "false"u8,
        });
        writer.WriteStringUtf8(database);
        WriteNullableUtf8(ref writer, schema);
        WriteNullableUtf8(ref writer, tableName);
        if (transactionId is { } id)
        {
            writer.WriteUnionIndex(1);
            writer.WriteLong(id);
        }
        else
        {
            writer.WriteUnionIndex(0);
        }
    }

    /// <summary>Writes <c>op</c> and <c>ts_ms</c>.</summary>
    public static void WriteTail(ref AvroWriter writer, ChangeOperation operation, long timestampMs)
    {
        writer.WriteStringUtf8(operation.ToUtf8Code());
        writer.WriteUnionIndex(1);
        writer.WriteLong(timestampMs);
    }

    /// <summary>Writes one column of an image (union branch and value), a missing one taken from <paramref name="fallback"/> when <paramref name="hasFallback"/>; a key column never takes the unavailable-value placeholder.</summary>
    public static void WriteColumn<TImage>(ref AvroWriter writer, SourceTable table, int column, scoped in TImage image, scoped in TImage fallback, bool hasFallback, bool keyColumn = false)
        where TImage : IRowImage, allows ref struct
    {
        var state = image.State(column);
        var nullable = table.Nullable[column];
        if (state == ColumnValueState.Missing && hasFallback && fallback.State(column) != ColumnValueState.Missing)
        {
            WriteColumn(ref writer, table, column, fallback, fallback, hasFallback: false, keyColumn);
            return;
        }

        switch (state)
        {
            case ColumnValueState.Null:
                if (!nullable)
                {
                    throw new SourceNullValueException(table, column);
                }

                writer.WriteUnionIndex(0);
                return;
            case ColumnValueState.Value:
                if (nullable)
                {
                    writer.WriteUnionIndex(1);
                }

                try
                {
                    image.WriteValue(ref writer, column);
                }
                catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
                {
                    throw new SourceValueException(table, column, ex.Message, ex);
                }

                return;
            default:
                if (keyColumn)
                {
                    // Never a placeholder in a key: the change would be keyed to a row that does not exist.
                    throw new SourceValueException(table, column,
                        "the log did not carry this key column's value in this change (the log's key, its replica identity, differs from the table's key)" +
                        (table.Info.MissingValueHint is { } keyHint ? "; " + keyHint : string.Empty), null);
                }

                if (!table.PlaceholderAllowed[column])
                {
                    throw new SourceValueException(table, column,
                        "the log did not carry this column's value in this change" + (table.Info.MissingValueHint is { } hint ? "; " + hint : string.Empty), null);
                }

                if (nullable)
                {
                    writer.WriteUnionIndex(1);
                }

                writer.WriteBytes(table.PlaceholderUtf8);
                return;
        }
    }

    private static void WriteNullableUtf8(ref AvroWriter writer, byte[]? value)
    {
        if (value is null)
        {
            writer.WriteUnionIndex(0);
        }
        else
        {
            writer.WriteUnionIndex(1);
            writer.WriteStringUtf8(value);
        }
    }
}
