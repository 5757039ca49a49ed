using System.Xml.Linq;

namespace MigrateKit.Modules.Vma.VSphere;

/// <summary>Properties of one object from a PropertyCollector result, by property path.</summary>
internal sealed record ObjectProperties(MoRef Ref, IReadOnlyDictionary<string, XElement> Values)
{
    public XElement? this[string path] => Values.GetValueOrDefault(path);
}

internal sealed partial class VSphereClient
{
    private const int MaxObjectsPerPage = 500;
    private const int MaxContinuePages = 10_000;

    /// <summary>
    /// Retrieves <paramref name="propertySets"/> (type → paths) for every object of
    /// <paramref name="viewTypes"/> under the root folder, through a ContainerView, paging with
    /// ContinueRetrievePropertiesEx.
    /// </summary>
    internal async Task<IReadOnlyList<ObjectProperties>> RetrieveFromViewAsync(
        IReadOnlyList<string> viewTypes, IReadOnlyList<(string Type, string[] Paths)> propertySets, CancellationToken ct)
    {
        var content = await EnsureContentAsync(ct).ConfigureAwait(false);
        var created = await InvokeAsync("CreateContainerView", content.ViewManager, w =>
        {
            w.Ref("container", content.RootFolder);
            foreach (var t in viewTypes)
            {
                w.Value("type", t);
            }
            w.Value("recursive", true);
        }, ct).ConfigureAwait(false);
        var view = created.Child("returnval").AsRef() ?? throw new VSphereException("CreateContainerView returned no view");
        try
        {
            return await RetrieveAsync(propertySets, w =>
            {
                w.Start("objectSet").Ref("obj", view).Value("skip", true);
                w.Start("selectSet", "TraversalSpec")
                    .Value("name", "view").Value("type", "ContainerView").Value("path", "view").Value("skip", false)
                    .End();
                w.End();
            }, ct).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await InvokeAsync("DestroyView", view, null, CancellationToken.None).ConfigureAwait(false);
            }
            catch (VSphereException)
            {
                // Views die with the session anyway.
            }
        }
    }

    /// <summary>Retrieves properties of the given objects (no traversal).</summary>
    internal async Task<IReadOnlyList<ObjectProperties>> RetrieveObjectsAsync(
        IReadOnlyList<MoRef> objects, string[] paths, CancellationToken ct)
    {
        if (objects.Count == 0)
        {
            return [];
        }
        var types = objects.Select(o => o.Type).Distinct().Select(t => (t, paths)).ToList();
        return await RetrieveAsync(types, w =>
        {
            foreach (var o in objects)
            {
                w.Start("objectSet").Ref("obj", o).Value("skip", false).End();
            }
        }, ct).ConfigureAwait(false);
    }

    internal async Task<ObjectProperties> RetrieveOneAsync(MoRef obj, string[] paths, CancellationToken ct)
    {
        var list = await RetrieveObjectsAsync([obj], paths, ct).ConfigureAwait(false);
        return list.FirstOrDefault(o => o.Ref == obj)
            ?? throw new VSphereFaultException("ManagedObjectNotFound", $"{obj} does not exist in vCenter");
    }

    private async Task<IReadOnlyList<ObjectProperties>> RetrieveAsync(
        IReadOnlyList<(string Type, string[] Paths)> propertySets, Action<VimWriter> objectSets, CancellationToken ct)
    {
        var content = await EnsureContentAsync(ct).ConfigureAwait(false);
        var response = await InvokeAsync("RetrievePropertiesEx", content.PropertyCollector, w =>
        {
            w.Start("specSet");
            foreach (var (type, paths) in propertySets)
            {
                w.Start("propSet").Value("type", type);
                foreach (var p in paths)
                {
                    w.Value("pathSet", p);
                }
                w.End();
            }
            objectSets(w);
            w.End();
            w.Start("options").Value("maxObjects", MaxObjectsPerPage).End();
        }, ct).ConfigureAwait(false);

        var result = new List<ObjectProperties>();
        var page = response.Child("returnval");
        for (var pages = 0; page is not null; pages++)
        {
            result.AddRange(ParseObjects(page));
            var token = page.Text("token");
            if (string.IsNullOrEmpty(token))
            {
                break;
            }
            if (pages >= MaxContinuePages)
            {
                throw new VSphereException("PropertyCollector kept returning continuation tokens; giving up");
            }
            var next = await InvokeAsync("ContinueRetrievePropertiesEx", content.PropertyCollector,
                w => w.Value("token", token), ct).ConfigureAwait(false);
            page = next.Child("returnval");
        }
        return result;
    }

    /// <summary>Parses the <c>objects</c> of a RetrieveResult; objects whose properties vCenter could not read are skipped.</summary>
    internal static IEnumerable<ObjectProperties> ParseObjects(XElement retrieveResult)
    {
        foreach (var obj in retrieveResult.ChildrenNamed("objects"))
        {
            var reference = obj.Child("obj").AsRef();
            if (reference is null)
            {
                continue;
            }
            var values = new Dictionary<string, XElement>(StringComparer.Ordinal);
            foreach (var prop in obj.ChildrenNamed("propSet"))
            {
                var name = prop.Text("name");
                var val = prop.Child("val");
                if (name is not null && val is not null)
                {
                    values[name] = val;
                }
            }
            yield return new ObjectProperties(reference.Value, values);
        }
    }

    /// <summary>
    /// Polls a task's <c>info</c> until it succeeds (returns <c>info.result</c>, may be null) or fails
    /// (throws the task's fault as <see cref="VSphereFaultException"/>), within <paramref name="timeout"/>.
    /// </summary>
    internal async Task<XElement?> WaitForTaskAsync(MoRef task, string operation, TimeSpan? timeout, CancellationToken ct)
    {
        var limit = timeout ?? _options.TaskTimeout;
        var started = _time.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            var props = await RetrieveOneAsync(task, ["info"], ct).ConfigureAwait(false);
            var info = props["info"] ?? throw new VSphereException($"task {task} has no info");
            switch (info.Text("state"))
            {
                case "success":
                    return info.Child("result");
                case "error":
                    var error = info.Child("error");
                    var fault = error.Child("fault");
                    var type = fault.XsiType() ?? "SystemError";
                    var message = error.Text("localizedMessage");
                    if (string.IsNullOrWhiteSpace(message) || message == type)
                    {
                        message = fault.Text("faultMessage", "message") ?? $"{operation} failed";
                    }
                    throw new VSphereFaultException(type, $"{operation}: {message}", fault);
            }
            if (_time.GetElapsedTime(started) >= limit)
            {
                throw new VSphereTaskTimeoutException(task, operation, limit);
            }
            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
        }
    }

    /// <summary>Runs a <c>*_Task</c> method and waits for it.</summary>
    internal async Task<XElement?> RunTaskAsync(string method, MoRef @this, Action<VimWriter>? body, TimeSpan? timeout, CancellationToken ct)
    {
        var response = await InvokeAsync(method, @this, body, ct).ConfigureAwait(false);
        var task = response.Child("returnval").AsRef() ?? throw new VSphereException($"{method} returned no task");
        return await WaitForTaskAsync(task, method, timeout, ct).ConfigureAwait(false);
    }
}
