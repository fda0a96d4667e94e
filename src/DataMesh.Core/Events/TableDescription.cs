namespace DataMesh.Events;

/// <summary>One column of a captured table.</summary>
/// <param name="Name">The column's name exactly as the database spells it; any characters are allowed.</param>
/// <param name="Type">The column's type.</param>
/// <param name="IsNullable">Whether the column admits NULL.</param>
public sealed record ColumnDescription(string Name, DataType Type, bool IsNullable)
{
    /// <summary>
    /// The value rows written before the column existed read as (a column added with a constant default), or null.
    /// A <c>NOT NULL</c> column's Avro field carries it as its <c>default</c>, so that adding such a column is a
    /// compatible schema change; a nullable column's field keeps the default <c>null</c>.
    /// </summary>
    public ColumnDefault? Default { get; init; }
}

/// <summary>
/// A column's default value, encoded exactly as the source encodes the column's values in an event under
/// <see cref="DecimalHandling.Precise"/>, whatever the events' setting: the Avro binary encoding of the column's type
/// (without the union branch of a nullable column). Under <see cref="DecimalHandling.String"/> a decimal's default is
/// written as its text at the column's scale, as the events carry it.
/// </summary>
public sealed class ColumnDefault : IEquatable<ColumnDefault>
{
    private readonly byte[] _value;

    /// <summary>Keeps a copy of an encoded value.</summary>
    /// <param name="avroValue">The value in Avro binary, as <see cref="Sources.IRowImage.WriteValue"/> writes it.</param>
    public ColumnDefault(ReadOnlySpan<byte> avroValue) => _value = avroValue.ToArray();

    /// <summary>The value in Avro binary.</summary>
    public ReadOnlyMemory<byte> AvroValue => _value;

    /// <inheritdoc/>
    public bool Equals(ColumnDefault? other) => other is not null && _value.AsSpan().SequenceEqual(other._value);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as ColumnDefault);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_value);
        return hash.ToHashCode();
    }
}

/// <summary>
/// A captured table as the change-event contract sees it: where it lives, its columns in table order, and the
/// columns of its key (the primary key, or the replica identity index when there is none).
/// </summary>
public sealed record TableDescription
{
    /// <summary>Describes a table.</summary>
    /// <param name="schema">The PostgreSQL schema, or the MySQL/MariaDB database.</param>
    /// <param name="name">The table's name.</param>
    /// <param name="columns">Every captured column in table order.</param>
    /// <param name="keyColumns">Names of the key columns in key order; empty for a table without a key (its events get a null key).</param>
    /// <exception cref="ArgumentException">A column name repeats, or a key column is not among the columns.</exception>
    public TableDescription(string schema, string name, IReadOnlyList<ColumnDescription> columns, IReadOnlyList<string> keyColumns)
    {
        ArgumentException.ThrowIfNullOrEmpty(schema);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(keyColumns);
        if (columns.Count == 0)
        {
            throw new ArgumentException($"Table '{schema}.{name}' has no columns.", nameof(columns));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var column in columns)
        {
            if (!seen.Add(column.Name))
            {
                throw new ArgumentException($"Table '{schema}.{name}' has column '{column.Name}' twice.", nameof(columns));
            }
        }

        foreach (var key in keyColumns)
        {
            if (!seen.Contains(key))
            {
                throw new ArgumentException($"Key column '{key}' of table '{schema}.{name}' is not one of its columns.", nameof(keyColumns));
            }
        }

        Schema = schema;
        Name = name;
        Columns = columns;
        KeyColumns = keyColumns;
    }

    /// <summary>The PostgreSQL schema, or the MySQL/MariaDB database.</summary>
    public string Schema { get; }

    /// <summary>The table's name.</summary>
    public string Name { get; }

    /// <summary>Every captured column in table order.</summary>
    public IReadOnlyList<ColumnDescription> Columns { get; }

    /// <summary>Names of the key columns in key order.</summary>
    public IReadOnlyList<string> KeyColumns { get; }

    /// <summary>Finds a column by its exact name.</summary>
    /// <param name="name">The column's name.</param>
    /// <returns>Its index in <see cref="Columns"/>, or -1.</returns>
    public int IndexOf(string name)
    {
        for (var i = 0; i < Columns.Count; i++)
        {
            if (string.Equals(Columns[i].Name, name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
