using System.Net.Sockets;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DataMesh.Hosting;

namespace DataMesh.Sources;

/// <summary>The runtime's classification of errors that every connector meets (Kafka, the network, timeouts).</summary>
public static class SourceErrors
{
    /// <summary>Whether an error may clear by itself, so that retrying with backoff is the right answer. A
    /// <see cref="SourceException"/> says so itself; Kafka errors are transient unless fatal, about the request itself
    /// (authorisation, a record too large, an invalid record) or the cluster's refusal to create a topic (authorisation,
    /// policy); network errors and timeouts are transient; otherwise the inner exception decides.</summary>
    /// <param name="exception">The error.</param>
    /// <returns>True when transient.</returns>
    public static bool IsTransient(Exception exception) => exception switch
    {
        null => false,
        SourceException source => source.IsTransient,
        CreateTopicsException create => !create.Results.Any(r => KafkaAdmin.IsRefusal(r.Error.Code)),
        KafkaException kafka => !kafka.Error.IsFatal && kafka.Error.Code is not (
            ErrorCode.MsgSizeTooLarge or ErrorCode.TopicAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed or
            ErrorCode.GroupAuthorizationFailed or ErrorCode.TransactionalIdAuthorizationFailed or
            ErrorCode.TopicException or ErrorCode.InvalidRecord or ErrorCode.RecordListTooLarge or ErrorCode.InvalidMsg or
            ErrorCode.SaslAuthenticationFailed or ErrorCode.Local_Authentication or
            ErrorCode.InvalidConfig or ErrorCode.Local_InvalidArg or ErrorCode.Local_Fatal),
        IOException or SocketException or TimeoutException => true,
        _ => exception.InnerException is { } inner && IsTransient(inner),
    };
}
