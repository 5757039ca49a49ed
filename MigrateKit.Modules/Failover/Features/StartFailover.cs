using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Data;
using MigrateKit.Modules.Failover.Run;
using MigrateKit.Modules.Failover.Workers;
using MySqlConnector;

namespace MigrateKit.Modules.Failover.Features;

internal static class StartFailover
{
    internal abstract class RequestRules<T> : AbstractValidator<T> where T : IFailoverRequest
    {
        protected RequestRules()
        {
            RuleFor(c => c.ReplicationId).NotEmpty();
            RuleFor(c => c.NetworkMappings).NotNull()
                .WithMessage("Give networkMappings: one {sourceNetwork, osseaNetworkId, keepMac} per source network (an empty list for a VM without NICs).");
            RuleForEach(c => c.NetworkMappings).ChildRules(m =>
            {
                m.RuleFor(x => x.SourceNetwork).NotEmpty().MaximumLength(255);
                m.RuleFor(x => x.OsseaNetworkId).NotEmpty().MaximumLength(64);
            });
            RuleFor(c => c.NetworkMappings).Must(m => m!.Select(x => x.SourceNetwork).Distinct(StringComparer.Ordinal).Count() == m!.Count)
                .When(c => c.NetworkMappings is not null)
                .WithMessage("Each source network may be mapped once.");
            RuleFor(c => c.ServiceOfferingId).MaximumLength(64);
            RuleFor(c => c.VmName).Must(n => FailoverNaming.HostName().IsMatch(n!)).When(c => c.VmName is not null)
                .WithMessage("VmName must be a host name: ASCII letters, digits and hyphens, 1-63 characters, starting with a letter, not ending with a hyphen.");
        }
    }

    internal sealed class TestValidator : RequestRules<StartTestFailoverCommand>;

    internal sealed class LiveValidator : RequestRules<StartLiveFailoverCommand>;

    internal sealed class TestHandler(Starter starter) : IRequestHandler<StartTestFailoverCommand, FailoverView>
    {
        public Task<FailoverView> Handle(StartTestFailoverCommand c, CancellationToken cancellationToken) =>
            starter.StartAsync(c, FailoverTypes.Test, shutdownSource: false, cancellationToken);
    }

    internal sealed class LiveHandler(Starter starter) : IRequestHandler<StartLiveFailoverCommand, FailoverView>
    {
        public Task<FailoverView> Handle(StartLiveFailoverCommand c, CancellationToken cancellationToken) =>
            starter.StartAsync(c, FailoverTypes.Live, c.ShutdownSource, cancellationToken);
    }

    /// <summary>
    /// The checks that need no OSSEA call happen here, so the API refuses at once (404, 409, 400 naming
    /// every unmapped source network); the row is then stored pending and the worker runs it.
    /// </summary>
    internal sealed class Starter(FailoverStore store, FailoverPlanner planner, FailoverSignal signal, TimeProvider time)
    {
        public async Task<FailoverView> StartAsync(IFailoverRequest c, string jobType, bool shutdownSource, CancellationToken ct)
        {
            var (replication, spec) = await planner.CheckReplicationAsync(c.ReplicationId, ct);
            var mappings = c.NetworkMappings ?? [];
            if (FailoverPlanner.UnmappedNetworks(spec, mappings) is { Count: > 0 } unmapped)
            {
                throw new RequestValidationException(new Dictionary<string, string[]> { [nameof(c.NetworkMappings)] = unmapped.ToArray() });
            }
            if (await store.UnfinishedOfVmAsync(replication.SourceVmId, ct) is { } running)
            {
                throw Busy(replication.SourceVmId, running.Id, running.Status);
            }
            var id = Guid.NewGuid();
            var options = new FailoverRequestOptions(c.VmName ?? FailoverNaming.VmName(replication.SourceVmName, id), c.ServiceOfferingId, shutdownSource);
            try
            {
                await store.InsertAsync(id, replication.Id, replication.SourceVmId, jobType, mappings, options, time.GetUtcNow().UtcDateTime, ct);
            }
            catch (MySqlException ex) when (ex.ErrorCode == MySqlErrorCode.DuplicateKeyEntry)
            {
                // Two requests at once: the database's one-unfinished-failover-per-VM key decided.
                var other = await store.UnfinishedOfVmAsync(replication.SourceVmId, ct);
                throw Busy(replication.SourceVmId, other?.Id, other?.Status);
            }
            signal.Pulse();
            return (await store.GetViewAsync(id, ct))!;
        }

        private static ConflictException Busy(string vm, Guid? other, string? status) => new(
            $"VM {vm} already has an unfinished failover{(other is null ? "" : $" {other} ({status})")}; clean it up or wait for it to end first.");
    }
}
