using System.Buffers;
using System.Text;
using DataMesh.Events;
using DataMesh.Pipelines.Transforms;
using Xunit;
using static DataMesh.Tests.Pipelines.PipelineTestData;

namespace DataMesh.Tests.Pipelines;

/// <summary>The outbox router over real change events of the Producer SDK's outbox table, written by <see cref="ChangeEventEncoder"/>.</summary>
public sealed class OutboxRouterTests
{
    private static readonly Guid EventId = Guid.Parse("0190f3a1-2b3c-7d4e-8f90-a1b2c3d4e5f6");
    private static readonly byte[] Payload = [0, 0, 0, 0, 42, 0x06, (byte)'a', (byte)'b', (byte)'c'];
    private static readonly byte[] Key = [0, 0, 0, 0, 41, 0x02, (byte)'k'];
    private const string FullHeaders = """{"ce_specversion":"1.0","ce_id":"0190f3a1-2b3c-7d4e-8f90-a1b2c3d4e5f6","ce_source":"order-service","ce_type":"shop.OrderPlaced"}""";

    /// <summary>The PostgreSQL outbox table of <c>OutboxTable.CreateSql</c>, as the PostgreSQL connector describes it.</summary>
    private static TableDescription OutboxTable(bool nullableTopicAndPayload = false, DataType? payloadType = null, bool withHeaders = true, DataTypeKind idKind = DataTypeKind.Uuid,
        string topic = "topic", string payload = "payload")
    {
        var columns = new List<ColumnDescription>
        {
            new("sequence", DataType.Of(DataTypeKind.Int64, "bigint"), false),
            new("id", DataType.Of(idKind, idKind == DataTypeKind.Uuid ? "uuid" : "char(36)"), false),
            new(topic, DataType.Of(DataTypeKind.String, "varchar(249)"), nullableTopicAndPayload),
            new("aggregate_id", DataType.Of(DataTypeKind.String, "text"), true),
            new("event_key", DataType.Of(DataTypeKind.Bytes, "bytea"), true),
            new("event_type", DataType.Of(DataTypeKind.String, "varchar(512)"), false),
            new(payload, payloadType ?? DataType.Of(DataTypeKind.Bytes, "bytea"), nullableTopicAndPayload),
        };
        if (withHeaders)
        {
            columns.Add(new("headers", DataType.Of(DataTypeKind.String, "text"), false));
        }

        columns.Add(new("created_at", DataType.Of(DataTypeKind.Timestamp, "timestamptz"), false));
        return new TableDescription("public", "datamesh_outbox", columns, ["sequence"]);
    }

    private static readonly ChangeEventSchemas Outbox = SchemasOf(OutboxTable());

    private static object?[] OutboxRow(string? topic = "dm.order-service.order", byte[]? key = null, bool noKey = false, string type = "shop.OrderPlaced",
        byte[]? payload = null, bool nullPayload = false, string headers = FullHeaders, object? id = null, bool withHeaders = true)
    {
        var row = new List<object?>
        {
            7L, id ?? EventId, topic, "order-1", noKey ? null : key ?? Key, type, nullPayload ? null : payload ?? Payload,
        };
        if (withHeaders)
        {
            row.Add(headers);
        }

        row.Add(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
        return [.. row];
    }

    private static byte[] Insert(object?[] row, ChangeEventSchemas? schemas = null, ChangeOperation op = ChangeOperation.Create) =>
        Envelope(op, op == ChangeOperation.Create || op == ChangeOperation.Read ? null : row, op == ChangeOperation.Delete || op == ChangeOperation.Truncate ? null : row, schemas ?? Outbox);

    private static (TransformOutcome Outcome, byte[] Output, RecordContext Context) Route(byte[] envelope, Transform? router = null, ChangeEventSchemas? schemas = null)
    {
        var chain = new TransformChain([router ?? Transform.OutboxRouter()]).Plan((schemas ?? Outbox).EnvelopeSchema);
        var output = new ArrayBufferWriter<byte>();
        var context = default(RecordContext);
        var outcome = chain.Execute(envelope, output, ref context);
        return (outcome, output.WrittenSpan.ToArray(), context);
    }

    private static (byte[] Value, byte[]? Key, string Headers) Split(byte[] output, RecordContext context)
    {
        Assert.True(context.IsRaw);
        var value = output[..context.RawValueLength];
        var key = context.RawKeyLength < 0 ? null : output.AsSpan(context.RawValueLength, context.RawKeyLength).ToArray();
        var headersStart = context.RawValueLength + Math.Max(0, context.RawKeyLength);
        Assert.Equal(output.Length, headersStart + context.RawHeadersLength);
        return (value, key, Encoding.UTF8.GetString(output, headersStart, context.RawHeadersLength));
    }

    [Fact]
    public void An_insert_becomes_the_event_it_holds()
    {
        var (outcome, output, context) = Route(Insert(OutboxRow()));

        Assert.Equal(TransformOutcome.Emit, outcome);
        Assert.Equal("dm.order-service.order", context.Topic);
        var (value, key, headers) = Split(output, context);
        Assert.Equal(Payload, value);
        Assert.Equal(Key, key);
        Assert.Equal(FullHeaders, headers);
        Assert.Equal([.. Payload, .. Key, .. Encoding.UTF8.GetBytes(FullHeaders)], output);
    }

    [Fact]
    public void A_snapshot_read_is_published_and_a_null_key_means_no_key()
    {
        var (outcome, output, context) = Route(Insert(OutboxRow(noKey: true), op: ChangeOperation.Read));

        Assert.Equal(TransformOutcome.Emit, outcome);
        Assert.Equal(-1, context.RawKeyLength);
        var (value, key, headers) = Split(output, context);
        Assert.Equal(Payload, value);
        Assert.Null(key);
        Assert.Equal(FullHeaders, headers);
    }

    [Fact]
    public void Missing_ce_id_and_ce_type_are_added_and_present_ones_are_kept()
    {
        const string Id = "0190f3a1-2b3c-7d4e-8f90-a1b2c3d4e5f6";
        string HeadersOf(string headers, string type = "shop.OrderPlaced")
        {
            var (_, output, context) = Route(Insert(OutboxRow(headers: headers, type: type)));
            return Split(output, context).Headers;
        }

        Assert.Equal($$"""{"ce_id":"{{Id}}","ce_type":"shop.OrderPlaced"}""", HeadersOf("{}"));
        Assert.Equal($$"""{"ce_source":"s","ce_id":"{{Id}}","ce_type":"shop.OrderPlaced"}""", HeadersOf("""{"ce_source":"s"}"""));
        Assert.Equal($$"""{"ce_id":"mine","ce_type":"shop.OrderPlaced"}""", HeadersOf("""{"ce_id":"mine"}"""));
        Assert.Equal($$"""{"ce_type":"theirs","ce_id":"{{Id}}"}""", HeadersOf("""{"ce_type":"theirs"}"""));
        Assert.Equal($$"""{ "a" : "b" ,"ce_id":"{{Id}}","ce_type":"shop.OrderPlaced"}  """, HeadersOf("""{ "a" : "b" }  """));

        // A name written with escapes is the same name; values added are escaped as JSON strings.
        Assert.Equal("""{"ce\u005fid":"x","ce_type":"a\"b\\c\u0001"}""", HeadersOf("""{"ce\u005fid":"x"}""", "a\"b\\c\u0001"));

        // An empty headers text counts as no headers.
        Assert.Equal($$"""{"ce_id":"{{Id}}","ce_type":"shop.OrderPlaced"}""", HeadersOf(string.Empty));
    }

    [Fact]
    public void Deletes_truncates_and_by_default_updates_are_dropped()
    {
        var row = OutboxRow();

        Assert.Equal(TransformOutcome.Drop, Route(Insert(row, op: ChangeOperation.Delete)).Outcome);
        Assert.Equal(TransformOutcome.Drop, Route(Insert(row, op: ChangeOperation.Truncate)).Outcome);
        Assert.Equal(TransformOutcome.Drop, Route(Insert(row, op: ChangeOperation.Update)).Outcome);
        var (_, output, context) = Route(Insert(row, op: ChangeOperation.Delete));
        Assert.Empty(output);
        Assert.False(context.IsRaw);

        var reject = Transform.OutboxRouter(new OutboxRouterOptions { Updates = OutboxUpdateHandling.Reject });
        var e = Assert.Throws<TransformException>(() => Route(Insert(row, op: ChangeOperation.Update), reject));
        Assert.Equal("outbox-router(updates: reject)", e.Stage);
        Assert.Contains("update", e.Message, StringComparison.Ordinal);
        Assert.Equal(TransformOutcome.Drop, Route(Insert(row, op: ChangeOperation.Delete), reject).Outcome);
    }

    [Fact]
    public void Records_that_cannot_be_published_are_refused_one_by_one()
    {
        var nullable = SchemasOf(OutboxTable(nullableTopicAndPayload: true));

        string Refused(object?[] row, ChangeEventSchemas? schemas = null)
        {
            var e = Assert.Throws<TransformException>(() => Route(Insert(row, schemas), schemas: schemas));
            Assert.Equal("outbox-router", e.Stage);
            return e.Message;
        }

        Assert.Contains("starts with 0x7B, not the magic byte 0x00", Refused(OutboxRow(payload: "{\"a\":1}"u8.ToArray())), StringComparison.Ordinal);
        Assert.Contains("has 3 bytes; the Confluent wire format needs a 5-byte header", Refused(OutboxRow(payload: [0, 0, 1])), StringComparison.Ordinal);
        Assert.Contains("null topic (column 'topic')", Refused(OutboxRow(topic: null), nullable), StringComparison.Ordinal);
        Assert.Contains("null payload (column 'payload')", Refused(OutboxRow(nullPayload: true), nullable), StringComparison.Ordinal);
        Assert.Contains("names the topic 'bad topic!'", Refused(OutboxRow(topic: "bad topic!")), StringComparison.Ordinal);
        Assert.Contains("are not valid JSON", Refused(OutboxRow(headers: "{\"a\":")), StringComparison.Ordinal);
        Assert.Contains("are not valid JSON", Refused(OutboxRow(headers: "{} x")), StringComparison.Ordinal);
        Assert.Contains("a JSON StartArray, not an object", Refused(OutboxRow(headers: "[]")), StringComparison.Ordinal);
        Assert.Contains("the header 'n' is a JSON Number, not a string", Refused(OutboxRow(headers: """{"n":1}""")), StringComparison.Ordinal);
        Assert.Contains(EventId.ToString(), Refused(OutboxRow(topic: "")), StringComparison.Ordinal);

        // The nullable table still routes good rows.
        Assert.Equal(TransformOutcome.Emit, Route(Insert(OutboxRow(), nullable), schemas: nullable).Outcome);
    }

    [Fact]
    public void Planning_names_the_missing_or_mistyped_column()
    {
        var router = Transform.OutboxRouter();

        var notEnvelope = Assert.Throws<TransformPlanException>(() => router.Plan(Outbox.RowSchema));
        Assert.Contains("not a change-event envelope", notEnvelope.Message, StringComparison.Ordinal);

        var missing = Assert.Throws<TransformPlanException>(() => router.Plan(SchemasOf(OutboxTable(withHeaders: false)).EnvelopeSchema));
        Assert.Contains("has no column 'headers' (OutboxRouterOptions.HeadersColumn)", missing.Message, StringComparison.Ordinal);
        Assert.Contains("sequence, id, topic, aggregate_id, event_key, event_type, payload, created_at", missing.Message, StringComparison.Ordinal);

        var mistyped = Assert.Throws<TransformPlanException>(() => router.Plan(SchemasOf(OutboxTable(payloadType: DataType.Of(DataTypeKind.String, "text"))).EnvelopeSchema));
        Assert.Contains("the column 'payload' (OutboxRouterOptions.PayloadColumn)", mistyped.Message, StringComparison.Ordinal);
        Assert.Contains("is string; the router needs bytes", mistyped.Message, StringComparison.Ordinal);

        var nullableMistyped = Assert.Throws<TransformPlanException>(() =>
            router.Plan(SchemasOf(OutboxTable(nullableTopicAndPayload: true, payloadType: DataType.Of(DataTypeKind.Int64, "bigint"))).EnvelopeSchema));
        Assert.Contains("is [null, long]", nullableMistyped.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Columns_can_be_renamed_and_a_text_id_works()
    {
        var schemas = SchemasOf(OutboxTable(idKind: DataTypeKind.String, topic: "destination", payload: "body"));
        var router = Transform.OutboxRouter(new OutboxRouterOptions { TopicColumn = "destination", PayloadColumn = "body" });

        var (outcome, output, context) = Route(Insert(OutboxRow(id: "evt-1", headers: "{}"), schemas), router, schemas);

        Assert.Equal(TransformOutcome.Emit, outcome);
        Assert.Equal("dm.order-service.order", context.Topic);
        Assert.Equal("""{"ce_id":"evt-1","ce_type":"shop.OrderPlaced"}""", Split(output, context).Headers);
        Assert.Throws<TransformPlanException>(() => Transform.OutboxRouter().Plan(schemas.EnvelopeSchema));
    }

    [Fact]
    public void Bad_options_are_refused_at_declaration()
    {
        var empty = Assert.Throws<ArgumentException>(() => Transform.OutboxRouter(new OutboxRouterOptions { TopicColumn = " " }));
        Assert.Contains("OutboxRouterOptions.TopicColumn", empty.Message, StringComparison.Ordinal);

        var twice = Assert.Throws<ArgumentException>(() => Transform.OutboxRouter(new OutboxRouterOptions { HeadersColumn = "payload" }));
        Assert.Contains("OutboxRouterOptions.HeadersColumn and OutboxRouterOptions.PayloadColumn both name the column 'payload'", twice.Message, StringComparison.Ordinal);

        var updates = Assert.Throws<ArgumentException>(() => Transform.OutboxRouter(new OutboxRouterOptions { Updates = (OutboxUpdateHandling)9 }));
        Assert.Contains("OutboxRouterOptions.Updates", updates.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_router_must_be_last_and_the_chain_says_it_emits_raw_records()
    {
        var e = Assert.Throws<ArgumentException>(() => new TransformChain([Transform.OutboxRouter(), Transform.Filter("op == 'c'")]));
        Assert.Contains("outbox-router must be the last transform of a chain", e.Message, StringComparison.Ordinal);
        Assert.Contains("move 'filter(op == 'c')' before it", e.Message, StringComparison.Ordinal);

        var chain = new TransformChain([Transform.Filter("event_type != 'shop.Ignored'"), Transform.OutboxRouter()]);
        var planned = chain.Plan(Outbox.EnvelopeSchema);
        Assert.True(chain.EmitsRawRecords);
        Assert.True(planned.EmitsRawRecords);
        Assert.True(planned.Stages[^1].EmitsRawRecords);
        Assert.False(new TransformChain([Transform.Unwrap()]).EmitsRawRecords);
        Assert.False(new TransformChain([Transform.Unwrap()]).Plan(Outbox.EnvelopeSchema).EmitsRawRecords);
        Assert.False(new TransformChain([]).Plan(Outbox.EnvelopeSchema).EmitsRawRecords);

        var output = new ArrayBufferWriter<byte>();
        var context = default(RecordContext);
        Assert.Equal(TransformOutcome.Drop, planned.Execute(Insert(OutboxRow(type: "shop.Ignored")), output, ref context));
        Assert.Equal(TransformOutcome.Emit, planned.Execute(Insert(OutboxRow()), output, ref context));
        Assert.Equal([.. Payload, .. Key, .. Encoding.UTF8.GetBytes(FullHeaders)], output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Routing_allocates_nothing_per_record_in_steady_state()
    {
        var chain = new TransformChain([Transform.Filter("op != 'd'"), Transform.OutboxRouter()]).Plan(Outbox.EnvelopeSchema);
        var complete = Insert(OutboxRow(topic: "t.one"));
        var added = Insert(OutboxRow(topic: "t.two", headers: """{"ce_source":"s"}""", noKey: true));
        var output = new ArrayBufferWriter<byte>(1024);
        var context = default(RecordContext);
        Assert.Equal(0, PipelineTestData.AllocatedBytes(Once));
        Assert.Equal("t.two", context.Topic);

        // No Assert inside the measured loop: xunit's comparers allocate.
        void Once()
        {
            output.ResetWrittenCount();
            context = default;
            var first = chain.Execute(complete, output, ref context);
            output.ResetWrittenCount();
            context = default;
            var second = chain.Execute(added, output, ref context);
            if (first != TransformOutcome.Emit || second != TransformOutcome.Emit || !context.IsRaw)
            {
                throw new InvalidOperationException("A record was not emitted.");
            }
        }
    }
}
