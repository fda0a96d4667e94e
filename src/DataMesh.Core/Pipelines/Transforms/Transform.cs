namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// A transform of records, declared once (see <see cref="Transforms"/>) and planned once per input schema into a
/// <see cref="PlannedTransform"/> that runs over Avro bytes.
/// </summary>
public abstract class Transform
{
    private protected Transform()
    {
    }

    /// <summary>A short description of the transform for logs and dead-letter headers, for example <c>filter(op != 'd')</c>.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Plans the transform for records of <paramref name="input"/>: resolves fields, compiles predicates and field maps, and
    /// derives the output schema.
    /// </summary>
    /// <param name="input">The input record schema: a change-event envelope or a flat record.</param>
    /// <returns>The planned transform, immutable and safe to share between threads.</returns>
    /// <exception cref="TransformPlanException">The transform does not apply to this schema (a missing field, a wrong type).</exception>
    public abstract PlannedTransform Plan(global::Avro.RecordSchema input);

    /// <summary>
    /// Whether the transform's plans emit raw records (see <see cref="RecordContext.IsRaw"/>) instead of datums of their
    /// output schema: the outbox router. Such a transform must be the last of its chain.
    /// </summary>
    internal virtual bool EmitsRawRecords => false;

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>Keeps the records for which <paramref name="expression"/> holds (syntax in <c>docs/pipelines.md</c>).</summary>
    /// <param name="expression">For example <c>op != 'd' and amount &gt; 100</c>.</param>
    /// <returns>The transform.</returns>
    /// <exception cref="Filtering.FilterExpressionException">The expression is not valid; the exception gives the column.</exception>
    public static Transform Filter(string expression) => new FilterTransform(Filtering.FilterExpression.Parse(expression));

    /// <summary>Keeps the records for which <paramref name="expression"/> holds.</summary>
    /// <param name="expression">A parsed expression.</param>
    /// <returns>The transform.</returns>
    public static Transform Filter(Filtering.FilterExpression expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        return new FilterTransform(expression);
    }

    /// <summary>Keeps only the named fields of the row, in the order given.</summary>
    /// <param name="fields">Field names (Avro names or original column names).</param>
    /// <returns>The transform.</returns>
    public static Transform Keep(params string[] fields) => new ProjectTransform(CheckNames(fields), keep: true);

    /// <summary>Drops the named fields of the row.</summary>
    /// <param name="fields">Field names (Avro names or original column names).</param>
    /// <returns>The transform.</returns>
    public static Transform Drop(params string[] fields) => new ProjectTransform(CheckNames(fields), keep: false);

    /// <summary>Renames fields of the row.</summary>
    /// <param name="renames">Pairs of old name and new name (a valid Avro name).</param>
    /// <returns>The transform.</returns>
    public static Transform Rename(params (string From, string To)[] renames)
    {
        ArgumentNullException.ThrowIfNull(renames);
        CheckNames(renames.Select(r => r.From).Concat(renames.Select(r => r.To)).ToArray());
        return new RenameTransform(renames.Select(r => KeyValuePair.Create(r.From, r.To)).ToArray());
    }

    /// <summary>Masks fields of the row: redacts them, or replaces them with a keyed hash.</summary>
    /// <param name="options">Redact or hash, and the secret key for hashing.</param>
    /// <param name="fields">Field names.</param>
    /// <returns>The transform.</returns>
    /// <exception cref="ArgumentException">Hashing without a key of at least 16 bytes.</exception>
    public static Transform Mask(MaskOptions options, params string[] fields)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new MaskTransform(CheckNames(fields), options);
    }

    /// <summary>Converts fields of the row to other primitive types.</summary>
    /// <param name="casts">Pairs of field name and target type.</param>
    /// <returns>The transform.</returns>
    public static Transform Cast(params (string Field, CastType Type)[] casts)
    {
        ArgumentNullException.ThrowIfNull(casts);
        CheckNames(casts.Select(c => c.Field).ToArray());
        return new CastTransform(casts.Select(c => KeyValuePair.Create(c.Field, c.Type)).ToArray());
    }

    /// <summary>Appends a field with the same value in every row.</summary>
    /// <param name="field">The new field's name.</param>
    /// <param name="value">A string, int, long, double or bool.</param>
    /// <returns>The transform.</returns>
    public static Transform AddConstant(string field, object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return AddFieldTransform.Constant(field, value);
    }

    /// <summary>Appends a field to the row taken from the change-event envelope: <c>op</c>, <c>ts_ms</c> or <c>source.&lt;field&gt;</c> (for example <c>source.table</c>).</summary>
    /// <param name="field">The new field's name.</param>
    /// <param name="envelopePath">The envelope value.</param>
    /// <returns>The transform.</returns>
    public static Transform AddFromEnvelope(string field, string envelopePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(envelopePath);
        return AddFieldTransform.FromEnvelope(field, envelopePath);
    }

    /// <summary>Sends each record to the topic <paramref name="topicTemplate"/> with <c>{value}</c> replaced by the value of <paramref name="path"/>.</summary>
    /// <param name="path">A field path as in filters: <c>source.table</c>, <c>after.region</c>, <c>region</c>.</param>
    /// <param name="topicTemplate">For example <c>orders.{value}</c>.</param>
    /// <returns>The transform.</returns>
    public static Transform Route(string path, string topicTemplate = RouteTransform.Placeholder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(topicTemplate);
        if (!topicTemplate.Contains(RouteTransform.Placeholder, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The topic template '{topicTemplate}' must contain {RouteTransform.Placeholder}.", nameof(topicTemplate));
        }

        _ = Filtering.FilterExpression.Parse(path + " is null");
        return new RouteTransform(path, topicTemplate);
    }

    /// <summary>Sends each change event to the topic <paramref name="topicTemplate"/> with <c>{value}</c> replaced by its table (<c>source.table</c>).</summary>
    /// <param name="topicTemplate">For example <c>sink.{value}</c>.</param>
    /// <returns>The transform.</returns>
    public static Transform RouteByTable(string topicTemplate) => Route("source.table", topicTemplate);

    /// <summary>Replaces each change-event envelope by its flat after-image (Debezium's ExtractNewRecordState).</summary>
    /// <param name="deletes">What deletes become.</param>
    /// <returns>The transform.</returns>
    public static Transform Unwrap(DeleteHandling deletes = DeleteHandling.Tombstone) => new UnwrapTransform(deletes);

    /// <summary>
    /// Publishes the events of an outbox table (the Producer SDK's <c>OutboxTable</c>) captured by a source connector, like
    /// Debezium's outbox event router: each insert (or snapshot read) of a row becomes the record it holds, with the
    /// <c>payload</c> column as the value (verbatim: it carries its own schema id), <c>event_key</c> as the key (none when
    /// null), <c>headers</c> as the headers (plus <c>ce_id</c> and <c>ce_type</c> from <c>id</c> and <c>event_type</c> when
    /// absent), sent to the topic in <c>topic</c>. Deletes and truncates are dropped (the table is cleaned by deletes);
    /// updates are dropped or rejected (<see cref="OutboxRouterOptions.Updates"/>). It must be the last transform of a chain.
    /// </summary>
    /// <param name="options">Column names and what updates become; the defaults match <c>OutboxTable</c>.</param>
    /// <returns>The transform.</returns>
    /// <exception cref="ArgumentException">A column setting is empty, or two settings name the same column.</exception>
    public static Transform OutboxRouter(OutboxRouterOptions? options = null)
    {
        options ??= new OutboxRouterOptions();
        options.Validate();
        return new OutboxRouterTransform(options);
    }

    private static string[] CheckNames(string[] names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (names.Length == 0)
        {
            throw new ArgumentException("At least one field name is needed.", nameof(names));
        }

        foreach (var name in names)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(name, nameof(names));
        }

        return names;
    }
}
