using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Modules.Vma.Agent;

/// <summary>vCenter is not configured (section VSphere); the agent runs but cannot discover or sync.</summary>
internal sealed class VCenterNotConfiguredException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The VM named by an API path does not exist in vCenter.</summary>
internal sealed class VmNotFoundException(string vmPath) : Exception($"vCenter has no VM '{vmPath}'");

/// <summary>
/// The shared <see cref="VSphereClient"/>, resolved on first use so an agent without vCenter
/// settings still starts (its health says what is missing), plus VM lookup by moref or path.
/// </summary>
internal sealed class VCenter(IServiceProvider services)
{
    private VSphereClient? _client;

    public VSphereClient Client
    {
        get
        {
            if (_client is not null)
            {
                return _client;
            }
            try
            {
                return _client = services.GetRequiredService<VSphereClient>();
            }
            catch (ArgumentException e)
            {
                throw new VCenterNotConfiguredException($"vCenter is not configured: {e.Message}", e);
            }
        }
    }

    /// <summary>A moref (<c>vm-42</c>, <c>VirtualMachine:vm-42</c>) or an inventory path (<c>/DC0/vm/web01</c>, URL-decoded).</summary>
    public async Task<MoRef> ResolveVmAsync(string vmPath, CancellationToken ct)
    {
        var text = Uri.UnescapeDataString(vmPath ?? "").Trim();
        if (text.Length == 0)
        {
            throw new VmNotFoundException(text);
        }
        if (TryParseMoref(text, out var moref))
        {
            return moref;
        }
        return await Client.FindVmByInventoryPathAsync(text, ct).ConfigureAwait(false) ?? throw new VmNotFoundException(text);
    }

    internal static bool TryParseMoref(string text, out MoRef moref)
    {
        var value = text.StartsWith("VirtualMachine:", StringComparison.Ordinal) ? text["VirtualMachine:".Length..] : text;
        var isMoref = value.StartsWith("vm-", StringComparison.Ordinal) && value.Length > 3
            && value.AsSpan(3).IndexOfAnyExcept("0123456789abcdefghijklmnopqrstuvwxyz-") < 0 && !value.Contains('/', StringComparison.Ordinal);
        moref = isMoref ? MoRef.Vm(value) : default;
        return isMoref;
    }
}
