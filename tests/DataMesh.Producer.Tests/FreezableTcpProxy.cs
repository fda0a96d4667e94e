using System.Net;
using System.Net.Sockets;

namespace DataMesh.Tests.Producer;

/// <summary>
/// Forwards TCP connections to a server and can freeze: while frozen it passes no byte either way but keeps every connection
/// open, as a network partition between a client and its database does (each side sees a peer that went quiet).
/// </summary>
internal sealed class FreezableTcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private readonly Task _accepting;
    private TaskCompletionSource _thawed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public FreezableTcpProxy(string host, int port)
    {
        _host = host;
        _port = port;
        _thawed.SetResult();
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The port on 127.0.0.1 to connect to instead of the server's.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public void Freeze()
    {
        if (Volatile.Read(ref _thawed).Task.IsCompleted)
        {
            Volatile.Write(ref _thawed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }
    }

    public void Thaw() => Volatile.Read(ref _thawed).TrySetResult();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Thaw();
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }
        }

        await _accepting;
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var server = new TcpClient();
                lock (_connections)
                {
                    _connections.Add(client);
                    _connections.Add(server);
                }

                await server.ConnectAsync(_host, _port, _stop.Token);
                _ = PumpAsync(client.GetStream(), server.GetStream());
                _ = PumpAsync(server.GetStream(), client.GetStream());
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Disposed.
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16384];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                await Volatile.Read(ref _thawed).Task.WaitAsync(_stop.Token);
                await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }

            to.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // One side closed, or the proxy was disposed.
        }
    }
}
