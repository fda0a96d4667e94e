using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using DataMesh.Avro;

namespace DataMesh.Pipelines.Transforms;

/// <summary>The top-level fields of the envelope a row belongs to; empty for flat records.</summary>
internal readonly ref struct EnvelopeView(ReadOnlySpan<byte> input, ReadOnlySpan<Range> ranges)
{
    public ReadOnlySpan<byte> Input { get; } = input;

    public ReadOnlySpan<Range> Ranges { get; } = ranges;
}

/// <summary>Writes one output field of a row from the input row's encoded fields.</summary>
internal abstract class FieldOp
{
    /// <summary>The one input field this op reads, or -1 when it reads none (a constant, an envelope value) or several.</summary>
    public virtual int Input => -1;

    /// <summary>The same op reading input field <paramref name="input"/> instead (which holds the same bytes); used to fuse row transforms.</summary>
    public virtual FieldOp Rebase(int input) => throw new InvalidOperationException($"{GetType().Name} reads no input field.");

    public abstract void Write(ref AvroWriter writer, scoped ReadOnlySpan<byte> row, scoped ReadOnlySpan<Range> ranges, scoped EnvelopeView envelope);
}

/// <summary>Copies the encoded bytes of input fields <see cref="First"/>..<see cref="Last"/> as they are.</summary>
internal sealed class CopyOp(int first, int last) : FieldOp
{
    public int First { get; } = first;

    public int Last { get; } = last;

    public override int Input => First == Last ? First : -1;

    public override FieldOp Rebase(int input) => new CopyOp(input, input);

    public override void Write(ref AvroWriter writer, scoped ReadOnlySpan<byte> row, scoped ReadOnlySpan<Range> ranges, scoped EnvelopeView envelope) =>
        writer.WriteRaw(row[ranges[First].Start.Value..ranges[Last].End.Value]);
}

/// <summary>Writes the same encoded value into every record.</summary>
internal sealed class ConstantOp(byte[] encoded) : FieldOp
{
    public override void Write(ref AvroWriter writer, scoped ReadOnlySpan<byte> row, scoped ReadOnlySpan<Range> ranges, scoped EnvelopeView envelope) =>
        writer.WriteRaw(encoded);
}

/// <summary>Copies a value of the envelope (a top-level field, or a field of a record there such as <c>source.table</c>).</summary>
internal sealed class EnvelopeValueOp(int topIndex, AvroSchemaPlan? nested, int nestedIndex) : FieldOp
{
    public override void Write(ref AvroWriter writer, scoped ReadOnlySpan<byte> row, scoped ReadOnlySpan<Range> ranges, scoped EnvelopeView envelope)
    {
        var value = envelope.Input[envelope.Ranges[topIndex]];
        if (nested is not null)
        {
            var rented = RangeBuffer.RentIfLarge(nested.FieldCount);
            Span<Range> buffer = rented is null ? stackalloc Range[RangeBuffer.StackLimit] : rented;
            try
            {
                nested.GetFieldRanges(value, buffer);
                value = value[buffer[nestedIndex]];
            }
            finally
            {
                RangeBuffer.Return(rented);
            }
        }

        writer.WriteRaw(value);
    }
}

/// <summary>How a field's value is laid out: its union (if nullable) and whether it is length-prefixed.</summary>
/// <param name="NullBranch">The null branch of a <c>["null", T]</c> union, or -1 when the field is not a union.</param>
/// <param name="Kind">The value's kind.</param>
/// <param name="Scale">The scale of a decimal.</param>
internal readonly record struct ValueLayout(int NullBranch, ValueKind Kind, int Scale)
{
    public bool IsNullable => NullBranch >= 0;

    /// <summary>Reads past the union index; returns false for a null value.</summary>
    public bool TryGetValue(ReadOnlySpan<byte> encoded, out ReadOnlySpan<byte> value)
    {
        if (NullBranch < 0)
        {
            value = encoded;
            return true;
        }

        var reader = new AvroReader(encoded);
        if (reader.ReadUnionIndex(2) == NullBranch)
        {
            value = default;
            return false;
        }

        value = encoded[reader.Position..];
        return true;
    }
}

/// <summary>The kinds of value transforms read.</summary>
internal enum ValueKind
{
    Other,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    String,
    Bytes,
    Decimal,
    Enum,
}

/// <summary>Replaces a value by the keyed hash (HMAC-SHA256) of its bytes, as lowercase hex or base64 text; null stays null.</summary>
internal sealed class HashOp(int index, ValueLayout layout, KeyedHash hmac, bool base64) : FieldOp
{
    private const int MemoLimit = 64;

    [ThreadStatic]
    private static HashMemo? t_memo;

    public override int Input => index;

    public override FieldOp Rebase(int input) => new HashOp(input, layout, hmac, base64);

    public override void Write(ref AvroWriter writer, scoped ReadOnlySpan<byte> row, scoped ReadOnlySpan<Range> ranges, scoped EnvelopeView envelope)
    {
        if (!layout.TryGetValue(row[ranges[index]], out var value))
        {
            writer.WriteUnionIndex(0);
            return;
        }

        if (layout.IsNullable)
        {
            writer.WriteUnionIndex(1);
        }

        if (layout.Kind is ValueKind.String or ValueKind.Bytes)
        {
            var reader = new AvroReader(value);
            value = reader.ReadBytes();
        }

        // The last value hashed on this thread is remembered: the before- and after-images of an update usually hold the same value.
        var memo = t_memo ??= new HashMemo();
        if (ReferenceEquals(memo.Owner, this) && value.SequenceEqual(memo.Value.AsSpan(0, memo.ValueLength)))
        {
            writer.WriteStringUtf8(memo.Text.AsSpan(0, memo.TextLength));
            return;
        }

        Span<byte> hash = stackalloc byte[HMACSHA256.HashSizeInBytes];
        hmac.Hash(value, hash);
        Span<byte> text = stackalloc byte[HMACSHA256.HashSizeInBytes * 2];
        int length;
        if (base64)
        {
            Base64.EncodeToUtf8(hash, text, out _, out length);
        }
        else
        {
            length = Hex(hash, text);
        }

        writer.WriteStringUtf8(text[..length]);
        if (value.Length <= MemoLimit)
        {
            memo.Owner = this;
            value.CopyTo(memo.Value);
            memo.ValueLength = value.Length;
            text[..length].CopyTo(memo.Text);
            memo.TextLength = length;
        }
    }

    private static int Hex(ReadOnlySpan<byte> bytes, Span<byte> destination)
    {
        ReadOnlySpan<byte> digits = "0123456789abcdef"u8;
        for (var i = 0; i < bytes.Length; i++)
        {
            destination[2 * i] = digits[bytes[i] >> 4];
            destination[(2 * i) + 1] = digits[bytes[i] & 0xF];
        }

        return bytes.Length * 2;
    }

    private sealed class HashMemo
    {
        public object? Owner { get; set; }

        public byte[] Value { get; } = new byte[MemoLimit];

        public int ValueLength { get; set; }

        public byte[] Text { get; } = new byte[HMACSHA256.HashSizeInBytes * 2];

        public int TextLength { get; set; }
    }
}

/// <summary>Replaces a non-null string by a fixed text, or any nullable value by null.</summary>
internal sealed class RedactOp(int index, ValueLayout layout, byte[]? replacement) : FieldOp
{
    public override int Input => index;

    public override FieldOp Rebase(int input) => new RedactOp(input, layout, replacement);

    public override void Write(ref AvroWriter writer, scoped ReadOnlySpan<byte> row, scoped ReadOnlySpan<Range> ranges, scoped EnvelopeView envelope)
    {
        if (replacement is null)
        {
            writer.WriteUnionIndex(layout.NullBranch);
            return;
        }

        // The output type is ["null", "string"].
        if (!layout.TryGetValue(row[ranges[index]], out _))
        {
            writer.WriteUnionIndex(0);
            return;
        }

        if (layout.IsNullable)
        {
            writer.WriteUnionIndex(1);
        }

        writer.WriteStringUtf8(replacement);
    }
}

/// <summary>Converts a value from one primitive kind to another; a null stays null.</summary>
internal sealed class CastOp(int index, ValueLayout layout, ValueKind target, string fieldName) : FieldOp
{
    public override int Input => index;

    public override FieldOp Rebase(int input) => new CastOp(input, layout, target, fieldName);

    public override void Write(ref AvroWriter writer, scoped ReadOnlySpan<byte> row, scoped ReadOnlySpan<Range> ranges, scoped EnvelopeView envelope)
    {
        if (!layout.TryGetValue(row[ranges[index]], out var value))
        {
            writer.WriteUnionIndex(0);
            return;
        }

        if (layout.IsNullable)
        {
            writer.WriteUnionIndex(1);
        }

        var reader = new AvroReader(value);
        Span<byte> text = stackalloc byte[64];
        switch (layout.Kind)
        {
            case ValueKind.Int or ValueKind.Long:
            {
                var v = reader.ReadLong();
                switch (target)
                {
                    case ValueKind.Int when v is < int.MinValue or > int.MaxValue:
                        // Never the value itself: messages reach logs, dead-letter headers and errors, where masked values must not.
                        throw Fail(v < 0 ? "the value does not fit an int (it is below -2147483648)" : "the value does not fit an int (it is above 2147483647)");
                    case ValueKind.Int:
                        writer.WriteInt((int)v);
                        return;
                    case ValueKind.Long:
                        writer.WriteLong(v);
                        return;
                    case ValueKind.Float:
                        writer.WriteFloat(v);
                        return;
                    case ValueKind.Double:
                        writer.WriteDouble(v);
                        return;
                    case ValueKind.String:
                        v.TryFormat(text, out var written, default, CultureInfo.InvariantCulture);
                        writer.WriteStringUtf8(text[..written]);
                        return;
                }

                break;
            }

            case ValueKind.Float or ValueKind.Double:
            {
                var v = layout.Kind == ValueKind.Float ? reader.ReadFloat() : reader.ReadDouble();
                switch (target)
                {
                    case ValueKind.Double:
                        writer.WriteDouble(v);
                        return;
                    case ValueKind.Float:
                        writer.WriteFloat((float)v);
                        return;
                    case ValueKind.String:
                        WriteText(ref writer, text, layout.Kind == ValueKind.Float ? ((float)v).TryFormat(text, out var w1, default, CultureInfo.InvariantCulture) ? w1 : -1
                            : v.TryFormat(text, out var w2, default, CultureInfo.InvariantCulture) ? w2 : -1);
                        return;
                }

                break;
            }

            case ValueKind.Decimal:
            {
                var v = reader.ReadDecimal(layout.Scale);
                switch (target)
                {
                    case ValueKind.Double:
                        writer.WriteDouble((double)v);
                        return;
                    case ValueKind.String:
                        WriteText(ref writer, text, v.TryFormat(text, out var written, default, CultureInfo.InvariantCulture) ? written : -1);
                        return;
                }

                break;
            }

            case ValueKind.Boolean:
                writer.WriteStringUtf8(reader.ReadBoolean() ? "true"u8 : "false"u8);
                return;
            case ValueKind.String:
            {
                var utf8 = reader.ReadBytes();
                switch (target)
                {
                    case ValueKind.Int when int.TryParse(utf8, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i):
                        writer.WriteInt(i);
                        return;
                    case ValueKind.Long when long.TryParse(utf8, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l):
                        writer.WriteLong(l);
                        return;
                    case ValueKind.Double when double.TryParse(utf8, NumberStyles.Float, CultureInfo.InvariantCulture, out var d):
                        writer.WriteDouble(d);
                        return;
                    case ValueKind.Boolean when utf8.SequenceEqual("true"u8) || utf8.SequenceEqual("false"u8):
                        writer.WriteBoolean(utf8.Length == 4);
                        return;
                    case ValueKind.String:
                        writer.WriteStringUtf8(utf8);
                        return;
                    default:
                        throw Fail(string.Create(CultureInfo.InvariantCulture, $"the string of {utf8.Length} bytes is not a {Names.Kind(target)}"));
                }
            }
        }

        throw Fail($"no conversion from {Names.Kind(layout.Kind)} to {Names.Kind(target)}");
    }

    private void WriteText(ref AvroWriter writer, scoped Span<byte> text, int length)
    {
        if (length < 0)
        {
            throw Fail("the value's text is too long");
        }

        writer.WriteStringUtf8(text[..length]);
    }

    private TransformException Fail(string reason) => new($"cast of field '{fieldName}' to {Names.Kind(target)}: {reason}");
}

/// <summary>A buffer of field ranges: on the stack for records of up to <see cref="StackLimit"/> fields, rented otherwise.</summary>
internal static class RangeBuffer
{
    public const int StackLimit = 128;

    /// <summary>A rented array when <paramref name="count"/> exceeds <see cref="StackLimit"/>, else null (use the stack).</summary>
    public static Range[]? RentIfLarge(int count) => count > StackLimit ? ArrayPool<Range>.Shared.Rent(count) : null;

    public static void Return(Range[]? rented)
    {
        if (rented is not null)
        {
            ArrayPool<Range>.Shared.Return(rented);
        }
    }
}

/// <summary>Names of kinds in messages.</summary>
internal static class Names
{
    public static string Kind(ValueKind kind) => kind switch
    {
        ValueKind.Boolean => "boolean",
        ValueKind.Int => "int",
        ValueKind.Long => "long",
        ValueKind.Float => "float",
        ValueKind.Double => "double",
        ValueKind.String => "string",
        ValueKind.Bytes => "bytes",
        ValueKind.Decimal => "decimal",
        ValueKind.Enum => "enum",
        _ => "value",
    };
}
