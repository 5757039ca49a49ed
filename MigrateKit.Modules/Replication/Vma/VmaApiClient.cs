using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.VmaContracts;

namespace MigrateKit.Modules.Replication.Vma;

/// <summary>The agent could not be reached (not connected, tunnel dropped, connection reset): worth retrying.</summary>
internal sealed class VmaUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The agent answered with an error status; <see cref="Detail"/> is its problem detail.</summary>
internal class VmaApiException(HttpStatusCode status, string detail, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
    public string Detail { get; } = detail;
}

/// <summary>The agent refused a request as invalid (400) and named the fields.</summary>
internal sealed class VmaValidationException(IReadOnlyDictionary<string, string[]> errors, string message)
    : VmaApiException(HttpStatusCode.BadRequest, message, message)
{
    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;
}

/// <summary>
/// The VMA API of one agent, reached as HTTP/1.1 over "vma-api" tunnel streams the agent serves;
/// nothing dials into the VMA (DESIGN rule 3).
/// </summary>
internal sealed class VmaApiClient : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly HttpClient _http;

    public VmaApiClient(IAgentChannel channel, string agent, TimeSpan requestTimeout)
    {
        Agent = agent;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) => await channel.OpenStreamAsync(agent, "vma-api", ct),
            // A tunnel stream dies with its tunnel: do not keep idle ones around for long.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(15),
        };
        // Timeouts are per request (a hash or a shutdown may take longer than a progress read).
        _http = new HttpClient(handler) { BaseAddress = new Uri("http://vma/"), Timeout = Timeout.InfiniteTimeSpan };
        _requestTimeout = requestTimeout;
    }

    private readonly TimeSpan _requestTimeout;

    public string Agent { get; }

    public static string VmPath(string vm) => Uri.EscapeDataString(vm);

    public async Task<VmaVmSpec?> GetVmAsync(string vm, CancellationToken ct) =>
        await SendAsync<VmaVmSpec>(HttpMethod.Get, $"api/v1/vms/{VmPath(vm)}", null, ct, notFoundIsNull: true);

    public async Task<VmaCbtStatus> EnableCbtAsync(string vm, CancellationToken ct) =>
        (await SendAsync<VmaCbtStatus>(HttpMethod.Post, $"api/v1/vms/{VmPath(vm)}/enable-cbt", null, ct))!;

    public async Task<VmaSnapshot> CreateSnapshotAsync(string vm, string name, string description, CancellationToken ct) =>
        (await SendAsync<VmaSnapshot>(HttpMethod.Post, $"api/v1/vms/{VmPath(vm)}/snapshots", new VmaCreateSnapshotRequest(name, description), ct))!;

    /// <summary>Deletes a snapshot; false when the VM has no such snapshot (already gone).</summary>
    public async Task<bool> DeleteSnapshotAsync(string vm, string snapshotId, CancellationToken ct)
    {
        using var response = await SendRawAsync(HttpMethod.Delete, $"api/v1/vms/{VmPath(vm)}/snapshots/{Uri.EscapeDataString(snapshotId)}", null, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        await EnsureSuccessAsync(response, ct);
        return true;
    }

    /// <summary>Shuts the guest down (VMware Tools), powering it off after <paramref name="grace"/> if it does not stop.</summary>
    public async Task<VmaPowerResult> ShutdownAsync(string vm, TimeSpan grace, CancellationToken ct) =>
        (await SendAsync<VmaPowerResult>(HttpMethod.Post,
            $"api/v1/vms/{VmPath(vm)}/shutdown?graceSeconds={((int)grace.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture)}",
            null, ct, timeout: grace + _requestTimeout))!;

    /// <summary>SHA-256 per chunk of a snapshot disk's ranges (VMA README: POST …/disks/{key}/hashes).</summary>
    public async Task<VmaDiskHashes> HashDiskAsync(string vm, string snapshotId, int deviceKey, VmaHashRequest request, TimeSpan timeout,
        CancellationToken ct) =>
        (await SendAsync<VmaDiskHashes>(HttpMethod.Post,
            $"api/v1/vms/{VmPath(vm)}/snapshots/{Uri.EscapeDataString(snapshotId)}/disks/{deviceKey.ToString(System.Globalization.CultureInfo.InvariantCulture)}/hashes",
            request, ct, timeout: timeout))!;

    public async Task<VmaSyncAccepted> StartSyncAsync(VmaSyncRequest request, CancellationToken ct) =>
        (await SendAsync<VmaSyncAccepted>(HttpMethod.Post, "api/v1/syncs", request, ct))!;

    /// <summary>The progress of a sync; null when the agent does not know it (e.g. it restarted).</summary>
    public Task<VmaSyncProgress?> GetProgressAsync(string syncId, CancellationToken ct) =>
        SendAsync<VmaSyncProgress>(HttpMethod.Get, $"api/v1/progress/{Uri.EscapeDataString(syncId)}", null, ct, notFoundIsNull: true);

    /// <summary>Asks the agent to cancel a sync; false when it does not know it.</summary>
    public async Task<bool> CancelSyncAsync(string syncId, CancellationToken ct) =>
        await SendAsync<VmaSyncProgress>(HttpMethod.Post, $"api/v1/syncs/{Uri.EscapeDataString(syncId)}/cancel", null, ct, notFoundIsNull: true) is not null;

    private async Task<T?> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct, bool notFoundIsNull = false,
        TimeSpan? timeout = null)
        where T : class
    {
        using var response = await SendRawAsync(method, path, body, ct, timeout);
        if (notFoundIsNull && response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        await EnsureSuccessAsync(response, ct);
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(Json, ct)
                ?? throw new VmaApiException(response.StatusCode, "empty body", $"agent {Agent}: {method} {path} answered an empty body");
        }
        catch (JsonException ex)
        {
            throw new VmaApiException(response.StatusCode, ex.Message, $"agent {Agent}: {method} {path} answered JSON we cannot read: {ex.Message}");
        }
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, object? body, CancellationToken ct, TimeSpan? timeout = null)
    {
        var limit = timeout ?? _requestTimeout;
        using var timed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timed.CancelAfter(limit);
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: Json);
        }
        try
        {
            return await _http.SendAsync(request, timed.Token);
        }
        catch (HttpRequestException ex)
        {
            throw new VmaUnavailableException($"agent {Agent} is unreachable: {(ex.InnerException as AgentUnavailableException)?.Message ?? ex.Message}", ex);
        }
        catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new VmaUnavailableException($"agent {Agent} did not answer {method} {path} in {limit}", ex);
        }
        catch (IOException ex)
        {
            throw new VmaUnavailableException($"agent {Agent}: the tunnel stream broke: {ex.Message}", ex);
        }
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var text = await response.Content.ReadAsStringAsync(ct);
        string detail = text;
        Dictionary<string, string[]>? errors = null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (doc.RootElement.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String)
                {
                    detail = d.GetString()!;
                }
                else if (doc.RootElement.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String)
                {
                    detail = t.GetString()!;
                }
                if (doc.RootElement.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Object)
                {
                    errors = e.Deserialize<Dictionary<string, string[]>>(Json);
                }
            }
        }
        catch (JsonException)
        {
            // Not a problem document: keep the raw text (bounded below).
        }
        if (detail.Length > 500)
        {
            detail = detail[..500];
        }
        var request = response.RequestMessage;
        var what = $"agent {Agent}: {request?.Method} {request?.RequestUri?.AbsolutePath} answered {(int)response.StatusCode}";
        if (response.StatusCode == HttpStatusCode.BadRequest && errors is { Count: > 0 })
        {
            throw new VmaValidationException(errors,
                $"{what}: {string.Join("; ", errors.Select(kv => $"{kv.Key}: {string.Join(", ", kv.Value)}"))}");
        }
        throw new VmaApiException(response.StatusCode, detail, $"{what}: {detail}");
    }

    public void Dispose() => _http.Dispose();
}
