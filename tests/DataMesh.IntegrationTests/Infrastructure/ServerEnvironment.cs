namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>
/// The settings of the throwaway servers, read from the environment that <c>./build.sh test</c> (or
/// <c>./build.sh servers</c>, then <c>source $DATAMESH_SERVERS_ROOT/env.sh</c>) exports. A missing setting fails
/// the test that needs it: a server test is never skipped.
/// </summary>
public static class ServerEnvironment
{
    public const string PostgresConnection = "DATAMESH_PG_CONNECTION";
    public const string PostgresBin = "DATAMESH_PG_BIN";
    public const string PostgresData = "DATAMESH_PG_DATA";
    public const string PostgresControl = "DATAMESH_PG_CTL_COMMAND";
    public const string MariaDbConnection = "DATAMESH_MARIADB_CONNECTION";
    public const string MariaDbData = "DATAMESH_MARIADB_DATA";
    public const string MariaDbBinlogDirectory = "DATAMESH_MARIADB_BINLOG_DIR";
    public const string MariaDbControl = "DATAMESH_MARIADB_CTL_COMMAND";
    public const string MariaDbLog = "DATAMESH_MARIADB_LOG";

    /// <summary>The folder of the servers' throwaway CA (ca.pem, ca.key) and server certificate (for IP 127.0.0.1).</summary>
    public const string TlsDirectory = "DATAMESH_TLS_DIR";

    /// <summary>The user of both servers that must present a client certificate with CN=its name, signed by that CA.</summary>
    public const string TlsUser = "DATAMESH_TLS_USER";

    public const string TlsPassword = "DATAMESH_TLS_PASSWORD";

    /// <summary>The value of <paramref name="name"/>; throws when it is missing or empty.</summary>
    public static string Require(string name)
    {
        var value = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidOperationException(MissingMessage(name));
        }

        return value;
    }

    public static string MissingMessage(string name) =>
        $"{name} is not set: run ./build.sh test, which starts the servers";
}
