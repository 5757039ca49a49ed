using System.Text.Json;

namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// Pure functions over CloudStack JSON bodies:
/// <code>
/// {"&lt;command lowercased&gt;response": { … }}                      envelope of every answer
///   list:         {"count":N,"volume":[…]}   or {} when empty
///   async:        {"jobid":"…"}              async-create: {"id":"…","jobid":"…"}
///   sync object:  {"&lt;objectname&gt;":{…}}     success: {"success":true|"true"}
///   error:        {"uuidList":[],"errorcode":431,"cserrorcode":4350,"errortext":"…"}
/// {"queryasyncjobresultresponse": {"jobid","jobstatus":0|1|2,"jobresultcode","jobresulttype","jobresult":{…}}}
/// </code>
/// Errors sometimes come under <c>errorresponse</c> (unknown command, 432), so error detection
/// looks at whatever single envelope the body has.
/// </summary>
internal static class OsseaResponseReader
{
    /// <summary>Finds the envelope of <paramref name="command"/>: <c>&lt;command&gt;response</c>, or the body's only property.</summary>
    public static bool TryGetEnvelope(JsonElement root, string command, out JsonElement envelope)
    {
        envelope = default;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        var expected = command.ToLowerInvariant() + "response";
        JsonElement? only = null;
        var count = 0;
        foreach (var property in root.EnumerateObject())
        {
            if (string.Equals(property.Name, expected, StringComparison.OrdinalIgnoreCase))
            {
                envelope = property.Value;
                return envelope.ValueKind == JsonValueKind.Object;
            }

            only = property.Value;
            count++;
        }

        if (count == 1 && only is { ValueKind: JsonValueKind.Object } single)
        {
            envelope = single;
            return true;
        }

        return false;
    }

    /// <summary>True when the body is an error body (<c>errorcode</c> inside its envelope), whatever the HTTP status.</summary>
    public static bool TryReadError(JsonElement root, out OsseaErrorBody error)
    {
        error = new OsseaErrorBody();
        if (root.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        foreach (var property in root.EnumerateObject())
        {
            if (property.Value.ValueKind == JsonValueKind.Object
                && property.Value.TryGetProperty("errorcode", out _))
            {
                error = property.Value.Deserialize<OsseaErrorBody>(OsseaJson.Options) ?? error;
                return true;
            }
        }

        return false;
    }

    /// <summary>The items under <paramref name="itemKey"/>; an empty envelope (<c>{}</c>) is an empty list.</summary>
    public static IReadOnlyList<T> ReadList<T>(JsonElement envelope, string itemKey)
    {
        if (!envelope.TryGetProperty(itemKey, out var items) || items.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (items.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException($"Expected '{itemKey}' to be an array, found {items.ValueKind}.");
        }

        var list = new List<T>(items.GetArrayLength());
        foreach (var item in items.EnumerateArray())
        {
            list.Add(item.Deserialize<T>(OsseaJson.Options) ?? throw new JsonException($"Null item in '{itemKey}'."));
        }

        return list;
    }

    /// <summary>The list's <c>count</c> (total over all pages), when present.</summary>
    public static int? ReadCount(JsonElement envelope)
        => envelope.TryGetProperty("count", out var count) && count.ValueKind == JsonValueKind.Number && count.TryGetInt32(out var n)
            ? n
            : null;

    public static OsseaAsyncStart ReadAsyncStart(JsonElement envelope)
    {
        var start = envelope.Deserialize<OsseaAsyncStart>(OsseaJson.Options);
        if (start is null || string.IsNullOrEmpty(start.JobId))
        {
            throw new JsonException("The async command's answer has no jobid.");
        }

        return start;
    }

    public static OsseaAsyncJob ReadJob(JsonElement envelope)
    {
        var job = envelope.Deserialize<OsseaAsyncJob>(OsseaJson.Options);
        if (job is null)
        {
            throw new JsonException("Empty queryAsyncJobResult answer.");
        }

        if (!Enum.IsDefined(job.Status))
        {
            throw new JsonException($"Unknown jobstatus {job.JobStatus}.");
        }

        return job;
    }

    /// <summary>A sync object answer, e.g. <c>{"volume":{…}}</c>, or the same shape inside a job result.</summary>
    public static T ReadObject<T>(JsonElement container, string objectName)
    {
        if (!container.TryGetProperty(objectName, out var value) || value.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException($"Expected an object '{objectName}'.");
        }

        return value.Deserialize<T>(OsseaJson.Options) ?? throw new JsonException($"Null '{objectName}'.");
    }

    /// <summary>
    /// <c>SuccessResponse</c>: <c>{"success":true}</c>; old servers send <c>"true"</c>. A missing field
    /// is treated as failure so a surprising body never reads as success.
    /// </summary>
    public static bool ReadSuccess(JsonElement container)
        => container.TryGetProperty("success", out var success) && success.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.String => bool.TryParse(success.GetString(), out var value) && value,
            _ => false,
        };

    /// <summary>The error carried by a failed job: <c>jobresult</c> = <c>{"errorcode":530,"errortext":"…"}</c>.</summary>
    public static OsseaErrorBody ReadJobError(OsseaAsyncJob job)
    {
        if (job.JobResult is { ValueKind: JsonValueKind.Object } result && result.TryGetProperty("errorcode", out _))
        {
            var body = result.Deserialize<OsseaErrorBody>(OsseaJson.Options) ?? new OsseaErrorBody();
            // Current servers complete a failed job with jobresultcode == errorcode; old ones (marvin's
            // sample) said 530 outside and the specific code inside. The inner code is the more precise.
            return body.ErrorCode != 0 ? body : body with { ErrorCode = job.JobResultCode };
        }

        if (job.JobResult is { ValueKind: JsonValueKind.String } text)
        {
            return new OsseaErrorBody { ErrorCode = job.JobResultCode, ErrorText = text.GetString() };
        }

        return new OsseaErrorBody { ErrorCode = job.JobResultCode, ErrorText = null };
    }
}
