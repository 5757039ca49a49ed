using System.Collections.Concurrent;
using System.Text.Json;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume.Operations;

/// <summary>
/// Serializes attach and detach per VM (OSSEA fails them in parallel on one VM) and any two
/// operations on one volume.
/// </summary>
internal sealed class VolumeLocks
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    public async Task<IDisposable> AcquireAsync(IEnumerable<string> keys, CancellationToken ct)
    {
        // A fixed order prevents two operations taking the same pair of locks in opposite orders.
        var ordered = keys.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var taken = new List<SemaphoreSlim>();
        try
        {
            foreach (var key in ordered)
            {
                var gate = _locks.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
                await gate.WaitAsync(ct);
                taken.Add(gate);
            }
            return new Release(taken);
        }
        catch
        {
            new Release(taken).Dispose();
            throw;
        }
    }

    public static string Vm(string vmId) => "vm:" + vmId;

    public static string Volume(string volumeId) => "volume:" + volumeId;

    private sealed class Release(List<SemaphoreSlim> gates) : IDisposable
    {
        public void Dispose()
        {
            for (var i = gates.Count - 1; i >= 0; i--)
            {
                gates[i].Release();
            }
        }
    }
}
