using System.Text.Json.Nodes;

namespace MigrateKit.Tests.Support.Ossea;

internal sealed partial class OsseaEmulatorCloud
{
    // ---------------------------------------------------------------- snapshots

    private JsonObject CreateSnapshot(OsseaEmulatorParams p)
    {
        EmSnapshot snapshot;
        lock (_gate)
        {
            var volume = p.Entity("volumeid", LiveVolume);
            if (volume.State != "Ready")
            {
                throw EmulatorApiError.Param($"VolumeId: {volume.Id} is not in Ready state but {volume.State}. Cannot take snapshot.");
            }

            var name = p.Optional("name") ?? $"{volume.Vm?.Name ?? "detached"}_{volume.Name}_{_options.Time.GetUtcNow():yyyyMMddHHmmss}";
            snapshot = new EmSnapshot { Id = NewId(), Name = name, Volume = volume, Created = Now(), SizeBytes = volume.SizeBytes };
            _snapshots[snapshot.Id] = snapshot;
        }

        var job = StartJob(p.Command, "Snapshot", snapshot.Id, null, () =>
        {
            lock (_gate)
            {
                snapshot.State = "Creating";
            }

            EmulatedBlockDevices.CopySparse(_devices.VolumeFile(snapshot.Volume.Id), _devices.SnapshotFile(snapshot.Id));
            lock (_gate)
            {
                snapshot.State = "BackedUp";
                return new JsonObject { ["snapshot"] = snapshot.ToJson() };
            }
        }, onFailure: () =>
        {
            lock (_gate)
            {
                snapshot.State = "Error";
            }
        });
        return new JsonObject { ["id"] = snapshot.Id, ["jobid"] = job.Id };
    }

    private JsonObject RevertSnapshot(OsseaEmulatorParams p)
    {
        EmSnapshot snapshot;
        lock (_gate)
        {
            snapshot = p.Entity("id", id => _snapshots.TryGetValue(id, out var s) && !s.Removed ? s : null);
        }

        var job = StartJob(p.Command, "Snapshot", snapshot.Id, VolumeVmId(snapshot.Volume), () =>
        {
            var volume = snapshot.Volume;
            lock (_gate)
            {
                if (snapshot.State != "BackedUp")
                {
                    throw EmulatorApiError.Param($"Snapshot {snapshot.Id} is in state {snapshot.State} and cannot be reverted.");
                }

                if (volume.Removed || volume.State != "Ready")
                {
                    throw EmulatorApiError.Param($"Volume {volume.Id} is not in Ready state.");
                }

                if (volume.Vm is not null && volume.Vm.State is not ("Stopped" or "Shutdown"))
                {
                    throw EmulatorApiError.Param("The VM the specified disk is attached to is not in the shutdown state.");
                }

                volume.State = "RevertSnapshotting";
            }

            try
            {
                var target = _devices.VolumeFile(volume.Id);
                File.Delete(target);
                EmulatedBlockDevices.CopySparse(_devices.SnapshotFile(snapshot.Id), target);
            }
            finally
            {
                lock (_gate)
                {
                    volume.State = "Ready";
                }
            }

            lock (_gate)
            {
                volume.SizeBytes = snapshot.SizeBytes;
                return new JsonObject { ["snapshot"] = snapshot.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private JsonObject DeleteSnapshot(OsseaEmulatorParams p)
    {
        EmSnapshot snapshot;
        lock (_gate)
        {
            snapshot = p.Entity("id", id => _snapshots.TryGetValue(id, out var s) && !s.Removed ? s : null);
        }

        var job = StartJob(p.Command, "Snapshot", snapshot.Id, null, () =>
        {
            lock (_gate)
            {
                snapshot.Removed = true;
                snapshot.State = "Destroyed";
                File.Delete(_devices.SnapshotFile(snapshot.Id));
                return new JsonObject { ["success"] = true };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }
}
