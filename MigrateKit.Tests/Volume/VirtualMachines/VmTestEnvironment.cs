using System.Collections.Concurrent;
using Dapper;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.Ossea;
using MySqlConnector;

namespace MigrateKit.Tests.Volume.VirtualMachines;

/// <summary>
/// The real OMA service against the OSSEA emulator (like <see cref="OmaWithOssea"/>), plus a
/// <see cref="VirtualMachineCreatedNotification"/> handler that records what the world looked like
/// at the moment each notification arrived.
/// </summary>
internal sealed class VmTestEnvironment : IAsyncDisposable
{
    private readonly OmaWithOssea _env;

    private VmTestEnvironment(OmaWithOssea env, CreatedVmProbe probe)
    {
        _env = env;
        Probe = probe;
    }

    public OsseaEmulator Emulator => _env.Emulator;
    public OmaTestHost Host => _env.Host;
    public CreatedVmProbe Probe { get; }
    public int ConfigId => _env.ConfigId;

    public static async Task<VmTestEnvironment> StartAsync(string connectionString)
    {
        CreatedVmProbe? probe = null;
        var env = await OmaWithOssea.StartAsync(connectionString, configureServices: (emulator, services) =>
        {
            probe = new CreatedVmProbe(emulator, connectionString);
            services.AddSingleton(probe);
            services.AddTransient<INotificationHandler<VirtualMachineCreatedNotification>, CreatedVmProbe.Handler>();
        });
        return new VmTestEnvironment(env, probe!);
    }

    public Task<T> SendAsync<T>(IRequest<T> request, CancellationToken ct = default) => _env.SendAsync(request, ct);

    public CreateVirtualMachineCommand Create(string name, string owner = "failover-1", params VmNicRequest[] nics) =>
        new(ConfigId, name, owner, nics.Length > 0 ? nics : [new VmNicRequest(Emulator.NetworkId)]);

    public ValueTask DisposeAsync() => _env.DisposeAsync();
}

/// <summary>What a notification handler saw when it ran.</summary>
/// <param name="VolumesOnVm">The emulator's volumes attached to the VM at that moment (type, name).</param>
/// <param name="DeployJobStatuses">cloudstack_job_tracking.status of the deploy jobs at that moment.</param>
internal sealed record SeenNotification(
    VirtualMachineCreatedNotification Notification, IReadOnlyList<EmulatedVolumeView> VolumesOnVm, string? VmState,
    IReadOnlyList<string> DeployJobStatuses, IReadOnlyList<string> OperationVmIds);

internal sealed class CreatedVmProbe(OsseaEmulator emulator, string connectionString)
{
    public ConcurrentQueue<SeenNotification> Seen { get; } = new();

    /// <summary>Set to make the handler fail after recording (a caller that cannot take the VM).</summary>
    public Exception? FailWith { get; set; }

    internal sealed class Handler(CreatedVmProbe probe) : INotificationHandler<VirtualMachineCreatedNotification>
    {
        public async Task Handle(VirtualMachineCreatedNotification notification, CancellationToken cancellationToken)
        {
            var volumes = probe.Emulator.Volumes().Where(v => v.VirtualMachineId == notification.VmId && !v.Removed).ToList();
            await using var conn = new MySqlConnection(probe.ConnectionString);
            await conn.OpenAsync(cancellationToken);
            var jobs = (await conn.QueryAsync<string>(
                "SELECT status FROM cloudstack_job_tracking WHERE cloudstack_command = 'deployVirtualMachine' ORDER BY id")).ToList();
            var operationVms = (await conn.QueryAsync<string>(
                "SELECT COALESCE(vm_id, '') FROM volume_operations WHERE type = 'create_vm' ORDER BY created_at")).ToList();
            probe.Seen.Enqueue(new SeenNotification(notification, volumes, probe.Emulator.VirtualMachineState(notification.VmId), jobs, operationVms));
            if (probe.FailWith is { } failure)
            {
                throw failure;
            }
        }
    }

    private OsseaEmulator Emulator => emulator;

    private string ConnectionString => connectionString;
}
