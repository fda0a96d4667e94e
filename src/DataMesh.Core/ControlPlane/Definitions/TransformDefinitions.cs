using System.Globalization;
using System.Text;
using DataMesh.Events;
using DataMesh.Pipelines.Filtering;
using DataMesh.Pipelines.Transforms;

namespace DataMesh.ControlPlane.Definitions;

/// <summary>A transform read from a definition: the model's entry and the <see cref="Transform"/> that checks and plans it.</summary>
internal sealed record ReadTransform(TransformDefinition Definition, Transform Transform, string Path, DefinitionNode Node);

/// <summary>
/// Reads a pipeline's transforms: each list item is a mapping of one transform name to its settings, built with the
/// <see cref="Transform"/> factory methods so that a definition is checked by the same rules as a pipeline built in code
/// (the filter parser, the mask's key rule, Avro names). The settings are listed in <c>docs/definitions.md</c>.
/// </summary>
internal static class TransformDefinitions
{
    public static readonly string[] Kinds =
        ["filter", "keep", "drop", "rename", "mask", "cast", "add_constant", "add_from_envelope", "route", "unwrap", "outbox_router"];

    public static ReadTransform? Read(DefinitionNode item, string path, ProblemList problems, SecretReferences secrets)
    {
        if (item is not MappingNode { Entries.Count: > 0 } mapping)
        {
            problems.Add(path, item, $"a transform is a mapping of one transform name ({string.Join(", ", Kinds)}) to its settings, not {item.Describe()}");
            return null;
        }

        if (mapping.Entries.Count > 1)
        {
            var second = mapping.Entries[1];
            problems.Add(path + "." + second.Key, second.Line, second.Column,
                $"a transform has one name, and this one has '{mapping.Entries[0].Key}' and '{second.Key}'; make each a list item of its own (- {mapping.Entries[0].Key}: ... then - {second.Key}: ...)");
            return null;
        }

        var entry = mapping.Entries[0];
        var kindPath = path + "." + entry.Key;
        if (!Kinds.Contains(entry.Key))
        {
            var hint = NearestName.Hint(entry.Key, Kinds);
            problems.Add(kindPath, entry.Line, entry.Column, hint.Length > 0
                ? $"there is no transform '{entry.Key}'{hint}"
                : $"there is no transform '{entry.Key}' (the transforms: {string.Join(", ", Kinds)})");
            return null;
        }

        var before = problems.Count;
        var transform = Build(entry, kindPath, problems, secrets);
        if (transform is null || problems.Count > before)
        {
            return null;
        }

        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        DefinitionValidator.Flatten(entry.Value, entry.Key, settings);
        return new ReadTransform(new TransformDefinition(entry.Key, transform.Name, settings), transform, kindPath, entry.Value);
    }

    private static Transform? Build(MappingEntry entry, string path, ProblemList problems, SecretReferences secrets)
    {
        var node = entry.Value;
        switch (entry.Key)
        {
            case "filter":
                if (node is not ScalarNode { IsNull: false } expression)
                {
                    problems.Add(path, node, $"must be a filter expression such as \"op != 'd' and amount > 100\", not {node.Describe()}");
                    return null;
                }

                try
                {
                    return Transform.Filter(expression.Text);
                }
                catch (FilterExpressionException ex)
                {
                    AddFilterProblem(problems, path, expression, ex);
                    return null;
                }

            case "keep":
            case "drop":
                var names = Names(node, path, problems, "a list of field names");
                return names is null ? null : entry.Key == "keep" ? Transform.Keep(names) : Transform.Drop(names);

            case "rename":
                var pairs = Pairs(node, path, problems, "a mapping of old field names to new ones");
                if (pairs is null)
                {
                    return null;
                }

                foreach (var (from, to, toNode) in pairs)
                {
                    if (!AvroNames.IsValid(to))
                    {
                        problems.Add(path + "." + from, toNode, $"'{to}' is not a valid Avro field name (letters, digits and _, not starting with a digit)");
                    }
                }

                return Transform.Rename(pairs.Select(p => (p.Key, p.Value)).ToArray());

            case "cast":
                var casts = Pairs(node, path, problems, "a mapping of field names to types (int, long, float, double, string, boolean)");
                if (casts is null)
                {
                    return null;
                }

                var typed = new List<(string, CastType)>();
                foreach (var (field, type, typeNode) in casts)
                {
                    if (ScalarConverter.TryConvert(type, false, typeof(CastType), true, out var value, out var reason))
                    {
                        typed.Add((field, (CastType)value!));
                    }
                    else
                    {
                        problems.Add(path + "." + field, typeNode, reason);
                    }
                }

                return typed.Count == casts.Count ? Transform.Cast([.. typed]) : null;

            case "mask":
                return Mask(node, path, problems, secrets);

            case "add_constant":
                return Settings(node, path, "add_constant", ["field", "value"], problems, secrets) is { } constant
                    && constant.String("field", "is required: the new field's name") is { } constantField
                    && Constant(constant, problems) is { } constantValue
                        ? Checked(() => Transform.AddConstant(constantField, constantValue), constant.PathOf("field"), constant.Entry("field")!.Value, problems)
                        : null;

            case "add_from_envelope":
                return Settings(node, path, "add_from_envelope", ["field", "path"], problems, secrets) is { } fromEnvelope
                    && fromEnvelope.String("field", "is required: the new field's name") is { } envelopeField
                    && fromEnvelope.String("path", "is required: op, ts_ms or source.<field> (for example source.table)") is { } envelopePath
                        ? Checked(() => Transform.AddFromEnvelope(envelopeField, envelopePath), fromEnvelope.PathOf("field"), fromEnvelope.Entry("field")!.Value, problems)
                        : null;

            case "route":
                return Settings(node, path, "route", ["path", "topic"], problems, secrets) is { } route
                    && route.String("path", "is required: the field whose value names the topic, for example source.table") is { } routePath
                    && route.String("topic", "is required: the topic template, with {value} where the field's value goes") is { } topic
                        ? Route(route, routePath, topic, problems)
                        : null;

            case "unwrap":
                if (node is ScalarNode { IsNull: true })
                {
                    return Transform.Unwrap();
                }

                var unwrap = Settings(node, path, "unwrap", ["deletes"], problems, secrets);
                return unwrap is null ? null : Transform.Unwrap(unwrap.Value<DeleteHandling>("deletes") ?? DeleteHandling.Tombstone);

            default:
                if (node is ScalarNode { IsNull: true })
                {
                    return Transform.OutboxRouter();
                }

                var outbox = Settings(node, path, "outbox_router",
                    ["id_column", "topic_column", "event_key_column", "event_type_column", "payload_column", "headers_column", "updates"], problems, secrets);
                if (outbox is null)
                {
                    return null;
                }

                var defaults = new OutboxRouterOptions();
                var options = new OutboxRouterOptions
                {
                    IdColumn = outbox.String("id_column") ?? defaults.IdColumn,
                    TopicColumn = outbox.String("topic_column") ?? defaults.TopicColumn,
                    EventKeyColumn = outbox.String("event_key_column") ?? defaults.EventKeyColumn,
                    EventTypeColumn = outbox.String("event_type_column") ?? defaults.EventTypeColumn,
                    PayloadColumn = outbox.String("payload_column") ?? defaults.PayloadColumn,
                    HeadersColumn = outbox.String("headers_column") ?? defaults.HeadersColumn,
                    Updates = outbox.Value<OutboxUpdateHandling>("updates") ?? defaults.Updates,
                };
                return Checked(() => Transform.OutboxRouter(options), path, node, problems);
        }
    }

    /// <summary>Adds a filter's syntax or planning error at its place in the file: the expression's column when it is on one line.</summary>
    public static void AddFilterProblem(ProblemList problems, string path, ScalarNode expression, FilterExpressionException ex, string? context = null)
    {
        var column = expression.TextColumn > 0 && ex.Column > 0 ? expression.TextColumn + ex.Column - 1 : expression.Column;
        problems.Add(path, expression.Line, column,
            string.Create(CultureInfo.InvariantCulture, $"{ex.Reason} (column {ex.Column} of the expression{context})"));
    }

    private static Transform? Mask(DefinitionNode node, string path, ProblemList problems, SecretReferences secrets)
    {
        var mask = Settings(node, path, "mask", ["fields", "mode", "replacement", "hash_key", "hash_format"], problems, secrets);
        if (mask is null)
        {
            return null;
        }

        var fields = mask.Strings("fields", "is required: the fields to mask");
        var mode = mask.Value<MaskMode>("mode") ?? MaskMode.Redact;
        var before = problems.Count;
        var key = mask.String("hash_key");
        var keyUnresolved = problems.Count > before; // a reference that did not resolve, reported where it is read
        var options = new MaskOptions
        {
            Mode = mode,
            Replacement = mask.String("replacement") ?? "***",
            HashKey = key is null ? null : (ReadOnlyMemory<byte>?)Encoding.UTF8.GetBytes(key), // typed: a bare null would become an empty key, not none
            HashFormat = mask.Value<HashFormat>("hash_format") ?? HashFormat.Hex,
        };
        if (fields is null)
        {
            return null;
        }

        if (fields.Count == 0)
        {
            mask.Missing("fields", "must name at least one field");
            return null;
        }

        try
        {
            return Transform.Mask(options, [.. fields.Select(f => f.Text)]);
        }
        catch (ArgumentException)
        {
            var keyNode = mask.Entry("hash_key")?.Value;
            if (keyUnresolved)
            {
                return null; // the problem is reported already; a null or empty hash_key is reported below
            }

            var reason = mode == MaskMode.Hash && key is null
                ? "is required with mode hash: a secret of at least 16 bytes, as ${env:NAME} or ${config:Key}"
                : "must hold a secret of at least 16 bytes (UTF-8)";
            problems.Add(mask.PathOf("hash_key"), keyNode ?? mask.Mapping, reason);
            return null;
        }
    }

    private static Transform? Route(FieldReader route, string path, string topic, ProblemList problems)
    {
        if (!topic.Contains(RouteTransform.Placeholder, StringComparison.Ordinal))
        {
            problems.Add(route.PathOf("topic"), route.Entry("topic")!.Value, $"'{topic}' must contain {RouteTransform.Placeholder}, where the value of '{path}' goes");
            return null;
        }

        try
        {
            return Transform.Route(path, topic);
        }
        catch (FilterExpressionException ex)
        {
            problems.Add(route.PathOf("path"), route.Entry("path")!.Value, $"'{path}' is not a field path such as source.table or after.region: {ex.Reason}");
            return null;
        }
    }

    private static object? Constant(FieldReader reader, ProblemList problems)
    {
        if (reader.Entry("value") is not { } entry)
        {
            reader.Missing("value", "is required: the value of the new field (a string, number or true/false)");
            return null;
        }

        if (entry.Value is not ScalarNode { IsNull: false } scalar)
        {
            problems.Add(reader.PathOf("value"), entry.Value, $"must be a string, number or true/false, not {entry.Value.Describe()}");
            return null;
        }

        if (!scalar.Plain)
        {
            return scalar.Text;
        }

        return int.TryParse(scalar.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) ? i
            : long.TryParse(scalar.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) ? l
            : double.TryParse(scalar.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d
            : bool.TryParse(scalar.Text, out var b) ? b
            : scalar.Text;
    }

    private static Transform? Checked(Func<Transform> create, string path, DefinitionNode node, ProblemList problems)
    {
        try
        {
            return create();
        }
        catch (ArgumentException ex)
        {
            problems.Add(path, node, Sentence(ex.Message));
            return null;
        }
    }

    private static FieldReader? Settings(DefinitionNode node, string path, string kind, string[] fields, ProblemList problems, SecretReferences secrets)
    {
        if (node is not MappingNode mapping)
        {
            problems.Add(path, node, $"must be a mapping of {kind}'s settings ({string.Join(", ", fields)}), not {node.Describe()}");
            return null;
        }

        return new FieldReader(mapping, path, $"the {kind} transform", fields, problems, secrets);
    }

    private static string[]? Names(DefinitionNode node, string path, ProblemList problems, string what)
    {
        if (node is not SequenceNode { Items.Count: > 0 } sequence)
        {
            problems.Add(path, node, $"must be {what} with at least one name, not {(node is SequenceNode ? "an empty list" : node.Describe())}");
            return null;
        }

        var names = new List<string>();
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            if (sequence.Items[i] is ScalarNode { IsNull: false } scalar && !string.IsNullOrWhiteSpace(scalar.Text))
            {
                names.Add(scalar.Text);
            }
            else
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"{path}[{i}]"), sequence.Items[i], "must be a field name");
            }
        }

        return names.Count == sequence.Items.Count ? [.. names] : null;
    }

    private static List<(string Key, string Value, DefinitionNode Node)>? Pairs(DefinitionNode node, string path, ProblemList problems, string what)
    {
        if (node is not MappingNode { Entries.Count: > 0 } mapping)
        {
            problems.Add(path, node, $"must be {what}, not {(node is MappingNode ? "an empty mapping" : node.Describe())}");
            return null;
        }

        var pairs = new List<(string, string, DefinitionNode)>();
        foreach (var entry in mapping.Entries)
        {
            if (entry.Value is ScalarNode { IsNull: false } scalar && !string.IsNullOrWhiteSpace(scalar.Text))
            {
                pairs.Add((entry.Key, scalar.Text, scalar));
            }
            else
            {
                problems.Add(path + "." + entry.Key, entry.Value, $"must be a name, not {entry.Value.Describe()}");
            }
        }

        return pairs.Count == mapping.Entries.Count ? pairs : null;
    }

    /// <summary>An exception's message as a reason: without the parameter name and the final period.</summary>
    private static string Sentence(string message)
    {
        var cut = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        message = (cut >= 0 ? message[..cut] : message).TrimEnd('.');
        return message.Length > 0 ? char.ToLowerInvariant(message[0]) + message[1..] : message;
    }
}
