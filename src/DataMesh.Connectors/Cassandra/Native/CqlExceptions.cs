using System.Globalization;

namespace DataMesh.Connectors.Cassandra.Native;

/// <summary>An ERROR frame from the server: its code (spec section 9) and message.</summary>
internal sealed class CqlServerException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="endpoint">The server, for the message.</param>
    /// <param name="code">The error code.</param>
    /// <param name="serverMessage">The server's message.</param>
    /// <param name="what">What the client was doing (e.g. <c>authenticating as 'cdc'</c>).</param>
    public CqlServerException(string endpoint, int code, string serverMessage, string what)
        : base(string.Create(CultureInfo.InvariantCulture, $"Cassandra {endpoint} answered {what} with error 0x{code:X4} ({CqlFrame.ErrorName(code)}): {serverMessage}"))
    {
        Code = code;
        ServerMessage = serverMessage;
    }

    /// <summary>The error code (0x0100 bad credentials, 0x2100 unauthorized, 0x2200 invalid, …).</summary>
    public int Code { get; }

    /// <summary>The server's own message.</summary>
    public string ServerMessage { get; }

    /// <summary>Whether the error may pass by itself (unavailable, overloaded, bootstrapping, timeouts, failures).</summary>
    public bool IsTransient => Code is 0x1000 or 0x1001 or 0x1002 or 0x1100 or 0x1200 or 0x1300 or 0x1500;
}

/// <summary>A frame that breaks CQL native protocol v4 (bad version byte, a length past the body, a connection closed
/// inside a frame, a response to another stream): the message names the field and the server.</summary>
internal sealed class CqlProtocolException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public CqlProtocolException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
