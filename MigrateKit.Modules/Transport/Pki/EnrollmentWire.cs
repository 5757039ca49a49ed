using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MigrateKit.Modules.Transport.Pki;

/// <summary>
/// Enrollment exchange, carried on the tunnel port under ALPN <c>migratekit-enroll/1</c> (so one
/// listener on 443 serves both). The agent connects without a client certificate, pins the OMA
/// server certificate's SHA-256 fingerprint, then each side sends exactly one message:
/// <code>
/// +--------+--------+--------+--------+------------------------------+
/// |      JSON length (u32, BE)        |  UTF-8 JSON (≤ 64 KiB)        |
/// +--------+--------+--------+--------+------------------------------+
/// </code>
/// request: {"agentName":?, "token", "csrPem"}; response: {"ok", "agentName", "certificatePem", "caCertificatePem", "error"}.
/// </summary>
internal static class EnrollmentWire
{
    public const int LengthOffset = 0;
    public const int HeaderSize = 4;
    public const int MaxMessageSize = 64 * 1024;

    public static async Task WriteAsync<T>(Stream stream, T message, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(message, type);
        if (json.Length > MaxMessageSize)
        {
            throw new InvalidDataException("enrollment message too large");
        }

        var frame = new byte[HeaderSize + json.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(LengthOffset), (uint)json.Length);
        json.CopyTo(frame, HeaderSize);
        await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        Array.Clear(json); // may hold the token
        Array.Clear(frame);
    }

    public static async Task<T> ReadAsync<T>(Stream stream, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        var header = new byte[HeaderSize];
        await stream.ReadExactlyAsync(header, cancellationToken).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(LengthOffset));
        if (length is 0 or > MaxMessageSize)
        {
            throw new InvalidDataException($"enrollment message length {length} outside 1..{MaxMessageSize}");
        }

        var body = new byte[length];
        await stream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize(body, type) ?? throw new InvalidDataException("empty enrollment message");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"enrollment message is not valid JSON: {ex.Message}");
        }
        finally
        {
            Array.Clear(body);
        }
    }
}

internal sealed record EnrollmentRequest(string? AgentName, string Token, string CsrPem);

internal sealed record EnrollmentResponse(bool Ok, string? AgentName, string? CertificatePem, string? CaCertificatePem, string? Error);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EnrollmentRequest))]
[JsonSerializable(typeof(EnrollmentResponse))]
internal sealed partial class EnrollmentJsonContext : JsonSerializerContext;
