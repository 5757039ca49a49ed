using MigrateKit.Modules.Core.Work;

namespace MigrateKit.Modules.Cleanup.Workers;

/// <summary>Wakes the cleanup worker when a cleanup is requested.</summary>
internal sealed class CleanupSignal : WorkSignal;
