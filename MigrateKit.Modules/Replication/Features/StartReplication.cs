using FluentValidation;
using MediatR;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;
using MigrateKit.Modules.Volume.Contracts;
using MySqlConnector;

namespace MigrateKit.Modules.Replication.Features;

internal static class StartReplication
{
    internal sealed class Validator : AbstractValidator<StartReplicationCommand>
    {
        public Validator()
        {
            RuleFor(c => c.SourceVmKey).NotEmpty().WithName("Vm")
                .WithMessage("Name the VM: VmMoref (e.g. vm-42), VmPath (e.g. /DC0/vm/web01) or VmName.");
            RuleFor(c => c.VmMoref).MaximumLength(128).Matches("^[A-Za-z0-9_-]+$").When(c => c.VmMoref is not null)
                .WithMessage("VmMoref must look like a managed object id, e.g. vm-42.");
            RuleFor(c => c.VmPath).MaximumLength(1024).Must(p => p!.StartsWith('/')).When(c => c.VmPath is not null)
                .WithMessage("VmPath must be an inventory path starting with '/'.");
            RuleFor(c => c.VmName).MaximumLength(255);
            RuleFor(c => c.Agent).NotEmpty().MaximumLength(128);
            RuleFor(c => c.OsseaConfigId).GreaterThan(0);
            RuleFor(c => c.ScheduleIntervalSeconds).InclusiveBetween(60, 7 * 24 * 3600).When(c => c.ScheduleIntervalSeconds is not null);
            RuleFor(c => c.BandwidthLimitBps).GreaterThanOrEqualTo(1024 * 1024).When(c => c.BandwidthLimitBps is not null)
                .WithMessage("BandwidthLimitBps must be at least 1 MiB/s (1048576) or omitted for no limit.");
        }
    }

    internal sealed class Handler(ReplicationStore store, ReplicationViews views, IMediator mediator, TimeProvider time)
        : IRequestHandler<StartReplicationCommand, ReplicationJobView>
    {
        public async Task<ReplicationJobView> Handle(StartReplicationCommand c, CancellationToken cancellationToken)
        {
            var errors = new Dictionary<string, string[]>();
            var agent = await mediator.Send(new GetAgentQuery(c.Agent), cancellationToken);
            if (agent is null || agent.RevokedAt is not null)
            {
                errors[nameof(c.Agent)] = [agent is null ? $"No enrolled agent named '{c.Agent}'." : $"Agent '{c.Agent}' is revoked."];
            }
            if (await mediator.Send(new GetOsseaConfigQuery(c.OsseaConfigId), cancellationToken) is null)
            {
                errors[nameof(c.OsseaConfigId)] = [$"No OSSEA config {c.OsseaConfigId}."];
            }
            if (errors.Count > 0)
            {
                throw new RequestValidationException(errors);
            }
            var id = Guid.NewGuid();
            try
            {
                await store.InsertJobAsync(id, c, c.VmName ?? c.SourceVmKey, agent!.Id, time.GetUtcNow().UtcDateTime, cancellationToken);
            }
            catch (MySqlException ex) when (ex.ErrorCode == MySqlErrorCode.DuplicateKeyEntry)
            {
                throw new ConflictException($"VM '{c.SourceVmKey}' already has an active replication job.");
            }
            return (await views.GetAsync(id, cancellationToken))!;
        }
    }
}
