using System.Text.Json;
using Avro;

namespace DataMesh.Schemas;

/// <summary>
/// Compatibility checks between Avro schemas, after the Avro specification's schema resolution rules
/// (a reader schema reading data written with a writer schema), as the schema stores apply them.
/// </summary>
/// <remarks>
/// <para>Rules checked, reader against writer:</para>
/// <list type="bullet">
/// <item><description>records: the names match (unqualified, or the reader's aliases name the writer); each reader field is
/// found in the writer by name or alias, or has a default; fields only the writer has are skipped; matched fields resolve
/// recursively;</description></item>
/// <item><description>primitives: the same type, or a promotion int→long→float→double (int and long to float and double),
/// string→bytes, bytes→string;</description></item>
/// <item><description>enums: names match; every writer symbol is a reader symbol unless the reader has an enum default;</description></item>
/// <item><description>fixed: names match and sizes are equal;</description></item>
/// <item><description>arrays and maps: items and values resolve;</description></item>
/// <item><description>unions: every branch the writer can write resolves against the reader (the first reader branch
/// that matches it, when the reader is a union); a non-union reader must resolve every writer branch;</description></item>
/// <item><description>logical types resolve on their underlying type, except that a decimal whose scale changed is refused,
/// since the same bytes would then mean another number.</description></item>
/// </list>
/// </remarks>
public static class SchemaCompatibility
{
    /// <summary>
    /// Checks <paramref name="candidate"/> against the earlier versions of a subject at <paramref name="level"/>.
    /// </summary>
    /// <param name="level">The subject's compatibility level.</param>
    /// <param name="candidate">The schema to be registered.</param>
    /// <param name="earlierVersions">The subject's versions, in any order (the latest is the highest version).</param>
    /// <returns>The problems; empty when the candidate is compatible.</returns>
    public static IReadOnlyList<SchemaCompatibilityProblem> Check(
        CompatibilityLevel level,
        Schema candidate,
        IReadOnlyCollection<RegisteredSchema> earlierVersions)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(earlierVersions);
        if (level == CompatibilityLevel.None || earlierVersions.Count == 0)
        {
            return [];
        }

        var transitive = level is CompatibilityLevel.BackwardTransitive or CompatibilityLevel.ForwardTransitive or CompatibilityLevel.FullTransitive;
        var backward = level is CompatibilityLevel.Backward or CompatibilityLevel.BackwardTransitive or CompatibilityLevel.Full or CompatibilityLevel.FullTransitive;
        var forward = level is CompatibilityLevel.Forward or CompatibilityLevel.ForwardTransitive or CompatibilityLevel.Full or CompatibilityLevel.FullTransitive;
        var against = transitive
            ? earlierVersions.OrderBy(v => v.Version).ToList()
            : [earlierVersions.MaxBy(v => v.Version)!];

        var problems = new List<SchemaCompatibilityProblem>();
        foreach (var version in against)
        {
            if (backward)
            {
                foreach (var (path, message) in new Resolver(readerIsNew: true).Run(candidate, version.Schema))
                {
                    problems.Add(new SchemaCompatibilityProblem(version.Version, CompatibilityLevel.Backward, path, message));
                }
            }

            if (forward)
            {
                foreach (var (path, message) in new Resolver(readerIsNew: false).Run(version.Schema, candidate))
                {
                    problems.Add(new SchemaCompatibilityProblem(version.Version, CompatibilityLevel.Forward, path, message));
                }
            }
        }

        return problems;
    }

    /// <summary>
    /// Throws <see cref="SchemaIncompatibleException"/> when <paramref name="candidate"/> is not compatible with the
    /// earlier versions of <paramref name="subject"/> at <paramref name="level"/>.
    /// </summary>
    /// <param name="subject">The subject, for the message.</param>
    /// <param name="level">The subject's compatibility level.</param>
    /// <param name="candidate">The schema to be registered.</param>
    /// <param name="earlierVersions">The subject's versions.</param>
    /// <exception cref="SchemaIncompatibleException">The candidate is not compatible.</exception>
    public static void EnsureCompatible(
        string subject,
        CompatibilityLevel level,
        Schema candidate,
        IReadOnlyCollection<RegisteredSchema> earlierVersions)
    {
        var problems = Check(level, candidate, earlierVersions);
        if (problems.Count > 0)
        {
            throw new SchemaIncompatibleException(subject, level, problems);
        }
    }

    /// <summary>
    /// Lists why data written with <paramref name="writer"/> cannot be read with <paramref name="reader"/>.
    /// </summary>
    /// <param name="reader">The reader's schema.</param>
    /// <param name="writer">The writer's schema.</param>
    /// <returns>The problems, in the reader's terms; empty when the reader can read the writer's data.</returns>
    public static IReadOnlyList<string> CanRead(Schema reader, Schema writer)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(writer);
        return [.. new Resolver(readerIsNew: true).Run(reader, writer).Select(p => p.Message)];
    }

    /// <summary>One check of reader against writer; wording is in terms of old and new schemas.</summary>
    private sealed class Resolver(bool readerIsNew)
    {
        private readonly List<(string Path, string Message)> _problems = [];
        private readonly HashSet<(Schema, Schema)> _inProgress = new(ReferencePairComparer.Instance);

        private string ReaderRole => readerIsNew ? "the new schema" : "the old schema";

        private string WriterRole => readerIsNew ? "the old schema" : "the new schema";

        public List<(string Path, string Message)> Run(Schema reader, Schema writer)
        {
            Resolve(reader, writer, string.Empty);
            return _problems;
        }

        private static string Subject(string path) => path.Length == 0 ? "the schema" : $"field '{path}'";

        private static string Child(string path, string name) => path.Length == 0 ? name : path + "." + name;

        private void Add(string path, string message) => _problems.Add((path, message));

        private void Resolve(Schema reader, Schema writer, string path)
        {
            if (writer is UnionSchema writerUnion)
            {
                foreach (var branch in writerUnion.Schemas)
                {
                    if (reader is not UnionSchema && !Matches(reader, branch) && !Promotable(Base(reader), Base(branch)))
                    {
                        AddUnmatchedBranch(branch, path);
                        continue;
                    }

                    ResolveBranch(reader, branch, path);
                }

                return;
            }

            ResolveBranch(reader, writer, path);
        }

        private void ResolveBranch(Schema reader, Schema writer, string path)
        {
            if (reader is UnionSchema readerUnion)
            {
                var match = readerUnion.Schemas.FirstOrDefault(r => Matches(r, writer))
                    ?? readerUnion.Schemas.FirstOrDefault(r => Promotable(Base(r), Base(writer)));
                if (match is null)
                {
                    AddUnmatchedBranch(writer, path);
                    return;
                }

                ResolveSame(match, writer, path);
                return;
            }

            ResolveSame(reader, writer, path);
        }

        private void AddUnmatchedBranch(Schema writerBranch, string path) =>
            Add(path, readerIsNew
                ? $"{Subject(path)} no longer accepts {Describe(writerBranch)}, which {WriterRole} could write"
                : $"{Subject(path)} now accepts {Describe(writerBranch)}, which {ReaderRole} cannot read");

        private void ResolveSame(Schema reader, Schema writer, string path)
        {
            // Recursion can only come back through a named record: a pair already being resolved further up is skipped.
            if (reader is RecordSchema && writer is RecordSchema)
            {
                if (!_inProgress.Add((reader, writer)))
                {
                    return;
                }

                try
                {
                    ResolveNonRecursive(reader, writer, path);
                }
                finally
                {
                    _inProgress.Remove((reader, writer));
                }

                return;
            }

            ResolveNonRecursive(reader, writer, path);
        }

        private void ResolveNonRecursive(Schema reader, Schema writer, string path)
        {

            CheckLogical(reader, writer, path);
            var r = Base(reader);
            var w = Base(writer);
            switch (r, w)
            {
                case (RecordSchema rr, RecordSchema wr):
                    CheckName(rr, wr, path);
                    ResolveRecord(rr, wr, path);
                    return;
                case (EnumSchema re, EnumSchema we):
                    CheckName(re, we, path);
                    ResolveEnum(re, we, path);
                    return;
                case (FixedSchema rf, FixedSchema wf):
                    CheckName(rf, wf, path);
                    if (rf.Size != wf.Size)
                    {
                        Add(path, $"{Subject(path)} changed fixed size from {Old(rf.Size, wf.Size)} to {New(rf.Size, wf.Size)} bytes; fixed sizes must be equal");
                    }

                    return;
                case (ArraySchema ra, ArraySchema wa):
                    Resolve(ra.ItemSchema, wa.ItemSchema, path + "[]");
                    return;
                case (MapSchema rm, MapSchema wm):
                    Resolve(rm.ValueSchema, wm.ValueSchema, path + "{}");
                    return;
                default:
                    if (r.Tag == w.Tag && r is PrimitiveSchema)
                    {
                        return;
                    }

                    if (Promotable(r, w))
                    {
                        return;
                    }

                    var oldType = readerIsNew ? Describe(writer) : Describe(reader);
                    var newType = readerIsNew ? Describe(reader) : Describe(writer);
                    Add(path, $"{Subject(path)} changed type from {oldType} to {newType}, and {Describe(writer)} data cannot be read as {Describe(reader)} (no Avro promotion)");
                    return;
            }
        }

        private void CheckLogical(Schema reader, Schema writer, string path)
        {
            if (reader is LogicalSchema rl && writer is LogicalSchema wl &&
                rl.LogicalTypeName == "decimal" && wl.LogicalTypeName == "decimal")
            {
                var rs = rl.GetProperty("scale") ?? "0";
                var ws = wl.GetProperty("scale") ?? "0";
                if (rs != ws)
                {
                    Add(path, $"{Subject(path)} changed decimal scale from {Old(rs, ws)} to {New(rs, ws)}; the same bytes would mean another number");
                }
            }
        }

        private void ResolveRecord(RecordSchema reader, RecordSchema writer, string path)
        {
            foreach (var field in reader.Fields)
            {
                var written = FindWriterField(field, writer);
                var fieldPath = Child(path, field.Name);
                if (written is null)
                {
                    if (field.DefaultValue is null)
                    {
                        Add(fieldPath, readerIsNew
                            ? $"field '{fieldPath}' was added without a default"
                            : $"field '{fieldPath}' was removed, and the old schema has no default for it");
                    }

                    continue;
                }

                Resolve(field.Schema, written.Schema, fieldPath);
            }
        }

        private static Field? FindWriterField(Field readerField, RecordSchema writer)
        {
            if (writer.TryGetField(readerField.Name, out var byName))
            {
                return byName;
            }

            foreach (var alias in readerField.Aliases ?? [])
            {
                if (writer.TryGetField(alias, out var byAlias))
                {
                    return byAlias;
                }
            }

            return null;
        }

        private void ResolveEnum(EnumSchema reader, EnumSchema writer, string path)
        {
            if (reader.Default is not null)
            {
                return;
            }

            foreach (var symbol in writer.Symbols)
            {
                if (!reader.Contains(symbol))
                {
                    Add(path, readerIsNew
                        ? $"enum {Subject(path)} removed symbol '{symbol}' without an enum default"
                        : $"enum {Subject(path)} added symbol '{symbol}', which the old schema cannot read (it has no enum default)");
                }
            }
        }

        private void CheckName(NamedSchema reader, NamedSchema writer, string path)
        {
            if (NamesMatch(reader, writer))
            {
                return;
            }

            Add(path, $"{Subject(path)}: {KindOf(reader)} '{Old(reader.Fullname, writer.Fullname)}' was renamed to '{New(reader.Fullname, writer.Fullname)}', and the reader's aliases do not name the writer's '{writer.Fullname}'");
        }

        private static bool NamesMatch(NamedSchema reader, NamedSchema writer)
        {
            if (reader.Name == writer.Name || reader.Fullname == writer.Fullname)
            {
                return true;
            }

            return Aliases(reader).Any(a => a == writer.Fullname || ShortName(a) == writer.Name);
        }

        private static bool Matches(Schema reader, Schema writer)
        {
            var r = Base(reader);
            var w = Base(writer);
            return (r, w) switch
            {
                (NamedSchema rn, NamedSchema wn) => r.Tag == w.Tag && NamesMatch(rn, wn),
                (ArraySchema, ArraySchema) or (MapSchema, MapSchema) => true,
                (PrimitiveSchema, PrimitiveSchema) => r.Tag == w.Tag,
                _ => false,
            };
        }

        private static bool Promotable(Schema reader, Schema writer) => (writer.Tag, reader.Tag) switch
        {
            (Schema.Type.Int, Schema.Type.Long or Schema.Type.Float or Schema.Type.Double) => true,
            (Schema.Type.Long, Schema.Type.Float or Schema.Type.Double) => true,
            (Schema.Type.Float, Schema.Type.Double) => true,
            (Schema.Type.String, Schema.Type.Bytes) => true,
            (Schema.Type.Bytes, Schema.Type.String) => true,
            _ => false,
        };

        private static Schema Base(Schema schema) => schema is LogicalSchema logical ? logical.BaseSchema : schema;

        private static string KindOf(Schema schema) => schema.Tag switch
        {
            Schema.Type.Record or Schema.Type.Error => "record",
            Schema.Type.Enumeration => "enum",
            Schema.Type.Fixed => "fixed",
            _ => schema.Tag.ToString().ToLowerInvariant(),
        };

        private static string Describe(Schema schema) => schema switch
        {
            LogicalSchema logical => $"'{Base(logical).Name}' ({logical.LogicalTypeName})",
            NamedSchema named => $"{KindOf(named)} '{named.Fullname}'",
            ArraySchema array => $"'array' of {Describe(array.ItemSchema)}",
            MapSchema map => $"'map' of {Describe(map.ValueSchema)}",
            UnionSchema union => "union [" + string.Join(", ", union.Schemas.Select(Describe)) + "]",
            _ => $"'{schema.Name}'",
        };

        private T Old<T>(T readerValue, T writerValue) => readerIsNew ? writerValue : readerValue;

        private T New<T>(T readerValue, T writerValue) => readerIsNew ? readerValue : writerValue;

        private static string ShortName(string fullName)
        {
            var dot = fullName.LastIndexOf('.');
            return dot < 0 ? fullName : fullName[(dot + 1)..];
        }

        /// <summary>The named schema's aliases, fully qualified; Apache.Avro keeps them private, so they are read from its JSON.</summary>
        private static IEnumerable<string> Aliases(NamedSchema schema)
        {
            using var json = JsonDocument.Parse(schema.ToString());
            if (json.RootElement.ValueKind != JsonValueKind.Object ||
                !json.RootElement.TryGetProperty("aliases", out var aliases) ||
                aliases.ValueKind != JsonValueKind.Array)
            {
                return [];
            }

            return [.. aliases.EnumerateArray().Select(a => a.GetString() ?? string.Empty)];
        }
    }

    private sealed class ReferencePairComparer : IEqualityComparer<(Schema, Schema)>
    {
        public static readonly ReferencePairComparer Instance = new();

        public bool Equals((Schema, Schema) x, (Schema, Schema) y) =>
            ReferenceEquals(x.Item1, y.Item1) && ReferenceEquals(x.Item2, y.Item2);

        public int GetHashCode((Schema, Schema) obj) =>
            HashCode.Combine(
                System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj.Item1),
                System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj.Item2));
    }
}
