namespace DataMesh.Connectors.Cassandra.Native;

/// <summary>The operations of CQL native protocol v4 that this client sends or understands (spec section 2.4).</summary>
internal enum CqlOpcode : byte
{
    Error = 0x00,
    Startup = 0x01,
    Ready = 0x02,
    Authenticate = 0x03,
    Options = 0x05,
    Supported = 0x06,
    Query = 0x07,
    Result = 0x08,
    Prepare = 0x09,
    Execute = 0x0A,
    Register = 0x0B,
    Event = 0x0C,
    Batch = 0x0D,
    AuthChallenge = 0x0E,
    AuthResponse = 0x0F,
    AuthSuccess = 0x10,
}

/// <summary>Constants of the v4 frame (spec section 2): a 9-byte header of version, flags, stream id, opcode and body
/// length.</summary>
internal static class CqlFrame
{
    /// <summary>The header's length.</summary>
    public const int HeaderLength = 9;

    /// <summary>The version byte of a request.</summary>
    public const byte RequestVersion = 0x04;

    /// <summary>The version byte of a response (direction bit set).</summary>
    public const byte ResponseVersion = 0x84;

    /// <summary>The largest body the spec allows (256 MB); a longer length is a corrupt frame.</summary>
    public const int MaxBodyLength = 256 * 1024 * 1024;

    /// <summary>Flag: the body is compressed (never asked for by this client).</summary>
    public const byte FlagCompression = 0x01;

    /// <summary>Flag: a tracing id starts the body.</summary>
    public const byte FlagTracing = 0x02;

    /// <summary>Flag: a custom payload (bytes map) follows the tracing id.</summary>
    public const byte FlagCustomPayload = 0x04;

    /// <summary>Flag: a string list of warnings follows.</summary>
    public const byte FlagWarning = 0x08;

    /// <summary>Consistency ONE.</summary>
    public const ushort ConsistencyOne = 0x0001;

    /// <summary>RESULT kinds (spec section 4.2.5).</summary>
    public const int ResultVoid = 1;

    /// <summary>RESULT kind Rows.</summary>
    public const int ResultRows = 2;

    /// <summary>Names an ERROR code (spec section 9).</summary>
    public static string ErrorName(int code) => code switch
    {
        0x0000 => "Server error",
        0x000A => "Protocol error",
        0x0100 => "Bad credentials",
        0x1000 => "Unavailable",
        0x1001 => "Overloaded",
        0x1002 => "Is bootstrapping",
        0x1003 => "Truncate error",
        0x1100 => "Write timeout",
        0x1200 => "Read timeout",
        0x1300 => "Read failure",
        0x1400 => "Function failure",
        0x1500 => "Write failure",
        0x2000 => "Syntax error",
        0x2100 => "Unauthorized",
        0x2200 => "Invalid",
        0x2300 => "Config error",
        0x2400 => "Already exists",
        0x2500 => "Unprepared",
        _ => "Unknown error",
    };
}
