using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using DataMesh.Events;
using AvroSchema = global::Avro.Schema;

namespace DataMesh.Producer.Serialization;

/// <summary>
/// Derives the Avro schema of an event type from its public instance properties and fields, and composes the writers
/// that serialize it: reflection and expression compilation happen here, once per type, never per event.
/// </summary>
/// <remarks>
/// Mapping: bool → boolean; byte, sbyte, short, ushort, int → int; uint, long → long; ulong → decimal(20, 0);
/// float, double; char, string → string; Guid → uuid; DateTime, DateTimeOffset → timestamp-micros; DateOnly → date;
/// TimeOnly → time-micros; decimal → decimal(p, s) from <see cref="AvroDecimalAttribute"/>; byte[] → bytes; enums →
/// enum; arrays and sequences → array; string-keyed dictionaries → map; other classes, records and structs → record.
/// Nullable value types and nullable reference types (by their nullable annotations; unannotated references count as
/// nullable) → <c>["null", T]</c> with default null. Field names are the members' names in camelCase.
/// </remarks>
internal sealed class EventSchemaBuilder
{
    private readonly NullabilityInfoContext _nullability = new();
    private readonly Dictionary<Type, object> _recordWriters = [];
    private readonly HashSet<Type> _completedRecords = [];
    private readonly Dictionary<Type, object> _enumWriters = [];
    private readonly Dictionary<Type, string> _fullNames = [];
    private readonly Dictionary<string, Type> _typesByName = new(StringComparer.Ordinal);
    private readonly HashSet<Type> _definedInDocument = [];
    private readonly string _eventName;

    private EventSchemaBuilder(Type eventType) => _eventName = eventType.Name;

    /// <summary>Builds the serializer of <paramref name="eventType"/>.</summary>
    /// <param name="eventType">A class, record or struct.</param>
    /// <returns>Its schemas and writers.</returns>
    /// <exception cref="NotSupportedException">A member's type has no Avro mapping; the message names the member.</exception>
    public static EventSerializer Build(Type eventType)
    {
        ArgumentNullException.ThrowIfNull(eventType);
        if (RecordProblem(eventType) is { } problem)
        {
            throw new NotSupportedException($"Event type '{eventType.FullName}' cannot be an event: {problem}.");
        }

        var builder = new EventSchemaBuilder(eventType);
        var value = builder.MapRecord(eventType);
        var valueSchema = Parse(eventType, value.Schema);
        var fullName = builder._fullNames[eventType];

        var keys = Members(eventType).Where(m => m.IsDefined(typeof(EventKeyAttribute), inherit: true)).ToList();
        if (keys.Count > 1)
        {
            throw new NotSupportedException($"Event type '{eventType.FullName}' has {keys.Count} members marked [EventKey] ({string.Join(", ", keys.Select(k => k.Name))}); mark one.");
        }

        AvroSchema? keySchema = null;
        object? keyWriter = null;
        if (keys.Count == 1)
        {
            var member = keys[0];
            var memberType = MemberType(member);
            builder._definedInDocument.Clear();
            var key = builder.Map(memberType, builder.NullabilityOf(member), member, $"{eventType.Name}.{member.Name}");
            keySchema = Parse(eventType, key.Schema);
            keyWriter = Activator.CreateInstance(
                typeof(KeyWriter<,>).MakeGenericType(eventType, memberType),
                CompileGetter(eventType, member, memberType),
                key.Writer);
        }

        return (EventSerializer)Activator.CreateInstance(
            typeof(EventSerializer<>).MakeGenericType(eventType),
            value.Writer,
            keyWriter,
            valueSchema,
            keySchema,
            fullName)!;
    }

    private static AvroSchema Parse(Type eventType, JsonNode schema)
    {
        var json = schema.ToJsonString();
        try
        {
            return AvroSchema.Parse(json);
        }
        catch (global::Avro.AvroException ex)
        {
            throw new NotSupportedException($"Event type '{eventType.FullName}' gave an Avro schema that Apache.Avro refuses ({ex.Message}): {json}", ex);
        }
    }

    private Mapped Map(Type type, NullabilityInfo? nullability, MemberInfo member, string path)
    {
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            var inner = MapCore(underlying, null, member, path);
            return new Mapped(
                new JsonArray("null", inner.Schema),
                Activator.CreateInstance(typeof(NullableValueWriter<>).MakeGenericType(underlying), inner.Writer)!,
                Nullable: true);
        }

        var core = MapCore(type, nullability, member, path);
        if (type.IsValueType)
        {
            return core;
        }

        if (nullability?.ReadState != NullabilityState.NotNull)
        {
            return new Mapped(
                new JsonArray("null", core.Schema),
                Activator.CreateInstance(typeof(NullableReferenceWriter<>).MakeGenericType(type), core.Writer)!,
                Nullable: true);
        }

        return core with { Writer = Activator.CreateInstance(typeof(RequiredWriter<>).MakeGenericType(type), core.Writer, path)! };
    }

    private Mapped MapCore(Type type, NullabilityInfo? nullability, MemberInfo member, string path)
    {
        if (Primitive(type, path) is { } primitive)
        {
            return primitive;
        }

        if (type == typeof(decimal))
        {
            var declared = member.GetCustomAttribute<AvroDecimalAttribute>(inherit: true)
                ?? throw new NotSupportedException($"'{path}' is a decimal without [AvroDecimal(precision, scale)]: Avro decimals need a declared precision and scale.");
            if (declared.Precision is < 1 or > 38 || declared.Scale < 0 || declared.Scale > declared.Precision || declared.Scale > 28)
            {
                throw new NotSupportedException($"'{path}': [AvroDecimal({declared.Precision}, {declared.Scale})] needs 1 <= precision <= 38 and 0 <= scale <= min(precision, 28).");
            }

            return new Mapped(Decimal(declared.Precision, declared.Scale), new DecimalWriter(declared.Precision, declared.Scale, path), false);
        }

        if (type.IsEnum)
        {
            return MapEnum(type, path);
        }

        if (type.IsArray)
        {
            if (type.GetArrayRank() != 1)
            {
                throw new NotSupportedException($"'{path}' is a multi-dimensional array; use an array of arrays.");
            }

            var itemType = type.GetElementType()!;
            var items = Map(itemType, nullability?.ElementType, member, path + "[]");
            return new Mapped(
                new JsonObject { ["type"] = "array", ["items"] = items.Schema },
                Activator.CreateInstance(typeof(ArrayWriter<>).MakeGenericType(itemType), items.Writer)!,
                false);
        }

        if (FindGeneric(type, typeof(IEnumerable<>)) is { } enumerable)
        {
            var itemType = enumerable.GetGenericArguments()[0];
            var arguments = nullability?.GenericTypeArguments ?? [];
            if (itemType.IsGenericType && itemType.GetGenericTypeDefinition() == typeof(KeyValuePair<,>))
            {
                var keyType = itemType.GetGenericArguments()[0];
                var valueType = itemType.GetGenericArguments()[1];
                if (keyType != typeof(string))
                {
                    throw new NotSupportedException($"'{path}' is a map keyed by {keyType.Name}; Avro map keys are strings, so key it by string.");
                }

                var values = Map(valueType, arguments.Length == 2 ? arguments[1] : null, member, path + "{}");
                var writer = type == typeof(Dictionary<,>).MakeGenericType(typeof(string), valueType)
                    ? Activator.CreateInstance(typeof(DictionaryWriter<>).MakeGenericType(valueType), values.Writer, path)
                    : Activator.CreateInstance(typeof(MapWriter<,>).MakeGenericType(type, valueType), values.Writer, path);
                return new Mapped(new JsonObject { ["type"] = "map", ["values"] = values.Schema }, writer!, false);
            }

            var items = Map(itemType, arguments.Length == 1 ? arguments[0] : null, member, path + "[]");
            object sequenceWriter;
            if (type == typeof(List<>).MakeGenericType(itemType))
            {
                sequenceWriter = Activator.CreateInstance(typeof(ListWriter<>).MakeGenericType(itemType), items.Writer)!;
            }
            else if (FindGeneric(type, typeof(IReadOnlyList<>)) is not null)
            {
                sequenceWriter = Activator.CreateInstance(typeof(ReadOnlyListWriter<,>).MakeGenericType(type, itemType), items.Writer)!;
            }
            else if (FindGeneric(type, typeof(IList<>)) is not null)
            {
                sequenceWriter = Activator.CreateInstance(typeof(ListInterfaceWriter<,>).MakeGenericType(type, itemType), items.Writer)!;
            }
            else
            {
                sequenceWriter = Activator.CreateInstance(typeof(EnumerableWriter<,>).MakeGenericType(type, itemType), items.Writer, path)!;
            }

            return new Mapped(new JsonObject { ["type"] = "array", ["items"] = items.Schema }, sequenceWriter, false);
        }

        if (RecordProblem(type) is { } problem)
        {
            throw new NotSupportedException($"'{path}' has type {TypeName(type)}, which has no Avro mapping: {problem}.");
        }

        return MapRecord(type);
    }

    private static Mapped? Primitive(Type type, string path) => Type.GetTypeCode(type) switch
    {
        _ when type.IsEnum => null,
        TypeCode.Boolean => new Mapped(JsonValue.Create("boolean"), new BooleanWriter(), false),
        TypeCode.Byte => new Mapped(JsonValue.Create("int"), new ByteWriter(), false),
        TypeCode.SByte => new Mapped(JsonValue.Create("int"), new SByteWriter(), false),
        TypeCode.Int16 => new Mapped(JsonValue.Create("int"), new Int16Writer(), false),
        TypeCode.UInt16 => new Mapped(JsonValue.Create("int"), new UInt16Writer(), false),
        TypeCode.Int32 => new Mapped(JsonValue.Create("int"), new Int32Writer(), false),
        TypeCode.UInt32 => new Mapped(JsonValue.Create("long"), new UInt32Writer(), false),
        TypeCode.Int64 => new Mapped(JsonValue.Create("long"), new Int64Writer(), false),
        TypeCode.UInt64 => new Mapped(Decimal(20, 0), new UInt64Writer(), false),
        TypeCode.Single => new Mapped(JsonValue.Create("float"), new SingleWriter(), false),
        TypeCode.Double => new Mapped(JsonValue.Create("double"), new DoubleWriter(), false),
        TypeCode.Char => new Mapped(JsonValue.Create("string"), new CharWriter(path), false),
        TypeCode.String => new Mapped(JsonValue.Create("string"), new StringWriter(path), false),
        TypeCode.DateTime => new Mapped(Logical("long", "timestamp-micros"), new DateTimeWriter(), false),
        _ when type == typeof(DateTimeOffset) => new Mapped(Logical("long", "timestamp-micros"), new DateTimeOffsetWriter(), false),
        _ when type == typeof(Guid) => new Mapped(Logical("string", "uuid"), new GuidWriter(), false),
        _ when type == typeof(DateOnly) => new Mapped(Logical("int", "date"), new DateOnlyWriter(), false),
        _ when type == typeof(TimeOnly) => new Mapped(Logical("long", "time-micros"), new TimeOnlyWriter(), false),
        _ when type == typeof(byte[]) => new Mapped(JsonValue.Create("bytes"), new BytesWriter(), false),
        _ => null,
    };

    private static JsonObject Logical(string type, string logicalType) => new() { ["type"] = type, ["logicalType"] = logicalType };

    private static JsonObject Decimal(int precision, int scale) =>
        new() { ["type"] = "bytes", ["logicalType"] = "decimal", ["precision"] = precision, ["scale"] = scale };

    private Mapped MapEnum(Type type, string path)
    {
        if (type.IsDefined(typeof(FlagsAttribute), inherit: false))
        {
            throw new NotSupportedException($"'{path}' is the [Flags] enum {type.Name}, whose combined values Avro enums cannot carry; use a list of a plain enum, or an int.");
        }

        var names = Enum.GetNames(type);
        var values = Enum.GetValuesAsUnderlyingType(type);
        foreach (var name in names)
        {
            if (!AvroNames.IsValid(name))
            {
                throw new NotSupportedException($"'{path}': enum member {type.Name}.{name} is not a valid Avro symbol ([A-Za-z_][A-Za-z0-9_]*).");
            }
        }

        if (!_enumWriters.TryGetValue(type, out var writer))
        {
            var indexes = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(type, typeof(int)))!;
            for (var i = 0; i < names.Length; i++)
            {
                var value = Enum.ToObject(type, values.GetValue(i)!);
                if (!indexes.Contains(value))
                {
                    indexes.Add(value, i);
                }
            }

            writer = Activator.CreateInstance(typeof(EnumWriter<>).MakeGenericType(type), indexes, path)!;
            _enumWriters.Add(type, writer);
        }

        if (!_definedInDocument.Add(type))
        {
            return new Mapped(JsonValue.Create(_fullNames[type]), writer, false);
        }

        var (avroName, avroNamespace) = Name(type);
        var symbols = new JsonArray();
        foreach (var name in names)
        {
            symbols.Add(name);
        }

        return new Mapped(new JsonObject { ["type"] = "enum", ["name"] = avroName, ["namespace"] = avroNamespace, ["symbols"] = symbols }, writer, false);
    }

    private Mapped MapRecord(Type type)
    {
        if (!_recordWriters.TryGetValue(type, out var writer))
        {
            writer = Activator.CreateInstance(typeof(RecordWriter<>).MakeGenericType(type))!;
            _recordWriters.Add(type, writer);
        }

        if (!_definedInDocument.Add(type))
        {
            return new Mapped(JsonValue.Create(_fullNames[type]), writer, false);
        }

        var (avroName, avroNamespace) = Name(type);
        var fields = new JsonArray();
        var memberWriters = Array.CreateInstance(typeof(MemberWriter<>).MakeGenericType(type), Members(type).Count);
        var fieldNames = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var member in Members(type))
        {
            var fieldName = AvroNames.Sanitize(JsonNamingPolicy.CamelCase.ConvertName(member.Name));
            if (!fieldNames.Add(fieldName))
            {
                throw new NotSupportedException($"'{type.Name}.{member.Name}' gives the Avro field name '{fieldName}', which another member of {type.Name} has already.");
            }

            var memberType = MemberType(member);
            var path = $"{type.Name}.{member.Name}";
            var mapped = Map(memberType, NullabilityOf(member), member, path);
            var field = new JsonObject { ["name"] = fieldName, ["type"] = mapped.Schema };
            if (mapped.Nullable)
            {
                field["default"] = null;
            }
            else if (member.GetCustomAttribute<DefaultValueAttribute>(inherit: true) is { } defaultValue)
            {
                field["default"] = DefaultJson(defaultValue.Value, path);
            }

            fields.Add(field);
            memberWriters.SetValue(
                Activator.CreateInstance(
                    typeof(FieldWriter<,>).MakeGenericType(type, memberType),
                    CompileGetter(type, member, memberType),
                    mapped.Writer),
                index++);
        }

        if (_completedRecords.Add(type))
        {
            writer.GetType().GetMethod(nameof(RecordWriter<int>.SetFields))!.Invoke(writer, [memberWriters]);
        }

        return new Mapped(
            new JsonObject { ["type"] = "record", ["name"] = avroName, ["namespace"] = avroNamespace, ["fields"] = fields },
            writer,
            false);
    }

    private static JsonNode? DefaultJson(object? value, string path) => value switch
    {
        null => null,
        bool b => JsonValue.Create(b),
        string s => JsonValue.Create(s),
        Enum e => JsonValue.Create(e.ToString()),
        byte or sbyte or short or ushort or int => JsonValue.Create(Convert.ToInt32(value, CultureInfo.InvariantCulture)),
        uint or long => JsonValue.Create(Convert.ToInt64(value, CultureInfo.InvariantCulture)),
        float or double => JsonValue.Create(Convert.ToDouble(value, CultureInfo.InvariantCulture)),
        _ => throw new NotSupportedException($"'{path}': a [DefaultValue] of type {value.GetType().Name} cannot be an Avro default; use a bool, number, string or enum."),
    };

    private (string Name, string Namespace) Name(Type type)
    {
        if (!_fullNames.TryGetValue(type, out var fullName))
        {
            var name = AvroNames.Sanitize(GenericName(type));
            var parts = new List<string>();
            for (var declaring = type.DeclaringType; declaring is not null; declaring = declaring.DeclaringType)
            {
                parts.Insert(0, AvroNames.Sanitize(GenericName(declaring)));
            }

            if (!string.IsNullOrEmpty(type.Namespace))
            {
                parts.InsertRange(0, type.Namespace.Split('.').Select(AvroNames.Sanitize));
            }

            var avroNamespace = string.Join('.', parts);
            fullName = avroNamespace.Length == 0 ? name : avroNamespace + "." + name;
            if (_typesByName.TryGetValue(fullName, out var other) && other != type)
            {
                throw new NotSupportedException($"Event type '{_eventName}': {TypeName(type)} and {TypeName(other)} both map to the Avro name '{fullName}'.");
            }

            _typesByName[fullName] = type;
            _fullNames[type] = fullName;
        }

        var dot = fullName.LastIndexOf('.');
        return dot < 0 ? (fullName, string.Empty) : (fullName[(dot + 1)..], fullName[..dot]);
    }

    private static string GenericName(Type type)
    {
        if (!type.IsGenericType)
        {
            return type.Name;
        }

        var tick = type.Name.IndexOf('`', StringComparison.Ordinal);
        var name = tick < 0 ? type.Name : type.Name[..tick];
        return type.IsGenericTypeDefinition ? name : name + "_" + string.Join('_', type.GetGenericArguments().Select(GenericName));
    }

    private static string TypeName(Type type) => type.FullName ?? type.Name;

    private static string? RecordProblem(Type type)
    {
        if (type.IsInterface || type.IsAbstract)
        {
            return "it is an interface or abstract class; use a concrete type";
        }

        if (type.IsPrimitive || type.IsPointer || type.IsByRef || type.IsGenericTypeDefinition || typeof(Delegate).IsAssignableFrom(type))
        {
            return "it is not a class, record or struct with data members";
        }

        if (type == typeof(object) || type.Namespace?.StartsWith("System", StringComparison.Ordinal) == true)
        {
            return "framework types other than those listed in docs/producer.md are not mapped (a TimeSpan, for example, can travel as a long of microseconds)";
        }

        return null;
    }

    private NullabilityInfo NullabilityOf(MemberInfo member) => member switch
    {
        PropertyInfo property => _nullability.Create(property),
        FieldInfo field => _nullability.Create(field),
        _ => throw new ArgumentException($"'{member.Name}' is neither a property nor a field.", nameof(member)),
    };

    private static Type MemberType(MemberInfo member) => member switch
    {
        PropertyInfo property => property.PropertyType,
        FieldInfo field => field.FieldType,
        _ => throw new ArgumentException($"'{member.Name}' is neither a property nor a field.", nameof(member)),
    };

    /// <summary>The public instance properties (readable, not indexers) and fields, base types first, each in declaration order.</summary>
    private static List<MemberInfo> Members(Type type)
    {
        var levels = new List<List<MemberInfo>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var current = type; current is not null && current != typeof(object) && current != typeof(ValueType); current = current.BaseType)
        {
            const BindingFlags Flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly;
            var level = new List<MemberInfo>();
            level.AddRange(current.GetProperties(Flags)
                .Where(p => p.GetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0)
                .OrderBy(p => p.MetadataToken));
            level.AddRange(current.GetFields(Flags).OrderBy(f => f.MetadataToken));
            level.RemoveAll(m => m.IsDefined(typeof(EventIgnoreAttribute), inherit: true) || !seen.Add(m.Name));
            levels.Insert(0, level);
        }

        return [.. levels.SelectMany(l => l)];
    }

    private static Type? FindGeneric(Type type, Type openInterface)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() == openInterface)
        {
            return type;
        }

        return type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == openInterface);
    }

    private static Delegate CompileGetter(Type owner, MemberInfo member, Type memberType)
    {
        var instance = Expression.Parameter(owner.MakeByRefType(), "instance");
        Expression body = member is PropertyInfo property ? Expression.Property(instance, property) : Expression.Field(instance, (FieldInfo)member);
        return Expression.Lambda(typeof(RefGetter<,>).MakeGenericType(owner, memberType), body, instance).Compile();
    }

    private readonly record struct Mapped(JsonNode Schema, object Writer, bool Nullable);
}
