using System.Buffers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using MigrateKit.Modules.Vma.Agent;
using MigrateKit.Modules.Vma.Sources;
using MigrateKit.Modules.Vma.Streaming;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.VmaContracts;

namespace MigrateKit.Modules.Vma.Api;

/// <summary>Pure: which chunks one answer hashes.</summary>
internal static class HashPlan
{
    public const int DefaultChunkBytes = 4 << 20;
    public const int MinChunkBytes = 64 << 10;
    public const int MaxChunkBytes = 256 << 20;
    public const long DefaultMaxBytes = 1L << 30;
    public const long MaxMaxBytes = 64L << 30;
    public const int MaxRanges = SyncManager.MaxExtraRanges;

    /// <summary>
    /// The (merged) areas inside [from, end) cut into chunks of at most <paramref name="chunkBytes"/>,
    /// stopping once <paramref name="maxBytes"/> are planned; the next offset is where the next
    /// answer starts (null when this one reaches the end).
    /// </summary>
    public static (IReadOnlyList<DiskExtent> Chunks, long? NextOffset) Plan(
        IReadOnlyList<DiskExtent> areas, long from, long end, int chunkBytes, long maxBytes)
    {
        var chunks = new List<DiskExtent>();
        long planned = 0;
        foreach (var area in ChangedAreaPager.Merge(areas))
        {
            var s = Math.Max(area.Start, from);
            var e = Math.Min(area.End, end);
            for (var at = s; at < e; at += chunkBytes)
            {
                if (planned >= maxBytes)
                {
                    return (chunks, at);
                }
                var length = Math.Min(chunkBytes, e - at);
                chunks.Add(new DiskExtent(at, length));
                planned += length;
            }
        }
        return (chunks, null);
    }

    public static Dictionary<string, string[]> Validate(int deviceKey, VmaHashRequest? body)
    {
        var errors = new Dictionary<string, string[]>();
        if (deviceKey <= 0)
        {
            errors["deviceKey"] = ["must be the disk's device key (e.g. 2000)"];
        }
        if (body is null)
        {
            errors["body"] = ["a JSON body is required"];
            return errors;
        }
        if (body.ChangeId is { } id && (id.Length == 0 || id.Length > 256))
        {
            errors["changeId"] = ["'*' (allocated areas), a change id, or absent (ranges only)"];
        }
        if (body.ChangeId is null && body.Ranges is not { Count: > 0 })
        {
            errors["ranges"] = ["give ranges, a changeId, or both"];
        }
        if (body.Ranges is { } ranges && (ranges.Count > MaxRanges || ranges.Any(r => r is null || r.Offset < 0 || r.Length <= 0 || r.Offset > long.MaxValue - r.Length)))
        {
            errors["ranges"] = [$"at most {MaxRanges} ranges, each with offset >= 0 and length > 0"];
        }
        if (body.ChunkBytes is { } chunk && (chunk < MinChunkBytes || chunk > MaxChunkBytes))
        {
            errors["chunkBytes"] = [$"{MinChunkBytes}-{MaxChunkBytes}"];
        }
        if (body.FromOffset is < 0)
        {
            errors["fromOffset"] = ["must not be negative"];
        }
        if (body.MaxBytes is { } max && (max < 1 || max > MaxMaxBytes))
        {
            errors["maxBytes"] = [$"1-{MaxMaxBytes}"];
        }
        return errors;
    }
}

internal static class DiskHashes
{
    /// <summary>One source read: memory stays at this whatever the chunk size.</summary>
    private const int ReadBytes = 1 << 20;

    public static async Task<IResult> HandleAsync(string vmPath, string snapshotId, int deviceKey, VmaHashRequest? body, VCenter vcenter,
        IDiskSourceFactory sources, CancellationToken ct)
    {
        var errors = HashPlan.Validate(deviceKey, body);
        if (string.IsNullOrWhiteSpace(snapshotId) || snapshotId.Contains(':', StringComparison.Ordinal))
        {
            errors["snapshotId"] = ["the snapshot moref value (e.g. snapshot-77)"];
        }
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "One or more fields are invalid.");
        }
        var vm = await vcenter.ResolveVmAsync(vmPath, ct).ConfigureAwait(false);
        var client = vcenter.Client;
        var snapshot = new MoRef("VirtualMachineSnapshot", snapshotId);
        var frozen = (await client.GetSnapshotDisksAsync(snapshot, ct).ConfigureAwait(false)).FirstOrDefault(d => d.DeviceKey == deviceKey);
        if (frozen is null)
        {
            return TypedResults.Problem(statusCode: 404, title: "Not found.", detail: $"snapshot {snapshotId} has no disk {deviceKey}");
        }
        var areas = new List<DiskExtent>();
        if (body!.ChangeId is { } changeId)
        {
            try
            {
                areas.AddRange((await client.QueryAllChangedAreasAsync(vm, snapshot, deviceKey, frozen.CapacityBytes, changeId, ct).ConfigureAwait(false)).Extents);
            }
            catch (ChangeIdRejectedException e)
            {
                return TypedResults.Problem(statusCode: 409, title: "Change id rejected.", detail: e.Message);
            }
        }
        areas.AddRange((body.Ranges ?? []).Select(r => new DiskExtent(r.Offset, r.Length)));
        var chunkBytes = body.ChunkBytes ?? HashPlan.DefaultChunkBytes;
        try
        {
            return TypedResults.Ok(await HashAsync(vm, snapshot, frozen, areas, body, chunkBytes, client, sources, ct).ConfigureAwait(false));
        }
        catch (Exception e) when (e is DiskSourceException or IOException)
        {
            // NBD errors are IOExceptions too: the source could not be read, say so rather than 500.
            return TypedResults.Problem(statusCode: 502, title: "Reading the source disk failed.", detail: e.Message);
        }
    }

    private static async Task<VmaDiskHashes> HashAsync(MoRef vm, MoRef snapshot, SnapshotDisk frozen, List<DiskExtent> areas,
        VmaHashRequest body, int chunkBytes, VSphereClient client, IDiskSourceFactory sources, CancellationToken ct)
    {
        var deviceKey = frozen.DeviceKey;
        var info = await client.GetVmAsync(vm, ct).ConfigureAwait(false);
        await using var source = await sources.OpenAsync(new DiskSourceRequest(vm, info.Name, snapshot, deviceKey, frozen.FileName), ct)
            .ConfigureAwait(false);
        var end = Math.Min(source.Size, frozen.CapacityBytes);
        var (chunks, next) = HashPlan.Plan(areas, body.FromOffset ?? 0, end, chunkBytes, body.MaxBytes ?? HashPlan.DefaultMaxBytes);
        var hashes = new List<VmaRangeHash>(chunks.Count);
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBytes);
        try
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var chunk in chunks)
            {
                for (var at = chunk.Start; at < chunk.End;)
                {
                    var length = (int)Math.Min(ReadBytes, chunk.End - at);
                    await source.Reader.ReadAsync(at, buffer.AsMemory(0, length), ct).ConfigureAwait(false);
                    sha.AppendData(buffer, 0, length);
                    at += length;
                }
                hashes.Add(new VmaRangeHash(chunk.Start, chunk.Length, Convert.ToHexStringLower(sha.GetHashAndReset())));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return new VmaDiskHashes(vm.Value, snapshot.Value, deviceKey, frozen.CapacityBytes, "sha256", chunkBytes, hashes,
            chunks.Sum(c => c.Length), next);
    }
}
