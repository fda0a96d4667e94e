using System.Data.Common;

namespace DataMesh.Connectors;

/// <summary>Opening ADO.NET connections the one way the connectors do.</summary>
internal static class DbConnections
{
    /// <summary>Opens <paramref name="connection"/>; disposes it when opening fails (no half-open connection is left to the
    /// pool or the finalizer).</summary>
    public static async Task<T> OpenAsync<T>(T connection, CancellationToken cancellationToken)
        where T : DbConnection
    {
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
