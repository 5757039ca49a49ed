using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace MigrateKit.Modules.Vma.VSphere;

/// <summary>
/// Builds vim25 SOAP request envelopes. Element order follows the vim25 WSDL sequences, which
/// real vCenter enforces. Secrets written here (the Login password) live only in the returned bytes.
/// </summary>
internal sealed class VimWriter
{
    public const string Vim25 = "urn:vim25";
    public const string SoapEnv = "http://schemas.xmlsoap.org/soap/envelope/";
    public const string Xsi = "http://www.w3.org/2001/XMLSchema-instance";
    public const string Xsd = "http://www.w3.org/2001/XMLSchema";

    private static readonly XmlWriterSettings Settings = new()
    {
        Encoding = new UTF8Encoding(false),
        Indent = false,
        CloseOutput = false,
    };

    private readonly XmlWriter _w;

    private VimWriter(XmlWriter w) => _w = w;

    /// <summary>Writes <c>&lt;method xmlns="urn:vim25"&gt;&lt;_this type=…&gt;…&lt;/_this&gt; body…&lt;/method&gt;</c> inside an envelope.</summary>
    public static byte[] Envelope(string method, MoRef @this, Action<VimWriter>? body)
    {
        using var ms = new MemoryStream();
        using (var xw = XmlWriter.Create(ms, Settings))
        {
            xw.WriteStartDocument();
            xw.WriteStartElement("soapenv", "Envelope", SoapEnv);
            xw.WriteAttributeString("xmlns", "xsd", null, Xsd);
            xw.WriteAttributeString("xmlns", "xsi", null, Xsi);
            xw.WriteStartElement("soapenv", "Body", SoapEnv);
            xw.WriteStartElement(method, Vim25);
            var w = new VimWriter(xw);
            w.Ref("_this", @this);
            body?.Invoke(w);
            xw.WriteEndElement();
            xw.WriteEndElement();
            xw.WriteEndElement();
            xw.WriteEndDocument();
        }
        return ms.ToArray();
    }

    public VimWriter Value(string name, string value)
    {
        _w.WriteElementString(name, Vim25, value);
        return this;
    }

    public VimWriter Value(string name, long value) => Value(name, value.ToString(CultureInfo.InvariantCulture));

    public VimWriter Value(string name, bool value) => Value(name, value ? "true" : "false");

    public VimWriter Ref(string name, MoRef value)
    {
        _w.WriteStartElement(name, Vim25);
        _w.WriteAttributeString("type", value.Type);
        _w.WriteString(value.Value);
        _w.WriteEndElement();
        return this;
    }

    /// <summary>Opens an element, with an <c>xsi:type</c> when the WSDL type is abstract or polymorphic.</summary>
    public VimWriter Start(string name, string? xsiType = null)
    {
        _w.WriteStartElement(name, Vim25);
        if (xsiType is not null)
        {
            _w.WriteAttributeString("xsi", "type", Xsi, xsiType);
        }
        return this;
    }

    public VimWriter End()
    {
        _w.WriteEndElement();
        return this;
    }
}

/// <summary>Namespace-agnostic readers over vim25 response XML: unknown elements are ignored.</summary>
internal static class VimXml
{
    public static XElement? Child(this XElement? e, string localName)
    {
        if (e is null)
        {
            return null;
        }
        foreach (var c in e.Elements())
        {
            if (c.Name.LocalName == localName)
            {
                return c;
            }
        }
        return null;
    }

    public static IEnumerable<XElement> ChildrenNamed(this XElement? e, string localName)
        => e is null ? [] : e.Elements().Where(c => c.Name.LocalName == localName);

    /// <summary>Follows a path of local names, e.g. <c>"deviceInfo", "label"</c>.</summary>
    public static XElement? Path(this XElement? e, params string[] names)
    {
        foreach (var n in names)
        {
            e = e.Child(n);
        }
        return e;
    }

    public static string? Text(this XElement? e, params string[] path) => e.Path(path)?.Value;

    public static long? Long(this XElement? e, params string[] path)
        => long.TryParse(e.Text(path), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    public static int? Int(this XElement? e, params string[] path)
        => int.TryParse(e.Text(path), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    public static bool? Bool(this XElement? e, params string[] path) => e.Text(path) switch
    {
        "true" or "1" => true,
        "false" or "0" => false,
        _ => null,
    };

    /// <summary>The <c>xsi:type</c> without a namespace prefix, or null.</summary>
    public static string? XsiType(this XElement? e)
    {
        var a = e?.Attribute(XName.Get("type", VimWriter.Xsi));
        if (a is null)
        {
            return null;
        }
        var v = a.Value;
        var colon = v.IndexOf(':');
        return colon >= 0 ? v[(colon + 1)..] : v;
    }

    public static MoRef? AsRef(this XElement? e)
    {
        var type = e?.Attribute("type")?.Value;
        return e is null || string.IsNullOrEmpty(type) || string.IsNullOrEmpty(e.Value) ? null : new MoRef(type, e.Value.Trim());
    }
}
