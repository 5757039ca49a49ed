using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace MigrateKit.Lab;

/// <summary>The OMA's admin REST API with a bearer token; any unexpected answer is a <see cref="LabException"/> with its body.</summary>
internal sealed class LabApi : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HttpClient _http;

    public LabApi(Uri address, string token)
    {
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public Uri Address => _http.BaseAddress!;

    public async Task<JsonElement> GetAsync(string path, CancellationToken ct)
    {
        using var response = await _http.GetAsync(path, ct);
        return await ReadAsync(response, "GET", path, [HttpStatusCode.OK], ct);
    }

    /// <summary>A GET whose status is part of the answer (e.g. 404 for something that must be gone).</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> GetStatusAsync(string path, CancellationToken ct)
    {
        using var response = await _http.GetAsync(path, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        return (response.StatusCode, text.Length > 0 && text.TrimStart().StartsWith('{') ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    public async Task<JsonElement> PostAsync(string path, object? body, CancellationToken ct, params HttpStatusCode[] expected)
    {
        using var response = body is null
            ? await _http.PostAsync(path, null, ct)
            : await _http.PostAsJsonAsync(path, body, Json, ct);
        return await ReadAsync(response, "POST", path, expected.Length > 0 ? expected : [HttpStatusCode.OK, HttpStatusCode.Created, HttpStatusCode.Accepted], ct);
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, string method, string path, HttpStatusCode[] expected, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!expected.Contains(response.StatusCode))
        {
            throw new LabException($"{method} {path} answered {(int)response.StatusCode} {response.StatusCode}: {text}");
        }
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Reading the API's JSON without ceremony.</summary>
internal static class LabJson
{
    public static string? Str(this JsonElement e, string name) =>
        Get(e, name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;

    public static long Long(this JsonElement e, string name) =>
        Get(e, name) is { ValueKind: JsonValueKind.Number } v ? v.GetInt64() : 0;

    public static decimal Dec(this JsonElement e, string name) =>
        Get(e, name) is { ValueKind: JsonValueKind.Number } v ? v.GetDecimal() : 0;

    public static DateTime? Time(this JsonElement e, string name) =>
        Get(e, name) is { ValueKind: JsonValueKind.String } v ? v.GetDateTime() : null;

    public static IEnumerable<JsonElement> Items(this JsonElement e, string? name = null)
    {
        var array = name is null ? e : Get(e, name) ?? default;
        return array.ValueKind == JsonValueKind.Array ? array.EnumerateArray() : [];
    }

    private static JsonElement? Get(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) ? v : null;
}
