using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;
using MigrateKit.Modules.Volume.Validation;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

internal static class CreateVirtualMachine
{
    private const string MacPattern = "^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$";

    internal sealed class Validator : AbstractValidator<CreateVirtualMachineCommand>
    {
        public Validator()
        {
            RuleFor(c => c.OsseaConfigId).GreaterThan(0);
            RuleFor(c => c.Name).VmHostName();
            RuleFor(c => c.Owner).NotEmpty().MaximumLength(128);
            RuleFor(c => c.DisplayName).MaximumLength(255);
            RuleFor(c => c.ServiceOfferingId).MaximumLength(64);
            RuleFor(c => c.Nics).NotNull().NotEmpty().WithMessage("A VM needs at least one NIC (the first is its default NIC).");
            RuleForEach(c => c.Nics).NotNull().ChildRules(nic =>
            {
                nic.RuleFor(n => n.NetworkId).OsseaId();
                nic.RuleFor(n => n.MacAddress).Matches(MacPattern).When(n => n.MacAddress is not null)
                    .WithMessage("MacAddress must look like 02:00:4c:4f:4f:50.");
            });
            RuleFor(c => c.Nics).Must(n => n is null || n.Where(x => x?.MacAddress is not null)
                    .Select(x => x.MacAddress!.ToLowerInvariant()).Distinct().Count() == n.Count(x => x?.MacAddress is not null))
                .WithMessage("Two NICs cannot have the same MAC address.");
            RuleFor(c => c.CpuNumber).InclusiveBetween(1, 256);
            RuleFor(c => c.MemoryMb).InclusiveBetween(128, 4 * 1024 * 1024);
        }
    }

    internal sealed class Handler(
        OsseaClients clients, VirtualMachineStore store, OperationRecorder operations, VolumeLocks locks, IMediator mediator, IJobTracker jobs)
        : IRequestHandler<CreateVirtualMachineCommand, VirtualMachineView>
    {
        public async Task<VirtualMachineView> Handle(CreateVirtualMachineCommand c, CancellationToken cancellationToken)
        {
            var (client, config) = await clients.GetAsync(c.OsseaConfigId, cancellationToken);
            return await operations.RunAsync("create_vm", null, null, c, async (operationId, ct) =>
            {
                // One create per name at a time: a retry racing the first attempt must see its VM, not deploy a second.
                using var nameLock = await locks.AcquireAsync([$"vm-name:{c.OsseaConfigId}:{c.Name}"], ct);
                var published = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                async Task PublishAsync(string vmId, CancellationToken token)
                {
                    if (!published.Add(vmId))
                    {
                        return;
                    }
                    await operations.SetVmAsync(operationId, vmId, token);
                    await Log($"OSSEA VM {vmId} exists; telling {c.Owner}", token);
                    await mediator.Publish(new VirtualMachineCreatedNotification(c.OsseaConfigId, vmId, c.Name, c.Owner), token);
                }

                var existing = await FindLiveByNameAsync(client, c.Name, ct);
                OsseaVirtualMachine vm;
                if (existing is not null)
                {
                    if (!await store.WasCreatedForAsync(c.OsseaConfigId, c.Name, c.Owner, existing.Id, operationId, ct))
                    {
                        throw new ConflictException($"OSSEA already has a VM named '{c.Name}' ({existing.Id}) that was not created for {c.Owner}.");
                    }
                    await Log($"reusing VM {existing.Id} created earlier for {c.Owner}", ct);
                    vm = existing;
                    await PublishAsync(vm.Id, ct);
                    if (string.Equals(vm.State, OsseaVmStates.Error, StringComparison.OrdinalIgnoreCase))
                    {
                        // OSSEA keeps a VM whose deploy failed, in Error; it never becomes usable.
                        throw new ConflictException(
                            $"VM {vm.Id} ('{c.Name}') is in state Error (its deploy failed); destroy it (DestroyVirtualMachineCommand) and create it again.");
                    }
                }
                else
                {
                    var request = await BuildDeployAsync(client, config, c, ct);
                    // A deploy job that fails leaves its VM in Error: the notification (sent at the job's
                    // start) already let the owner record it for removal, and the deploy error is what surfaces.
                    vm = await client.DeployVirtualMachineAsync(request, clients.Operation("create_vm"), PublishAsync, ct);
                    // At the latest now (a lost answer, or an OSSEA that gave no id at the job's start).
                    await PublishAsync(vm.Id, ct);
                }

                using var vmLock = await locks.AcquireAsync([VolumeLocks.Vm(vm.Id)], ct);
                await RemoveTemplateRootAsync(client, vm, ct);
                return (await VirtualMachineViews.RequireAsync(client, vm.Id, ct)).ToView();
            }, cancellationToken);
        }

        private static async Task<OsseaVirtualMachine?> FindLiveByNameAsync(IOsseaClient client, string name, CancellationToken ct)
        {
            var found = (await client.ListVirtualMachinesAsync(null, name, ct))
                .Where(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase) && !VirtualMachineViews.IsGone(v))
                .ToList();
            return found.Count switch
            {
                0 => null,
                1 => found[0],
                _ => throw new ConflictException($"OSSEA has {found.Count} VMs named '{name}'; cannot tell which one is meant."),
            };
        }

        private static async Task<OsseaDeployVirtualMachine> BuildDeployAsync(
            IOsseaClient client, OsseaConfig config, CreateVirtualMachineCommand c, CancellationToken ct)
        {
            var templateId = config.TemplateId ?? throw Invalid("TemplateId", $"OSSEA config {c.OsseaConfigId} has no template_id to create VMs from.");
            var offeringId = c.ServiceOfferingId ?? config.ServiceOfferingId
                ?? throw Invalid(nameof(c.ServiceOfferingId), "No service offering given and the OSSEA config has none.");
            var offering = (await ListOfferingAsync(client, offeringId, ct))
                .FirstOrDefault(o => string.Equals(o.Id, offeringId, StringComparison.OrdinalIgnoreCase))
                ?? throw Invalid(nameof(c.ServiceOfferingId), $"OSSEA has no service offering {offeringId}.");
            var details = new Dictionary<string, string>();
            if (offering.IsCustomized)
            {
                if (c.CpuNumber is not { } cpu || c.MemoryMb is not { } memory)
                {
                    throw Invalid(nameof(c.CpuNumber), $"Service offering '{offering.Name}' is customized: CpuNumber and MemoryMb are required.");
                }
                details["cpuNumber"] = cpu.ToString(System.Globalization.CultureInfo.InvariantCulture);
                details["memory"] = memory.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (offering.CpuSpeed is null)
                {
                    // CloudStack also asks a customized offering without a fixed speed for one (MHz).
                    details["cpuSpeed"] = "1000";
                }
            }
            else if (c.CpuNumber is not null || c.MemoryMb is not null)
            {
                throw Invalid(nameof(c.CpuNumber), $"Service offering '{offering.Name}' is not customized: it fixes the CPU count and memory.");
            }

            // iptonetworklist carries a MAC per NIC; networkids cannot, so it is used only when no MAC is kept.
            var withMac = c.Nics.Any(n => n.MacAddress is not null);
            return new OsseaDeployVirtualMachine
            {
                Name = c.Name,
                DisplayName = c.DisplayName,
                ServiceOfferingId = offering.Id,
                TemplateId = templateId,
                ZoneId = config.Zone,
                StartVm = false,
                NetworkIds = withMac ? [] : c.Nics.Select(n => n.NetworkId).ToList(),
                Nics = withMac ? c.Nics.Select(n => new OsseaNicPlacement(n.NetworkId, null, n.MacAddress?.ToLowerInvariant())).ToList() : [],
                Details = details,
            };
        }

        private static async Task<IReadOnlyList<OsseaServiceOffering>> ListOfferingAsync(IOsseaClient client, string offeringId, CancellationToken ct)
        {
            try
            {
                return await client.ListServiceOfferingsAsync(offeringId, ct);
            }
            catch (OsseaApiException ex) when (ex.Code == OsseaErrorCodes.ParamError)
            {
                // CloudStack answers an id it cannot resolve with 431: the offering does not exist.
                return [];
            }
        }

        /// <summary>
        /// Detaches and deletes the template's ROOT disk so a replicated volume can become the root.
        /// Only volumes MigrateKit does not manage are touched: a replicated volume already attached
        /// as root by an earlier attempt (it is in ossea_volumes) stays.
        /// </summary>
        private async Task RemoveTemplateRootAsync(IOsseaClient client, OsseaVirtualMachine vm, CancellationToken ct)
        {
            var attached = await client.ListVolumesAsync(new OsseaVolumeQuery(VirtualMachineId: vm.Id), ct);
            var managed = await store.ManagedVolumeIdsAsync(attached.Select(v => v.Id).ToList(), ct);
            var templateRoots = attached.Where(v => string.Equals(v.Type, "ROOT", StringComparison.OrdinalIgnoreCase) && !managed.Contains(v.Id)).ToList();
            await DeleteDetachedTemplateRootAsync(client, vm, ct);
            if (templateRoots.Count == 0)
            {
                return;
            }
            if (!string.Equals(vm.State, OsseaVmStates.Stopped, StringComparison.OrdinalIgnoreCase))
            {
                throw new ConflictException($"VM {vm.Id} is {vm.State}, not Stopped: its template ROOT disk cannot be removed.");
            }
            foreach (var root in templateRoots)
            {
                await Log($"detaching and deleting the template ROOT disk {root.Id} ({root.Name}) of VM {vm.Id}", ct);
                await client.DetachVolumeAsync(root.Id, clients.Operation("create_vm"), ct);
                try
                {
                    await client.DeleteVolumeAsync(root.Id, ct);
                }
                catch (OsseaException ex)
                {
                    // Detached, it no longer points at its VM: a retry could not find it again, so name it here.
                    throw new OsseaCleanupException(
                        $"The template ROOT disk {root.Id} of VM {vm.Id} was detached but could not be deleted; a retry of this create deletes it (or delete it in OSSEA). {ex.Message}", ex);
                }
            }
        }

        /// <summary>
        /// An earlier attempt may have detached the template ROOT and then failed to delete it. OSSEA
        /// names a VM's ROOT disk <c>ROOT-&lt;n&gt;</c> after the number in its instance name
        /// (<c>i-&lt;account&gt;-&lt;n&gt;-VM</c>), so the retry finds it by that name, detached and unmanaged.
        /// </summary>
        private async Task DeleteDetachedTemplateRootAsync(IOsseaClient client, OsseaVirtualMachine vm, CancellationToken ct)
        {
            if (InstanceNumber(vm.InstanceName) is not { } number)
            {
                return;
            }
            var name = $"ROOT-{number}";
            var candidates = (await client.ListVolumesAsync(new OsseaVolumeQuery(Name: name), ct))
                .Where(v => v.Name == name && string.Equals(v.Type, "ROOT", StringComparison.OrdinalIgnoreCase) && string.IsNullOrEmpty(v.VirtualMachineId))
                .ToList();
            var managed = await store.ManagedVolumeIdsAsync(candidates.Select(v => v.Id).ToList(), ct);
            foreach (var leftover in candidates.Where(v => !managed.Contains(v.Id)))
            {
                await Log($"deleting the template ROOT disk {leftover.Id} ({name}) that an earlier attempt detached from VM {vm.Id}", ct);
                await client.DeleteVolumeAsync(leftover.Id, ct);
            }
        }

        private static string? InstanceNumber(string? instanceName) =>
            instanceName?.Split('-') is ["i", _, var number, "VM"] && number.All(char.IsAsciiDigit) ? number : null;

        private static RequestValidationException Invalid(string field, string message) =>
            new(new Dictionary<string, string[]> { [field] = [message] });

        private Task Log(string message, CancellationToken ct) => jobs.Current?.InfoAsync(message, ct) ?? Task.CompletedTask;
    }
}

/// <summary>A create left something in OSSEA that nobody will find again; the message names it.</summary>
internal sealed class OsseaCleanupException(string message, Exception inner) : Exception(message, inner);
