using System.Net;
using System.Net.Sockets;

namespace MigrateKit.Tests.Support;

/// <summary>Loopback TCP ports for peers that need one chosen up front (our own servers bind port 0).</summary>
public static class FreePort
{
    /// <summary>
    /// A port that was free a moment ago on 127.0.0.1. The kernel picks it; a memory of recently
    /// handed-out ports avoids giving the same one to two peers started back to back.
    /// </summary>
    public static int Get()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            if (Recent.Add(port))
            {
                return port;
            }
        }
        throw new InvalidOperationException("no free loopback port found");
    }

    /// <summary>Waits until something accepts TCP connections on 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task WaitForListenerAsync(int port, TimeSpan timeout, CancellationToken ct = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        while (true)
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50, cts.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"nothing listened on 127.0.0.1:{port} within {timeout}");
            }
        }
    }

    private static class Recent
    {
        private static readonly Queue<int> Ports = new();

        public static bool Add(int port)
        {
            lock (Ports)
            {
                if (Ports.Contains(port))
                {
                    return false;
                }
                Ports.Enqueue(port);
                if (Ports.Count > 256)
                {
                    Ports.Dequeue();
                }
                return true;
            }
        }
    }
}
