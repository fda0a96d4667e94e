namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>Binlog event type codes (MySQL's <c>Log_event_type</c> and MariaDB's additions from 160).</summary>
internal enum BinlogEventType : byte
{
    Unknown = 0,
    StartV3 = 1,
    Query = 2,
    Stop = 3,
    Rotate = 4,
    Intvar = 5,
    Slave = 7,
    AppendBlock = 9,
    DeleteFile = 11,
    Rand = 13,
    UserVar = 14,
    FormatDescription = 15,
    Xid = 16,
    BeginLoadQuery = 17,
    ExecuteLoadQuery = 18,
    TableMap = 19,
    WriteRowsV1 = 23,
    UpdateRowsV1 = 24,
    DeleteRowsV1 = 25,
    Incident = 26,
    Heartbeat = 27,
    Ignorable = 28,
    RowsQuery = 29,
    WriteRowsV2 = 30,
    UpdateRowsV2 = 31,
    DeleteRowsV2 = 32,
    MySqlGtid = 33,
    MySqlAnonymousGtid = 34,
    PreviousGtids = 35,
    TransactionContext = 36,
    ViewChange = 37,
    XaPrepare = 38,
    PartialUpdateRows = 39,
    TransactionPayload = 40,
    HeartbeatV2 = 41,
    GtidTagged = 42,
    AnnotateRows = 160,
    BinlogCheckpoint = 161,
    MariaDbGtid = 162,
    GtidList = 163,
    StartEncryption = 164,
    QueryCompressed = 165,
    WriteRowsCompressedV1 = 166,
    UpdateRowsCompressedV1 = 167,
    DeleteRowsCompressedV1 = 168,
    WriteRowsCompressed = 169,
    UpdateRowsCompressed = 170,
    DeleteRowsCompressed = 171,
}

/// <summary>Names of event types for messages.</summary>
internal static class BinlogEventTypes
{
    private static readonly string[] Names = BuildNames();

    public static string Name(byte type) => Names[type];

    private static string[] BuildNames()
    {
        var names = new string[256];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = "event type " + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        void Set(BinlogEventType type, string name) => names[(int)type] = name;
        Set(BinlogEventType.Query, "QUERY");
        Set(BinlogEventType.Stop, "STOP");
        Set(BinlogEventType.Rotate, "ROTATE");
        Set(BinlogEventType.FormatDescription, "FORMAT_DESCRIPTION");
        Set(BinlogEventType.Xid, "XID");
        Set(BinlogEventType.TableMap, "TABLE_MAP");
        Set(BinlogEventType.WriteRowsV1, "WRITE_ROWS_v1");
        Set(BinlogEventType.UpdateRowsV1, "UPDATE_ROWS_v1");
        Set(BinlogEventType.DeleteRowsV1, "DELETE_ROWS_v1");
        Set(BinlogEventType.WriteRowsV2, "WRITE_ROWS_v2");
        Set(BinlogEventType.UpdateRowsV2, "UPDATE_ROWS_v2");
        Set(BinlogEventType.DeleteRowsV2, "DELETE_ROWS_v2");
        Set(BinlogEventType.Heartbeat, "HEARTBEAT");
        Set(BinlogEventType.HeartbeatV2, "HEARTBEAT_v2");
        Set(BinlogEventType.RowsQuery, "ROWS_QUERY");
        Set(BinlogEventType.MySqlGtid, "GTID");
        Set(BinlogEventType.MySqlAnonymousGtid, "ANONYMOUS_GTID");
        Set(BinlogEventType.PreviousGtids, "PREVIOUS_GTIDS");
        Set(BinlogEventType.AnnotateRows, "ANNOTATE_ROWS");
        Set(BinlogEventType.BinlogCheckpoint, "BINLOG_CHECKPOINT");
        Set(BinlogEventType.MariaDbGtid, "GTID (MariaDB)");
        Set(BinlogEventType.GtidList, "GTID_LIST");
        Set(BinlogEventType.StartEncryption, "START_ENCRYPTION");
        Set(BinlogEventType.QueryCompressed, "QUERY_COMPRESSED");
        Set(BinlogEventType.WriteRowsCompressedV1, "WRITE_ROWS_COMPRESSED_v1");
        Set(BinlogEventType.UpdateRowsCompressedV1, "UPDATE_ROWS_COMPRESSED_v1");
        Set(BinlogEventType.DeleteRowsCompressedV1, "DELETE_ROWS_COMPRESSED_v1");
        Set(BinlogEventType.WriteRowsCompressed, "WRITE_ROWS_COMPRESSED");
        Set(BinlogEventType.UpdateRowsCompressed, "UPDATE_ROWS_COMPRESSED");
        Set(BinlogEventType.DeleteRowsCompressed, "DELETE_ROWS_COMPRESSED");
        Set(BinlogEventType.TransactionPayload, "TRANSACTION_PAYLOAD");
        Set(BinlogEventType.PartialUpdateRows, "PARTIAL_UPDATE_ROWS");
        Set(BinlogEventType.Intvar, "INTVAR");
        Set(BinlogEventType.Rand, "RAND");
        Set(BinlogEventType.UserVar, "USER_VAR");
        Set(BinlogEventType.Incident, "INCIDENT");
        Set(BinlogEventType.XaPrepare, "XA_PREPARE");
        Set(BinlogEventType.BeginLoadQuery, "BEGIN_LOAD_QUERY");
        Set(BinlogEventType.AppendBlock, "APPEND_BLOCK");
        Set(BinlogEventType.ExecuteLoadQuery, "EXECUTE_LOAD_QUERY");
        Set(BinlogEventType.DeleteFile, "DELETE_FILE");
        return names;
    }
}
