using System;
using System.IO;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.ML.B12x.Backends;
using Microsoft.ML.B12x.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x;

/// <summary>
/// The file <see cref="FusedMoeTransformer.Save"/> writes: one zip archive with two entries, stored uncompressed
/// (FP4 codes do not compress and the layer can be gigabytes):
/// <list type="number">
/// <item><c>config.json</c>: <c>{"format": "Microsoft.ML.B12x.FusedMoeTransformer", "version": 1, "layerFile":
/// "layer.safetensors", "options": {...}}</c>, the options being <see cref="FusedMoeTransformerOptions"/> with enums
/// as names (its <c>Device</c> is informational: <see cref="FusedMoeTransformer.Load"/>'s argument decides);</item>
/// <item><c>layer.safetensors</c>: the layer file of the weights, byte for byte (see <see cref="LayerFile"/>).</item>
/// </list>
/// Versions: 1 — the layout above.
/// </summary>
internal static class FusedMoeModelFormat
{
    public const string FormatName = "Microsoft.ML.B12x.FusedMoeTransformer";
    public const int Version = 1;
    public const string ConfigEntry = "config.json";
    public const string LayerEntry = "layer.safetensors";

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Writes the zip next to <paramref name="path"/> and renames it into place.</summary>
    public static void Save(string path, FusedMoeTransformerOptions options, MoeWeights weights)
    {
        string full = Path.GetFullPath(path);
        string temporary = full + $".{Guid.NewGuid():N}.tmp";
        try
        {
            using (FileStream file = File.Create(temporary))
            using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
            {
                var config = new JsonObject
                {
                    ["format"] = FormatName,
                    ["version"] = Version,
                    ["layerFile"] = LayerEntry,
                    ["options"] = JsonSerializer.SerializeToNode(options, s_json),
                };
                using (Stream entry = zip.CreateEntry(ConfigEntry, CompressionLevel.NoCompression).Open())
                {
                    using var writer = new Utf8JsonWriter(entry, new JsonWriterOptions { Indented = true });
                    config.WriteTo(writer);
                }
                using (Stream entry = zip.CreateEntry(LayerEntry, CompressionLevel.NoCompression).Open())
                {
                    weights.WriteLayerFile(entry);
                }
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Reads a saved transformer's options and loads its weights onto the device <paramref name="device"/> names.</summary>
    /// <exception cref="InvalidDataException">The file is not a saved transformer of a known version.</exception>
    public static (FusedMoeTransformerOptions Options, MoeWeights Weights) Load(string path, ComputeDevice device)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"No saved transformer at {full}.", full);
        }
        FusedMoeTransformerOptions options;
        string temporary = Path.Combine(Path.GetTempPath(), $"b12x-layer-{Guid.NewGuid():N}.safetensors");
        LayerFileSource source = LayerFileSource.OfZipEntry(full, LayerEntry);
        try
        {
            using (ZipArchive zip = OpenZip(full))
            {
                options = ReadConfig(full, zip);
                ZipArchiveEntry layer = zip.GetEntry(LayerEntry) ?? throw Invalid(full, $"the entry '{LayerEntry}' is missing");
                Extract(full, layer, temporary);
            }
            (Device target, _) = DevicePlacement.Resolve(device, $"FusedMoeTransformer.Load({full})");
            try
            {
                return (options, MoeWeights.Load(temporary, target, source));
            }
            catch (InvalidDataException e)
            {
                // The extracted copy is deleted below: name the archive and its entry instead.
                throw Invalid(full, $"its entry '{LayerEntry}' is not a valid layer file: {e.Message.Replace(temporary, LayerEntry, StringComparison.Ordinal).TrimEnd('.')}");
            }
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// Extracts the layer entry, refusing one that expands beyond the archive's own size: this format stores the layer
    /// uncompressed, so a larger entry is a hostile or foreign file (a small archive could otherwise fill the disk).
    /// The copy stops at the entry's declared size in case the data runs longer than its header says.
    /// </summary>
    private static void Extract(string path, ZipArchiveEntry layer, string destination)
    {
        long archiveBytes = new FileInfo(path).Length;
        if (layer.Length > archiveBytes)
        {
            throw Invalid(path, $"the entry '{LayerEntry}' expands to {layer.Length} bytes, more than the archive's {archiveBytes} (the layer is stored uncompressed)");
        }
        using Stream source = layer.Open();
        using FileStream target = File.Create(destination);
        var buffer = new byte[64 << 10];
        long copied = 0;
        int read;
        while ((read = source.Read(buffer)) > 0)
        {
            copied += read;
            if (copied > layer.Length)
            {
                throw Invalid(path, $"the entry '{LayerEntry}' holds more data than the {layer.Length} bytes its header declares");
            }
            target.Write(buffer, 0, read);
        }
    }

    private static ZipArchive OpenZip(string path)
    {
        try
        {
            return ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw Invalid(path, $"it is not a zip archive ({e.Message})");
        }
    }

    private static FusedMoeTransformerOptions ReadConfig(string path, ZipArchive zip)
    {
        ZipArchiveEntry entry = zip.GetEntry(ConfigEntry) ?? throw Invalid(path, $"the entry '{ConfigEntry}' is missing");
        try
        {
            using Stream stream = entry.Open();
            JsonNode root = JsonNode.Parse(stream) ?? throw Invalid(path, $"'{ConfigEntry}' is empty");
            string? format = root["format"]?.GetValue<string>();
            if (format != FormatName)
            {
                throw Invalid(path, $"'{ConfigEntry}' has format '{format}', expected '{FormatName}'");
            }
            int version = root["version"]?.GetValue<int>() ?? 0;
            if (version != Version)
            {
                throw Invalid(path, $"'{ConfigEntry}' has version {version}; this library reads version {Version}");
            }
            string? layerFile = root["layerFile"]?.GetValue<string>();
            if (layerFile != LayerEntry)
            {
                throw Invalid(path, $"'{ConfigEntry}' names the layer file '{layerFile}', expected '{LayerEntry}'");
            }
            JsonNode options = root["options"] ?? throw Invalid(path, $"'{ConfigEntry}' has no 'options'");
            return options.Deserialize<FusedMoeTransformerOptions>(s_json) ?? throw Invalid(path, "'options' is null");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw Invalid(path, $"'{ConfigEntry}' cannot be read: {e.Message}");
        }
    }

    private static InvalidDataException Invalid(string path, string reason) => new($"{path} is not a saved FusedMoeTransformer: {reason}.");
}
