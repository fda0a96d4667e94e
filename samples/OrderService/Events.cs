using DataMesh.Producer;

namespace OrderService;

/// <summary>An order was placed. Topic by convention: <c>dm.order-service.order-placed</c>; key: the order id.</summary>
public sealed record OrderPlaced(
    [property: EventKey] string OrderId,
    Guid CustomerId,
    [property: AvroDecimal(18, 2)] decimal Total,
    string Currency,
    IReadOnlyList<OrderLine> Lines,
    DateTimeOffset PlacedAt);

public sealed record OrderLine(string Sku, int Quantity, [property: AvroDecimal(18, 2)] decimal UnitPrice);

public enum Carrier
{
    Dhl,
    Ups,
    PostNl,
}

/// <summary>An order was shipped. Topic by convention: <c>dm.order-service.order-shipped</c>.</summary>
public sealed record OrderShipped([property: EventKey] string OrderId, Carrier Carrier, string? TrackingCode, DateOnly ShippedOn);
