using System.Buffers;
using System.Security.Cryptography;
using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class HashVolumeRanges
{
    /// <summary>One read's size: memory stays at this whatever the ranges' sizes.</summary>
    internal const int BufferBytes = 1 << 20;

    internal sealed class Validator : AbstractValidator<HashVolumeRangesQuery>
    {
        public Validator()
        {
            RuleFor(q => q.VolumeId).NotEmpty().MaximumLength(64);
            RuleFor(q => q.Ranges).NotNull().Must(r => r.Count <= HashVolumeRangesQuery.MaxRanges)
                .WithMessage($"At most {HashVolumeRangesQuery.MaxRanges} ranges per request.");
            RuleForEach(q => q.Ranges).Must(r => r is not null && r.Offset >= 0 && r.Length > 0 && r.Offset <= long.MaxValue - r.Length)
                .WithMessage("Each range needs offset >= 0 and length > 0.");
        }
    }

    internal sealed class Handler(VolumeStore store) : IRequestHandler<HashVolumeRangesQuery, IReadOnlyList<VolumeRangeHash>>
    {
        public async Task<IReadOnlyList<VolumeRangeHash>> Handle(HashVolumeRangesQuery q, CancellationToken cancellationToken)
        {
            var mapping = await store.GetMappingAsync(q.VolumeId, cancellationToken);
            if (mapping is not { OperationMode: OperationModes.Oma } || (mapping.StableDevicePath ?? mapping.DevicePath) is not { Length: > 0 } device)
            {
                throw new ConflictException($"Volume {q.VolumeId} is not attached to the OMA; there is no device to read.");
            }
            var past = q.Ranges.FirstOrDefault(r => r.Offset + r.Length > mapping.Size);
            if (past is not null)
            {
                throw new RequestValidationException(new Dictionary<string, string[]>
                {
                    [nameof(q.Ranges)] = [$"Range {past.Offset}+{past.Length} runs past the volume's {mapping.Size} bytes."],
                });
            }
            using var handle = File.OpenHandle(device, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
            try
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var result = new List<VolumeRangeHash>(q.Ranges.Count);
                foreach (var range in q.Ranges)
                {
                    for (var at = range.Offset; at < range.Offset + range.Length;)
                    {
                        var want = (int)Math.Min(BufferBytes, range.Offset + range.Length - at);
                        var read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, want), at, cancellationToken);
                        if (read <= 0)
                        {
                            throw new IOException($"device {device} of volume {q.VolumeId} ended at {at}, inside range {range.Offset}+{range.Length}");
                        }
                        sha.AppendData(buffer, 0, read);
                        at += read;
                    }
                    result.Add(new VolumeRangeHash(range.Offset, range.Length, Convert.ToHexStringLower(sha.GetHashAndReset())));
                }
                return result;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
