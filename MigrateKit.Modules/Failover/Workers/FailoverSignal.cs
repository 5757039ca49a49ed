using MigrateKit.Modules.Core.Work;

namespace MigrateKit.Modules.Failover.Workers;

/// <summary>Wakes the failover worker when a failover is stored.</summary>
internal sealed class FailoverSignal : WorkSignal;
