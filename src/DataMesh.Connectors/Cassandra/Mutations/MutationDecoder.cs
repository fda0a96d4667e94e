using System.Buffers.Binary;
using DataMesh.Connectors.Cassandra.Schema;

namespace DataMesh.Connectors.Cassandra.Mutations;

/// <summary>
/// Decodes serialized mutations of messaging versions 10 (Cassandra 3.0), 11 (3.x) and 12 (4.0–4.1), which agree on
/// everything a mutation holds, handing their contents to an <see cref="IMutationHandler"/> without allocating: values
/// stay in the mutation's bytes. Reuses its buffers between mutations, so one decoder serves one reader at a time.
/// </summary>
/// <remarks>
/// Mutation: uvint count of partition updates, then each: table id (16 bytes), vint-length partition key, flags
/// (0x01 empty, 0x02 reversed, 0x04 partition deletion, 0x08 static row, 0x10 row estimate), encoding statistics (the
/// minimum timestamp, local deletion time and TTL, from which later values are uvint deltas), the static and regular
/// columns the update carries (by name), the partition deletion, the static row, the row estimate, then rows and
/// range-tombstone markers up to an end-of-partition flag. See the fixture README for rows and cells.
/// </remarks>
internal sealed class MutationDecoder
{
    private const long TimestampEpoch = 1442880000000000;
    private const int DeletionTimeEpoch = 1442880000;

    private const int EndOfPartition = 0x01;
    private const int IsMarker = 0x02;
    private const int HasTimestamp = 0x04;
    private const int HasTtl = 0x08;
    private const int HasDeletion = 0x10;
    private const int HasAllColumns = 0x20;
    private const int HasComplexDeletion = 0x40;
    private const int Extended = 0x80;
    private const int ExtendedStatic = 0x01;
    private const int ExtendedShadowable = 0x02;

    private const int CellUsesRowTimestamp = 0x08;
    private const int CellUsesRowTtl = 0x10;
    private const int CellHasEmptyValue = 0x04;

    private readonly CassandraSchema _schema;
    private CassandraColumn[] _statics = new CassandraColumn[8];
    private CassandraColumn[] _regulars = new CassandraColumn[8];
    private int[] _present = new int[8];
    private int[] _clustering = new int[8];
    private int[] _bounds = new int[8];

    public MutationDecoder(CassandraSchema schema)
    {
        _schema = schema;
    }

    /// <summary>The partition updates of captured tables the last <see cref="Decode{THandler}"/> decoded and handed over.</summary>
    public int PartitionCount { get; private set; }

    /// <summary>Where partition update <paramref name="index"/> of the last decoded mutation is in it: from its table id to
    /// its end, every byte of it (key, content, timestamps), as copies from different replicas agree on.</summary>
    public (int Start, int Length) PartitionBytes(int index) => (_bounds[2 * index], _bounds[(2 * index) + 1]);

    /// <summary>The table id that made the last <see cref="Decode{THandler}"/> return <see cref="MutationOutcome.UnknownTable"/>.</summary>
    public Guid UnknownTableId { get; private set; }

    /// <summary>The first table id of a mutation, readable without any schema.</summary>
    /// <returns>False when the mutation is too short to hold one.</returns>
    public static bool TryReadFirstTableId(ReadOnlySpan<byte> mutation, out Guid tableId)
    {
        var reader = new MutationReader(mutation, string.Empty, 0);
        try
        {
            reader.ReadUnsignedVInt("count");
            tableId = new Guid(reader.ReadBytes(16, "table id"), bigEndian: true);
            return true;
        }
        catch (CommitLogFormatException)
        {
            tableId = Guid.Empty;
            return false;
        }
    }

    /// <summary>Decodes one mutation.</summary>
    /// <param name="mutation">The serialized mutation (an entry of a segment).</param>
    /// <param name="segment">The segment's name, for errors.</param>
    /// <param name="offset">The segment offset of the mutation's first byte, for errors.</param>
    /// <param name="handler">Receives the contents.</param>
    /// <exception cref="CommitLogFormatException">A mutation that does not decode against its table: the message names
    /// the segment, the offset and the field.</exception>
    public MutationOutcome Decode<THandler>(ReadOnlySpan<byte> mutation, string segment, long offset, ref THandler handler)
        where THandler : IMutationHandler, allows ref struct
    {
        var reader = new MutationReader(mutation, segment, offset);
        PartitionCount = 0;
        var count = reader.ReadCount("partition update count", 19);
        if (count == 0)
        {
            throw reader.Error(0, "a mutation without partition updates");
        }

        Guid? uncaptured = null;
        for (var i = 0; i < count; i++)
        {
            var idAt = reader.Position;
            var id = new Guid(reader.ReadBytes(16, "table id"), bigEndian: true);
            if (!_schema.TryGetTable(id, out var table, out var captured))
            {
                if (PartitionCount > 0)
                {
                    // Its length is not written: what follows cannot be found without the table's columns. (Before any
                    // captured update nothing tells whether one follows; a mutation of system tables holds none.)
                    throw reader.Error(idAt, $"partition update {i} is of table {id}, which the schema does not know, in a mutation that also updates a captured table (a batch on one partition key): give the source that table's schema (its CREATE TABLE statement, or read system_schema)");
                }

                UnknownTableId = id;
                return MutationOutcome.UnknownTable;
            }

            if (!captured)
            {
                // Read past, not handed over (nor counted: the partitions counted are those the handler sees).
                uncaptured ??= id;
                var skip = default(NoHandler);
                try
                {
                    DecodePartition(ref reader, table, ref skip);
                }
                catch (CommitLogFormatException) when (PartitionCount == 0)
                {
                    // Its schema may be out of date (a table only read past, given by statements): with nothing captured
                    // before it, the rest of the mutation is skipped, as for a table the schema does not know.
                    UnknownTableId = id;
                    return MutationOutcome.UnknownTable;
                }

                continue;
            }

            DecodePartition(ref reader, table, ref handler);
            EnsureCapacity(ref _bounds, 2 * (PartitionCount + 1));
            _bounds[2 * PartitionCount] = idAt;
            _bounds[(2 * PartitionCount) + 1] = reader.Position - idAt;
            PartitionCount++;
        }

        if (reader.Remaining != 0)
        {
            throw reader.Error($"{reader.Remaining} bytes follow the last partition update");
        }

        if (PartitionCount == 0)
        {
            UnknownTableId = uncaptured!.Value;
            return MutationOutcome.UnknownTable;
        }

        return MutationOutcome.Decoded;
    }


    /// <summary>The type of a cell's value: the column's, or for a multi-cell column its element's (a list's element, a
    /// map's value, a set's nothing, a UDT's field named by the path).</summary>
    internal static CqlType? CellValueType(CqlType type, ReadOnlySpan<byte> path)
    {
        if (!type.IsMultiCell)
        {
            return type;
        }

        switch (type.Kind)
        {
            case CqlKind.List:
                return type.Parameters[0];
            case CqlKind.Map:
                return type.Parameters[1];
            case CqlKind.Udt:
                if (path.Length != 2)
                {
                    return null;
                }

                var field = BinaryPrimitives.ReadUInt16BigEndian(path);
                return field < type.Parameters.Count ? type.Parameters[field] : null;
            default:
                return null;
        }
    }

    private void DecodePartition<THandler>(ref MutationReader reader, CassandraTable table, ref THandler handler)
        where THandler : IMutationHandler, allows ref struct
    {
        var keyRange = reader.ReadLengthPrefixed("partition key");
        var flagsAt = reader.Position;
        var flags = reader.ReadByte("partition flags");
        if ((flags & ~0x1F) != 0)
        {
            throw reader.Error(flagsAt, $"partition flags 0x{flags:X2} have unknown bits");
        }

        var key = reader.Data.Slice(keyRange.Offset, keyRange.Length);
        if ((flags & 0x01) != 0)
        {
            handler.OnPartition(new PartitionUpdate(table, key, null, isEmpty: true, hasStaticRow: false));
            return;
        }

        var header = new Header
        {
            MinTimestamp = unchecked((long)reader.ReadUnsignedVInt("minimum timestamp") + TimestampEpoch),
            MinLocalDeletionTime = unchecked((int)((long)reader.ReadUnsignedVInt("minimum local deletion time") + DeletionTimeEpoch)),
            MinTtl = unchecked((int)reader.ReadUnsignedVInt("minimum TTL")),
        };

        var hasStatic = (flags & 0x08) != 0;
        var staticCount = hasStatic ? ReadColumns(ref reader, table, ref _statics, "static") : 0;
        var regularCount = ReadColumns(ref reader, table, ref _regulars, "regular");
        DeletionTime? partitionDeletion = (flags & 0x04) != 0 ? ReadDeletion(ref reader, header, "partition deletion") : null;
        handler.OnPartition(new PartitionUpdate(table, key, partitionDeletion, isEmpty: false, hasStaticRow: hasStatic));

        if (hasStatic)
        {
            var rowAt = reader.Position;
            var rowFlags = reader.ReadByte("static row flags");
            var extended = (rowFlags & Extended) != 0 ? reader.ReadByte("static row extended flags") : 0;
            if ((rowFlags & (EndOfPartition | IsMarker)) != 0 || (extended & ExtendedStatic) == 0)
            {
                throw reader.Error(rowAt, $"the partition says a static row follows, but the flags 0x{rowFlags:X2}/0x{extended:X2} are not a static row's");
            }

            DecodeRowBody(ref reader, table, header, rowFlags, extended, _statics.AsSpan(0, staticCount), default, ref handler);
        }

        if ((flags & 0x10) != 0)
        {
            reader.ReadUnsignedVInt("row estimate");
        }

        var openRange = -1; // the offset of the marker that opened the range deletion not yet closed
        while (true)
        {
            var rowAt = reader.Position;
            var rowFlags = reader.ReadByte("row flags");
            if ((rowFlags & EndOfPartition) != 0)
            {
                if (rowFlags != EndOfPartition)
                {
                    throw reader.Error(rowAt, $"end-of-partition flags 0x{rowFlags:X2} have other bits set");
                }

                if (openRange >= 0)
                {
                    throw reader.Error(rowAt, $"the partition ends inside a range deletion (its start bound is {rowAt - openRange} bytes earlier): its end bound is missing");
                }

                return;
            }

            var extended = (rowFlags & Extended) != 0 ? reader.ReadByte("row extended flags") : 0;
            if ((rowFlags & IsMarker) != 0)
            {
                var opens = DecodeMarker(ref reader, table, header, openRange >= 0, ref handler);
                openRange = opens ? rowAt : -1;
                continue;
            }

            if ((extended & ExtendedStatic) != 0 || (extended & ~0x03) != 0)
            {
                throw reader.Error(rowAt, $"row extended flags 0x{extended:X2} are not a clustered row's");
            }

            var clusteringCount = table.Clustering.Count;
            ReadClustering(ref reader, table, clusteringCount);
            var clustering = new ClusteringValues(reader.Data, _clustering.AsSpan(0, 2 * clusteringCount));
            DecodeRowBody(ref reader, table, header, rowFlags, extended, _regulars.AsSpan(0, regularCount), clustering, ref handler);
        }
    }

    private void DecodeRowBody<THandler>(ref MutationReader reader, CassandraTable table, Header header, int flags, int extended,
        ReadOnlySpan<CassandraColumn> columns, ClusteringValues clustering, ref THandler handler)
        where THandler : IMutationHandler, allows ref struct
    {
        var liveness = LivenessInfo.Empty;
        if ((flags & HasTimestamp) != 0)
        {
            var timestamp = ReadTimestamp(ref reader, header, "row timestamp");
            liveness = (flags & HasTtl) != 0
                ? new LivenessInfo(timestamp, ReadTtl(ref reader, header, "row TTL"), ReadLocalDeletionTime(ref reader, header, "row expiration time"))
                : new LivenessInfo(timestamp, 0, LivenessInfo.NoExpiration);
        }
        else if ((flags & HasTtl) != 0)
        {
            throw reader.Error("a row with a TTL but no timestamp");
        }

        DeletionTime? deletion = (flags & HasDeletion) != 0 ? ReadDeletion(ref reader, header, "row deletion") : null;
        var presentCount = columns.Length;
        if ((flags & HasAllColumns) == 0)
        {
            presentCount = ReadColumnSubset(ref reader, columns.Length);
        }
        else
        {
            EnsureCapacity(ref _present, columns.Length);
            for (var i = 0; i < columns.Length; i++)
            {
                _present[i] = i;
            }
        }

        var row = new RowHeader(table, (extended & ExtendedStatic) != 0, clustering, liveness, deletion, (extended & ExtendedShadowable) != 0);
        handler.OnRow(row);
        var hasComplexDeletion = (flags & HasComplexDeletion) != 0;
        for (var i = 0; i < presentCount; i++)
        {
            var column = columns[_present[i]];
            if (!column.Type.IsMultiCell)
            {
                DecodeCell(ref reader, header, liveness, column, in row, ref handler);
                continue;
            }

            if (hasComplexDeletion)
            {
                reader.Column = column;
                handler.OnComplexDeletion(row, column, ReadDeletion(ref reader, header, "column deletion"));
            }

            reader.Column = column;
            var cells = reader.ReadCount("cell count", 2);
            reader.Column = null;
            for (var c = 0; c < cells; c++)
            {
                DecodeCell(ref reader, header, liveness, column, in row, ref handler);
            }
        }
    }

    private static void DecodeCell<THandler>(ref MutationReader reader, Header header, LivenessInfo liveness, CassandraColumn column, in RowHeader row, ref THandler handler)
        where THandler : IMutationHandler, allows ref struct
    {
        reader.Column = column;
        var flagsAt = reader.Position;
        var flags = reader.ReadByte("cell flags");
        if ((flags & ~0x1F) != 0)
        {
            throw reader.Error(flagsAt, $"cell flags 0x{flags:X2} have unknown bits");
        }

        var tombstoneOrExpiring = (flags & (Cell.TombstoneFlag | Cell.ExpiringFlag)) != 0;
        var useRowTtl = (flags & CellUsesRowTtl) != 0;
        var timestamp = (flags & CellUsesRowTimestamp) != 0 ? liveness.Timestamp : ReadTimestamp(ref reader, header, "cell timestamp");
        var localDeletionTime = useRowTtl ? liveness.LocalExpirationTime
            : tombstoneOrExpiring ? ReadLocalDeletionTime(ref reader, header, "cell deletion time")
            : LivenessInfo.NoExpiration;
        var ttl = useRowTtl ? liveness.Ttl
            : (flags & Cell.ExpiringFlag) != 0 ? ReadTtl(ref reader, header, "cell TTL")
            : 0;
        ReadOnlySpan<byte> path = default;
        var valueType = column.Type;
        if (column.Type.IsMultiCell)
        {
            var pathRange = reader.ReadLengthPrefixed("cell path");
            path = reader.Data.Slice(pathRange.Offset, pathRange.Length);
            var elementType = CellValueType(column.Type, path);
            if (elementType is null && column.Type.Kind == CqlKind.Udt)
            {
                throw reader.Error(pathRange.Offset, $"the cell path of UDT column '{column.Name}' names no field of {column.Type}");
            }

            valueType = elementType!;
        }

        ReadOnlySpan<byte> value = default;
        if ((flags & CellHasEmptyValue) == 0 && valueType is not null)
        {
            // A cell of a non-frozen collection or UDT is written with the column's type (Cell.Serializer, through
            // SerializationHeader.getType), which has no fixed length: its value is length-prefixed even for an int.
            var fixedLength = column.Type.IsMultiCell ? -1 : valueType.FixedLength;
            var range = fixedLength >= 0 ? reader.ReadRange(fixedLength, "cell value") : reader.ReadLengthPrefixed("cell value");
            value = reader.Data.Slice(range.Offset, range.Length);
        }

        reader.Column = null;
        handler.OnCell(row, new Cell(column, flags, timestamp, ttl, localDeletionTime, path, value));
    }

    /// <summary>Decodes a range-tombstone marker and checks that it opens a range only when none is open and closes one only
    /// when one is.</summary>
    /// <returns>Whether a range is open after it (a start or a boundary).</returns>
    private bool DecodeMarker<THandler>(ref MutationReader reader, CassandraTable table, Header header, bool isOpen, ref THandler handler)
        where THandler : IMutationHandler, allows ref struct
    {
        var kindAt = reader.Position;
        var kind = reader.ReadByte("range tombstone bound kind");
        if (kind is 3 or 4 or > 7)
        {
            throw reader.Error(kindAt, $"{kind} is not a range tombstone bound kind");
        }

        var opens = (BoundKind)kind is BoundKind.InclusiveStart or BoundKind.ExclusiveStart;
        if (opens == isOpen)
        {
            throw reader.Error(kindAt, opens
                ? $"a range tombstone start bound ({(BoundKind)kind}) while another range deletion is open"
                : $"a range tombstone {((BoundKind)kind is BoundKind.ExclusiveEnd or BoundKind.InclusiveEnd ? "end" : "boundary")} bound ({(BoundKind)kind}) without a range deletion open");
        }

        var sizeAt = reader.Position;
        var size = reader.ReadUInt16("range tombstone bound size");
        if (size > table.Clustering.Count)
        {
            throw reader.Error(sizeAt, $"a bound of {size} clustering values, but table {table.QualifiedName} has {table.Clustering.Count} clustering columns");
        }

        ReadClustering(ref reader, table, size);
        var prefix = new ClusteringValues(reader.Data, _clustering.AsSpan(0, 2 * size));
        var boundKind = (BoundKind)kind;
        var first = ReadDeletion(ref reader, header, "range tombstone deletion");
        var marker = boundKind is BoundKind.ExclusiveEndInclusiveStart or BoundKind.InclusiveEndExclusiveStart
            ? new RangeTombstoneMarker(table, boundKind, prefix, ReadDeletion(ref reader, header, "range tombstone start deletion"), first)
            : new RangeTombstoneMarker(table, boundKind, prefix, first, null);
        handler.OnRangeTombstone(marker);
        return opens || marker.IsBoundary;
    }

    /// <summary>Reads <paramref name="size"/> clustering values into <see cref="_clustering"/> (offset, length pairs; -1 for null).</summary>
    private void ReadClustering(ref MutationReader reader, CassandraTable table, int size)
    {
        EnsureCapacity(ref _clustering, 2 * size);
        for (var block = 0; block < size; block += 32)
        {
            var bits = reader.ReadUnsignedVInt("clustering header");
            var limit = Math.Min(size, block + 32);
            for (var i = block; i < limit; i++)
            {
                var shift = 2 * (i - block);
                if ((bits & (1UL << (shift + 1))) != 0)
                {
                    _clustering[2 * i] = -1;
                    _clustering[(2 * i) + 1] = 0;
                    continue;
                }

                if ((bits & (1UL << shift)) != 0)
                {
                    _clustering[2 * i] = reader.Position;
                    _clustering[(2 * i) + 1] = 0;
                    continue;
                }

                var column = table.Clustering[i];
                reader.Column = column;
                var fixedLength = column.Type.FixedLength;
                var range = fixedLength >= 0 ? reader.ReadRange(fixedLength, "clustering value") : reader.ReadLengthPrefixed("clustering value");
                reader.Column = null;
                _clustering[2 * i] = range.Offset;
                _clustering[(2 * i) + 1] = range.Length;
            }
        }
    }

    /// <summary>Reads a list of column names and finds each in the table.</summary>
    private static int ReadColumns(ref MutationReader reader, CassandraTable table, ref CassandraColumn[] columns, string kind)
    {
        var count = reader.ReadCount(kind == "static" ? "static column count" : "regular column count", 1);
        EnsureCapacity(ref columns, count);
        for (var i = 0; i < count; i++)
        {
            var nameRange = reader.ReadLengthPrefixed("column name");
            var name = reader.Data.Slice(nameRange.Offset, nameRange.Length);
            var column = table.FindColumn(name);
            if (column is null)
            {
                throw reader.Error(nameRange.Offset, $"table {table.QualifiedName} has no {kind} column '{System.Text.Encoding.UTF8.GetString(name)}': a column added after the schema was read, or dropped; describe the table again (dropped columns with their types)", CommitLogError.Unsupported);
            }

            columns[i] = column;
        }

        return count;
    }

    /// <summary>Reads which of <paramref name="supersetCount"/> columns a row has into <see cref="_present"/>.</summary>
    private int ReadColumnSubset(ref MutationReader reader, int supersetCount)
    {
        EnsureCapacity(ref _present, supersetCount);
        var at = reader.Position;
        var encoded = reader.ReadUnsignedVInt("row column subset");
        var count = 0;
        if (encoded == 0)
        {
            for (var i = 0; i < supersetCount; i++)
            {
                _present[count++] = i;
            }

            return count;
        }

        if (supersetCount < 64)
        {
            // A bitmap of the missing columns.
            if (supersetCount < 64 && (encoded >> supersetCount) != 0)
            {
                throw reader.Error(at, $"the row's missing-column bitmap 0x{encoded:X} names columns beyond the {supersetCount} of its update");
            }

            for (var i = 0; i < supersetCount; i++)
            {
                if ((encoded & (1UL << i)) == 0)
                {
                    _present[count++] = i;
                }
            }

            return count;
        }

        if (encoded > (ulong)supersetCount)
        {
            throw reader.Error(at, $"the row misses {encoded} of the {supersetCount} columns of its update");
        }

        var missing = (int)encoded;
        var presentCount = supersetCount - missing;
        if (presentCount < supersetCount / 2)
        {
            // The present columns' indexes.
            var previous = -1;
            for (var i = 0; i < presentCount; i++)
            {
                var index = ReadIndex(ref reader, previous, supersetCount);
                _present[count++] = previous = index;
            }

            return count;
        }

        // The missing columns' indexes.
        var next = 0;
        var last = -1;
        for (var i = 0; i < missing; i++)
        {
            var index = ReadIndex(ref reader, last, supersetCount);
            while (next < index)
            {
                _present[count++] = next++;
            }

            next = index + 1;
            last = index;
        }

        while (next < supersetCount)
        {
            _present[count++] = next++;
        }

        return count;
    }

    private static int ReadIndex(ref MutationReader reader, int previous, int supersetCount)
    {
        var at = reader.Position;
        var index = reader.ReadUnsignedVInt("row column index");
        if (index >= (ulong)supersetCount || (long)index <= previous)
        {
            throw reader.Error(at, $"column index {index} is out of order or beyond the {supersetCount} columns of the update");
        }

        return (int)index;
    }

    private static DeletionTime ReadDeletion(ref MutationReader reader, Header header, string field) =>
        new(ReadTimestamp(ref reader, header, field), ReadLocalDeletionTime(ref reader, header, field));

    private static long ReadTimestamp(ref MutationReader reader, Header header, string field) =>
        unchecked((long)reader.ReadUnsignedVInt(field) + header.MinTimestamp);

    private static int ReadLocalDeletionTime(ref MutationReader reader, Header header, string field) =>
        unchecked((int)((long)reader.ReadUnsignedVInt(field) + header.MinLocalDeletionTime));

    private static int ReadTtl(ref MutationReader reader, Header header, string field) =>
        unchecked((int)((long)reader.ReadUnsignedVInt(field) + header.MinTtl));

    private static void EnsureCapacity<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            Array.Resize(ref buffer, Math.Max(length, buffer.Length * 2));
        }
    }

    /// <summary>A partition update's encoding statistics.</summary>
    private readonly struct Header
    {
        public long MinTimestamp { get; init; }

        public int MinLocalDeletionTime { get; init; }

        public int MinTtl { get; init; }
    }
}
