using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Tests.Support.Ossea;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Volume.Ossea;

/// <summary>
/// The emulator's wire behaviour, with raw HTTP requests (not the client), so what the emulator
/// checks and answers is pinned independently. NonParallelizable: loop devices are machine-wide.
/// </summary>
[NonParallelizable]
[CancelAfter(30_000)]
[Category(TestKind.Peer)]
public sealed class OsseaEmulatorTests
{
    private OsseaEmulator _emulator = null!;
    private HttpClient _http = null!;

    [SetUp]
    public async Task Start()
    {
        _emulator = await OsseaEmulator.StartAsync();
        _http = new HttpClient();
    }

    [TearDown]
    public async Task Stop()
    {
        _http.Dispose();
        await _emulator.DisposeAsync();
    }

    private Uri Signed(Dictionary<string, string> parameters, Action<Dictionary<string, string>>? tamper = null, string? secret = null)
    {
        parameters["apiKey"] = _emulator.ApiKey;
        parameters["response"] = parameters.GetValueOrDefault("response") ?? "json";
        parameters["signatureversion"] = "3";
        parameters["expires"] = DateTimeOffset.UtcNow.AddMinutes(5).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var signature = OsseaRequestSigner.Sign(parameters, Encoding.UTF8.GetBytes(secret ?? _emulator.SecretKey));
        tamper?.Invoke(parameters);
        var query = string.Join('&', parameters.Select(p => $"{OsseaRequestSigner.Encode(p.Key)}={OsseaRequestSigner.Encode(p.Value)}"));
        return new Uri($"{_emulator.ApiUrl}?{query}&signature={OsseaRequestSigner.Encode(signature)}");
    }

    private async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> GetAsync(Uri uri, CancellationToken ct)
    {
        var response = await _http.GetAsync(uri, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    [Test]
    public async Task ASignedRequestIsAnswered(CancellationToken ct)
    {
        var (status, body, _) = await GetAsync(Signed(new() { ["command"] = "listZones" }), ct);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        var envelope = body.GetProperty("listzonesresponse");
        Assert.That(envelope.GetProperty("count").GetInt32(), Is.EqualTo(1));
        Assert.That(envelope.GetProperty("zone")[0].GetProperty("id").GetString(), Is.EqualTo(_emulator.ZoneId));
    }

    [Test]
    public async Task ATamperedParameterIsRefusedWithTheRealBody(CancellationToken ct)
    {
        var uri = Signed(new() { ["command"] = "listVolumes", ["name"] = "a" }, p => p["name"] = "b");
        var (status, body, response) = await GetAsync(uri, ct);
        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        var error = body.GetProperty("listvolumesresponse");
        Assert.That(error.GetProperty("errorcode").GetInt32(), Is.EqualTo(401));
        Assert.That(error.GetProperty("errortext").GetString(), Is.EqualTo("unable to verify user credentials and/or request signature"));
        Assert.That(error.TryGetProperty("cserrorcode", out _), Is.False, "the auth path sets no cserrorcode");
        Assert.That(error.GetProperty("uuidList").GetArrayLength(), Is.Zero);
        Assert.That(response.Headers.GetValues("X-Description").Single(), Is.EqualTo("unable to verify user credentials and/or request signature"));
        Assert.That(_emulator.Faults.CallCount("listVolumes"), Is.Zero);
    }

    [Test]
    public async Task AWrongSecretOrAMissingSignatureIsRefused(CancellationToken ct)
    {
        Assert.That((await GetAsync(Signed(new() { ["command"] = "listZones" }, secret: "guess"), ct)).Status, Is.EqualTo(HttpStatusCode.Unauthorized));
        var unsigned = new Uri($"{_emulator.ApiUrl}?command=listZones&apiKey={Uri.EscapeDataString(_emulator.ApiKey)}&response=json");
        Assert.That((await GetAsync(unsigned, ct)).Status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(_emulator.Faults.RejectedSignatures, Is.EqualTo(2));
    }

    [Test]
    public async Task AnUnknownCommandIs432UnderErrorresponse(CancellationToken ct)
    {
        var (status, body, _) = await GetAsync(Signed(new() { ["command"] = "listCapabilitiesX" }), ct);
        Assert.That((int)status, Is.EqualTo(432));
        Assert.That(body.GetProperty("errorresponse").GetProperty("errortext").GetString(), Is.EqualTo("Unknown API command: listCapabilitiesX"));
    }

    [Test]
    public async Task AMissingParameterIs431WithCsErrorCode(CancellationToken ct)
    {
        var (status, body, _) = await GetAsync(Signed(new() { ["command"] = "attachVolume", ["id"] = Guid.NewGuid().ToString() }), ct);
        Assert.That((int)status, Is.EqualTo(431));
        var error = body.GetProperty("attachvolumeresponse");
        Assert.That(error.GetProperty("cserrorcode").GetInt32(), Is.EqualTo(4350));
        Assert.That(error.GetProperty("errortext").GetString(), Does.StartWith("Unable to execute API command attachvolume due to"));
    }

    [Test]
    public async Task JobsAnswerLikeQueryAsyncJobResult(CancellationToken ct)
    {
        _emulator.Faults.DelayJobs("createVolume", TimeSpan.FromMilliseconds(300));
        var (_, created, _) = await GetAsync(Signed(new()
        {
            ["command"] = "createVolume", ["name"] = "raw", ["diskofferingid"] = _emulator.CustomDiskOfferingId,
            ["zoneid"] = _emulator.ZoneId, ["size"] = "1",
        }), ct);
        var start = created.GetProperty("createvolumeresponse");
        var jobId = start.GetProperty("jobid").GetString()!;
        Assert.That(start.GetProperty("id").GetString(), Is.Not.Null, "async-create answers {id, jobid}");

        var (_, pending, _) = await GetAsync(Signed(new() { ["command"] = "queryAsyncJobResult", ["jobid"] = jobId }), ct);
        var p = pending.GetProperty("queryasyncjobresultresponse");
        Assert.That(p.GetProperty("jobstatus").GetInt32(), Is.Zero);
        Assert.That(p.TryGetProperty("jobresult", out _) || p.TryGetProperty("jobresulttype", out _), Is.False);
        Assert.That(p.GetProperty("jobinstancetype").GetString(), Is.EqualTo("Volume"));

        JsonElement done = default;
        for (var i = 0; i < 100; i++)
        {
            done = (await GetAsync(Signed(new() { ["command"] = "queryAsyncJobResult", ["jobid"] = jobId }), ct)).Body.GetProperty("queryasyncjobresultresponse");
            if (done.GetProperty("jobstatus").GetInt32() != 0)
            {
                break;
            }

            await Task.Delay(20, ct);
        }

        Assert.That(done.GetProperty("jobstatus").GetInt32(), Is.EqualTo(1));
        Assert.That(done.GetProperty("jobresultcode").GetInt32(), Is.Zero);
        Assert.That(done.GetProperty("jobresulttype").GetString(), Is.EqualTo("object"));
        Assert.That(done.GetProperty("jobresult").GetProperty("volume").GetProperty("state").GetString(), Is.EqualTo("Allocated"));
        Assert.That(done.GetProperty("completed").GetString(), Does.Match(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$"));
    }

    [Test]
    public async Task EmptyListsAreAnEmptyObject(CancellationToken ct)
    {
        var (_, body, _) = await GetAsync(Signed(new() { ["command"] = "listSnapshots" }), ct);
        Assert.That(body.GetProperty("listsnapshotsresponse").EnumerateObject(), Is.Empty);
    }

    [Test]
    public async Task WithoutResponseJsonTheAnswerIsXml(CancellationToken ct)
    {
        var response = await _http.GetAsync(Signed(new() { ["command"] = "listZones", ["response"] = "xml" }), ct);
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/xml"));
    }

    [Test]
    public async Task PlainFileModeStillGivesADeviceBySerial(CancellationToken ct)
    {
        await using var files = await OsseaEmulator.StartAsync(new OsseaEmulatorOptions { PreferLoopDevices = false });
        Assert.That(files.BlockDeviceMode, Is.EqualTo(EmulatedBlockDeviceMode.PlainFile));
        using var t = OsseaTestClient.Create(files);
        var volume = await t.Client.CreateVolumeAsync(
            new OsseaCreateVolume("plain", files.CustomDiskOfferingId, files.ZoneId, 1), new OsseaOperation("create"), ct);
        await t.Client.AttachVolumeAsync(volume.Id, files.OmaVmId, null, new OsseaOperation("attach"), ct);
        var link = files.ByIdLinkOf(volume.Id);
        Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo(files.VolumeFileOf(volume.Id)));
        await using (var device = new FileStream(link, FileMode.Open, FileAccess.ReadWrite))
        {
            device.Position = 4096;
            device.Write("hello"u8);
        }

        await t.Client.DetachVolumeAsync(volume.Id, new OsseaOperation("detach"), ct);
        Assert.That(File.Exists(link), Is.False);
        var data = new byte[5];
        await using (var file = File.OpenRead(files.VolumeFileOf(volume.Id)))
        {
            file.Position = 4096;
            file.ReadExactly(data);
        }

        Assert.That(Encoding.ASCII.GetString(data), Is.EqualTo("hello"));
    }

    [Test]
    public async Task DisposeRemovesLoopDevicesAndFiles(CancellationToken ct)
    {
        var emulator = await OsseaEmulator.StartAsync();
        using var t = OsseaTestClient.Create(emulator);
        var volume = await t.Client.CreateVolumeAsync(
            new OsseaCreateVolume("left-attached", emulator.CustomDiskOfferingId, emulator.ZoneId, 1), new OsseaOperation("create"), ct);
        await t.Client.AttachVolumeAsync(volume.Id, emulator.OmaVmId, null, new OsseaOperation("attach"), ct);
        var device = emulator.DevicePathOf(volume.Id)!;
        var file = emulator.VolumeFileOf(volume.Id);
        await emulator.DisposeAsync();

        Assert.That(File.Exists(file), Is.False);
        if (device.StartsWith("/dev/loop", StringComparison.Ordinal))
        {
            Assert.That(File.Exists($"/sys/block/{Path.GetFileName(device)}/loop/backing_file"), Is.False);
        }
    }
}
