using System.Globalization;
using System.Text;
using DataMesh.Pipelines.Transforms;

namespace DataMesh.Pipelines.Filtering;

/// <summary>
/// Compiles a parsed expression for one input schema: resolves every path to a container and field, checks that each
/// literal suits its field's type, and builds the predicate tree.
/// </summary>
internal sealed class FilterCompiler
{
    private readonly string _text;
    private readonly global::Avro.RecordSchema _root;
    private readonly EnvelopeShape? _envelope;
    private readonly List<Container> _containers = [];
    private readonly List<global::Avro.RecordSchema> _containerSchemas = [];
    private readonly Dictionary<(int Parent, int Field), int> _containerIndex = [];
    private int _rangeCount;

    public FilterCompiler(string text, global::Avro.RecordSchema root)
    {
        _text = text;
        _root = root;
        _envelope = EnvelopeShape.Detect(root);
        AddContainer(-1, -1, -1, root);
    }

    public Container[] Containers => [.. _containers];

    public int RangeCount => _rangeCount;

    public Predicate Compile(FilterNode node) => node switch
    {
        AndNode and => new AndPredicate([.. and.Terms.Select(Compile)]),
        OrNode or => new OrPredicate([.. or.Terms.Select(Compile)]),
        NotNode not => new NotPredicate(Compile(not.Operand)),
        ConstantNode constant => new ConstantPredicate(constant.Value),
        IsNullNode isNull => Negate(new IsNullPredicate(Resolve(isNull.Path)), isNull.Negated),
        FieldTestNode test => CompileTest(test),
        CompareNode compare => CompileCompare(Resolve(compare.Path), compare.Op, compare.Value, compare.Path),
        InNode @in => Negate(CompileIn(@in), @in.Negated),
        _ => throw new InvalidOperationException($"Unknown filter node {node.GetType().Name}."),
    };

    /// <summary>The accessor of the path of a parsed <c>path is null</c> expression (used by route to reuse path resolution).</summary>
    public Accessor ResolveValue(FilterNode node) => Resolve(((IsNullNode)node).Path);

    private Predicate CompileIn(InNode node)
    {
        var accessor = Resolve(node.Path);
        var equalities = node.Values.Select(value => CompileCompare(accessor, CompareOp.Eq, value, node.Path)).ToArray();
        return equalities.Length == 1 ? equalities[0] : new OrPredicate(equalities);
    }

    private Predicate CompileTest(FieldTestNode node)
    {
        var accessor = Resolve(node.Path);
        if (accessor.Layout.Kind != ValueKind.Boolean)
        {
            throw Error($"field '{node.Path}' is a {Describe(accessor)}, not a boolean; compare it with a value (for example {node.Path} == ...)", node.Path.Column);
        }

        return new BooleanPredicate(accessor, true);
    }

    private Predicate CompileCompare(Accessor accessor, CompareOp op, Literal literal, FieldPath path)
    {
        if (literal.Kind == LiteralKind.Null)
        {
            return op switch
            {
                CompareOp.Eq => new IsNullPredicate(accessor),
                CompareOp.Ne => new NotPredicate(new IsNullPredicate(accessor)),
                _ => throw Error("null can only be compared with = or != (or use 'is null')", literal.Column),
            };
        }

        var kind = accessor.Layout.Kind;
        switch (kind)
        {
            case ValueKind.Int or ValueKind.Long or ValueKind.Float or ValueKind.Double or ValueKind.Decimal:
                RequireOrdering(op, literal, accessor, path);
                if (literal.Kind != LiteralKind.Number)
                {
                    throw Error($"field '{path}' is a {Describe(accessor)}; compare it with a number, not {Quote(literal)}", literal.Column);
                }

                var real = double.Parse(literal.Text, NumberStyles.Float, CultureInfo.InvariantCulture);
                long? integer = long.TryParse(literal.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) ? i : null;
                decimal? exact = decimal.TryParse(literal.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;
                return new NumberPredicate(accessor, op, integer, real, exact);
            case ValueKind.String:
                if (literal.Kind != LiteralKind.String)
                {
                    throw Error($"field '{path}' is a string; compare it with a 'string', not {Quote(literal)}", literal.Column);
                }

                return new StringPredicate(accessor, op, Encoding.UTF8.GetBytes(literal.Text));
            case ValueKind.Boolean:
                if (literal.Kind != LiteralKind.Boolean || op is not (CompareOp.Eq or CompareOp.Ne))
                {
                    throw Error($"field '{path}' is a boolean; compare it with = or != and true or false", literal.Column);
                }

                return new BooleanPredicate(accessor, literal.BooleanValue == (op == CompareOp.Eq));
            case ValueKind.Enum:
                var symbols = ((global::Avro.EnumSchema)accessor.ValueSchema).Symbols;
                var symbol = literal.Kind == LiteralKind.String ? symbols.IndexOf(literal.Text) : -1;
                if (symbol < 0 || op is not (CompareOp.Eq or CompareOp.Ne))
                {
                    throw Error($"field '{path}' is an enum; compare it with = or != and one of its symbols ({string.Join(", ", symbols.Select(s => "'" + s + "'"))})", literal.Column);
                }

                return new EnumPredicate(accessor, op == CompareOp.Eq, symbol);
            default:
                throw Error($"field '{path}' is a {Describe(accessor)}, which filters cannot compare (only numbers, strings, booleans, enums and null tests)", path.Column);
        }
    }

    private void RequireOrdering(CompareOp op, Literal literal, Accessor accessor, FieldPath path)
    {
        if (op is CompareOp.StartsWith or CompareOp.EndsWith or CompareOp.Contains)
        {
            throw Error($"field '{path}' is a {Describe(accessor)}; startswith, endswith and contains need a string field", literal.Column);
        }
    }

    /// <summary>
    /// Resolves a path: its first name is a field of the record; on a change-event envelope a name that is not an envelope
    /// field is a column of the row, read from <c>after</c>, or from <c>before</c> when <c>after</c> is null (deletes).
    /// </summary>
    private Accessor Resolve(FieldPath path)
    {
        var container = 0;
        var fallback = -1;
        var schema = _root;
        var start = 0;
        if (!_root.TryGetField(path.Steps[0], out _) && _envelope is not null)
        {
            container = ChildContainer(0, _root.Fields[_envelope.After], path);
            fallback = ChildContainer(0, _root.Fields[_envelope.Before], path);
            schema = _envelope.Row;
        }

        for (var i = start; i < path.Steps.Count; i++)
        {
            var name = path.Steps[i];
            var field = Layouts.Find(schema, name) ?? throw Error(
                $"'{string.Join('.', path.Steps.Take(i + 1))}' is not a field (the record {schema.Name} has: {string.Join(", ", schema.Fields.Select(f => f.Name))}){NearestName.Hint(name, schema.Fields.Select(f => f.Name))}",
                path.Column);
            if (i == path.Steps.Count - 1)
            {
                _containers[container].Need(field.Pos);
                if (fallback >= 0)
                {
                    _containers[fallback].Need(field.Pos);
                }

                var valueSchema = Layouts.ValueSchema(field.Schema);
                return new Accessor(container, fallback, field.Pos, Layouts.Of(field.Schema), valueSchema is global::Avro.LogicalSchema l ? l.BaseSchema : valueSchema, path.ToString());
            }

            if (fallback >= 0)
            {
                throw Error($"'{name}' is a column of the row; it has no fields", path.Column);
            }

            container = ChildContainer(container, field, path);
            schema = _containerSchemas[container];
        }

        throw new InvalidOperationException("A path has at least one step.");
    }

    private int ChildContainer(int parent, global::Avro.Field field, FieldPath path)
    {
        _containers[parent].Need(field.Pos);
        if (_containerIndex.TryGetValue((parent, field.Pos), out var existing))
        {
            return existing;
        }

        var branch = -1;
        var schema = field.Schema;
        if (schema is global::Avro.UnionSchema union && Layouts.Of(union).IsNullable)
        {
            branch = union[0].Tag == global::Avro.Schema.Type.Null ? 1 : 0;
            schema = union[branch];
        }

        if (schema is not global::Avro.RecordSchema record)
        {
            throw Error($"'{field.Name}' is not a record; it has no fields", path.Column);
        }

        var index = AddContainer(parent, field.Pos, branch, record);
        _containerIndex[(parent, field.Pos)] = index;
        return index;
    }

    private int AddContainer(int parent, int field, int branch, global::Avro.RecordSchema record)
    {
        var plan = new FieldRangeFinder(record);
        _containers.Add(new Container(parent, field, branch, plan, _rangeCount));
        _containerSchemas.Add(record);
        _rangeCount += plan.FieldCount;
        return _containers.Count - 1;
    }

    private static Predicate Negate(Predicate predicate, bool negate) => negate ? new NotPredicate(predicate) : predicate;

    private static string Describe(Accessor accessor) =>
        accessor.Layout.Kind == ValueKind.Other ? accessor.ValueSchema.Tag.ToString().ToLowerInvariant() : Names.Kind(accessor.Layout.Kind);

    private static string Quote(Literal literal) => literal.Kind == LiteralKind.String ? "'" + literal.Text + "'" : literal.Text;

    private FilterExpressionException Error(string reason, int column) => new(reason, column, _text);
}
