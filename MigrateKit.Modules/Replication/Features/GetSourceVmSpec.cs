using MediatR;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;

namespace MigrateKit.Modules.Replication.Features;

internal static class GetSourceVmSpec
{
    internal sealed class Handler(ReplicationStore store) : IRequestHandler<GetSourceVmSpecQuery, SourceVmSpecView?>
    {
        public async Task<SourceVmSpecView?> Handle(GetSourceVmSpecQuery q, CancellationToken cancellationToken) =>
            SourceSpecJson.Deserialize(await store.GetSourceSpecAsync(q.ReplicationId, cancellationToken));
    }
}
