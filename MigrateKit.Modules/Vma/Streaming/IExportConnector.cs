using MigrateKit.Modules.Transport.Nbd;

namespace MigrateKit.Modules.Vma.Streaming;

/// <summary>Connects to a target export on the OMA (in the agent: a tunnel stream to service <c>nbd</c>).</summary>
internal interface IExportConnector
{
    Task<NbdClient> ConnectExportAsync(string exportName, CancellationToken ct);
}
