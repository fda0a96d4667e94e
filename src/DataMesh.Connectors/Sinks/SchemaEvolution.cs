namespace DataMesh.Connectors.Sinks;

/// <summary>What a table sink may change in the target database when the records do not match its tables.</summary>
public enum SchemaEvolution
{
    /// <summary>Nothing: every target table must exist with a primary key on the key's columns and a column for each field; otherwise the batch fails with an error naming the table and the missing columns.</summary>
    None,

    /// <summary>Creates a missing table from the first record's schema (columns from the value, primary key from the key); an existing table must already have every column.</summary>
    CreateTable,

    /// <summary>As <see cref="CreateTable"/>, and adds a nullable column for each new field (<c>ALTER TABLE ... ADD COLUMN</c>). Columns are never dropped or retyped.</summary>
    CreateAndAddColumns,
}
