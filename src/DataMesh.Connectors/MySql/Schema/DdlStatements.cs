namespace DataMesh.Connectors.MySql.Schema;

/// <summary>A table's qualified name as a statement wrote it; <see cref="Database"/> null means the default database.</summary>
internal sealed record TableName(string? Database, string Name)
{
    public TableName Qualify(string? defaultDatabase) => Database is null ? this with { Database = defaultDatabase } : this;

    public override string ToString() => Database is null ? $"`{Name}`" : $"`{Database}`.`{Name}`";
}

/// <summary>What a DDL statement does to the schema, as far as the connector cares.</summary>
internal abstract record DdlStatement;

/// <summary>A statement that changes no captured table (DML, grants, views, routines, indexes ...).</summary>
internal sealed record IgnoredStatement(string Reason) : DdlStatement;

/// <summary>A column as a CREATE or ALTER TABLE defines it, before charset defaults are applied.</summary>
/// <param name="Column">The column; its charset is null when the statement gave none.</param>
/// <param name="InlinePrimaryKey">Whether the definition says PRIMARY KEY.</param>
/// <param name="Collation">An explicit COLLATE, or null.</param>
internal sealed record ColumnDefinition(MySqlColumn Column, bool InlinePrimaryKey, string? Collation);

internal sealed record CreateTableStatement(TableName Table, IReadOnlyList<ColumnDefinition> Columns, IReadOnlyList<string> PrimaryKey, string? DefaultCharset, bool IfNotExists, bool OrReplace) : DdlStatement;

internal sealed record CreateTableLikeStatement(TableName Table, TableName Source, bool IfNotExists) : DdlStatement;

internal sealed record DropTablesStatement(IReadOnlyList<TableName> Tables) : DdlStatement;

internal sealed record RenameTablesStatement(IReadOnlyList<(TableName From, TableName To)> Renames, bool IfExists = false) : DdlStatement;

internal sealed record TruncateTableStatement(TableName Table) : DdlStatement;

internal sealed record AlterTableStatement(TableName Table, IReadOnlyList<AlterAction> Actions) : DdlStatement;

/// <summary>A row change logged as a statement (a session with <c>binlog_format</c> STATEMENT or MIXED): INSERT, REPLACE,
/// UPDATE, DELETE or LOAD DATA. Its rows are not in the binlog.</summary>
/// <param name="Verb">INSERT, REPLACE, UPDATE, DELETE or LOAD, upper case.</param>
/// <param name="Tables">The tables it changes: the target of INSERT, REPLACE and LOAD DATA; the tables DELETE deletes from;
/// the tables of the columns UPDATE sets. Null when they cannot be read from the statement: it may change any table.</param>
internal sealed record LoggedRowChangeStatement(string Verb, IReadOnlyList<TableName>? Tables) : DdlStatement
{
    /// <summary>The columns a multi-table UPDATE sets without naming their table: each is a column of one of
    /// <see cref="ColumnTables"/>, to be looked up in their schemas.</summary>
    public IReadOnlyList<string> Columns { get; init; } = [];

    /// <summary>The tables of a multi-table UPDATE that <see cref="Columns"/> may belong to.</summary>
    public IReadOnlyList<TableName> ColumnTables { get; init; } = [];
}

internal sealed record DatabaseStatement(string Database, bool Dropped, string? DefaultCharset) : DdlStatement;

/// <summary>Where ADD, MODIFY or CHANGE puts a column: FIRST, AFTER a column, or (both null) where it was / at the end.</summary>
internal sealed record ColumnPlacement(bool First, string? After);

internal abstract record AlterAction;

internal sealed record AddColumnAction(ColumnDefinition Definition, ColumnPlacement Placement, bool IfNotExists) : AlterAction;

internal sealed record DropColumnAction(string Name, bool IfExists) : AlterAction;

/// <summary>MODIFY (<see cref="OldName"/> = the definition's name) or CHANGE.</summary>
internal sealed record ChangeColumnAction(string OldName, ColumnDefinition Definition, ColumnPlacement Placement, bool IfExists) : AlterAction;

internal sealed record RenameColumnAction(string OldName, string NewName) : AlterAction;

internal sealed record AddPrimaryKeyAction(IReadOnlyList<string> Columns) : AlterAction;

internal sealed record DropPrimaryKeyAction : AlterAction;

internal sealed record RenameTableAction(TableName NewName) : AlterAction;

internal sealed record ConvertCharsetAction(string Charset) : AlterAction;

internal sealed record DefaultCharsetAction(string Charset) : AlterAction;
