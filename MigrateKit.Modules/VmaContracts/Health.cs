namespace MigrateKit.Modules.VmaContracts;

/// <summary>GET /api/v1/health (200, or 503 when degraded).</summary>
/// <param name="Status"><c>ok</c> or <c>degraded</c>.</param>
public sealed record VmaHealth(string Status, string Version, VmaVCenterHealth VCenter, VmaTunnelHealth Tunnel);

public sealed record VmaVCenterHealth(bool Configured, bool Reachable, string? Address, string? Error);

/// <param name="State"><c>connected</c>, <c>connecting</c>, <c>stopped</c>, <c>disabled</c> or <c>not-enrolled</c>.</param>
public sealed record VmaTunnelHealth(string State, int Connections, string? LastError);
