using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.B12x.IO.Safetensors;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// The tensors of a checkpoint directory, single-file or sharded. With a shard index
/// (<c>model.safetensors.index.json</c>, <c>weight_map</c>: tensor name → file) a shard is opened only when one of
/// its tensors is asked for; without one, every <c>*.safetensors</c> file of the directory is opened (headers only).
/// Files are memory-mapped, so reading one layer touches only that layer's pages.
/// </summary>
internal sealed class CheckpointTensors : IDisposable
{
    /// <summary>The shard index's name in Hugging Face checkpoints.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly string _directory;
    private readonly Dictionary<string, string> _fileOf;
    private readonly Dictionary<string, SafetensorsReader> _readers = new(StringComparer.Ordinal);

    private CheckpointTensors(string directory, Dictionary<string, string> fileOf, string? indexPath, IReadOnlyList<string> files)
    {
        _directory = directory;
        _fileOf = fileOf;
        IndexPath = indexPath;
        Files = files;
    }

    /// <summary>The index file, or null for a directory without one.</summary>
    public string? IndexPath { get; }

    /// <summary>Every safetensors file of the checkpoint (names relative to the directory), sorted.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>The files opened so far (names relative to the directory), in the order they were opened.</summary>
    public List<string> FilesOpened { get; } = new();

    /// <summary>Every tensor name of the checkpoint.</summary>
    public IEnumerable<string> Names => _fileOf.Keys;

    /// <summary>Opens the checkpoint in <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">No safetensors file, or the index names a missing file.</exception>
    /// <exception cref="InvalidDataException">A malformed index or file, or one tensor name in two files.</exception>
    public static CheckpointTensors Open(string directory)
    {
        string indexPath = Path.Combine(directory, IndexFileName);
        string[] indexes = File.Exists(indexPath) ? [indexPath] : Directory.GetFiles(directory, "*.safetensors.index.json");
        if (indexes.Length > 1)
        {
            throw new InvalidDataException($"{directory} holds several shard indexes ({string.Join(", ", indexes.Select(Path.GetFileName))}) and none is named {IndexFileName}.");
        }
        if (indexes.Length == 1)
        {
            return FromIndex(directory, indexes[0]);
        }
        string[] files = Directory.GetFiles(directory, "*.safetensors").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0)
        {
            throw new FileNotFoundException($"{directory} holds no *.safetensors file and no {IndexFileName}.");
        }
        var result = new CheckpointTensors(directory, new Dictionary<string, string>(StringComparer.Ordinal), null, files);
        try
        {
            foreach (string file in files)
            {
                foreach (SafetensorsTensorInfo tensor in result.Reader(file).Tensors)
                {
                    if (!result._fileOf.TryAdd(tensor.Name, file))
                    {
                        throw new InvalidDataException($"{directory}: tensor '{tensor.Name}' is in both {result._fileOf[tensor.Name]} and {file}.");
                    }
                }
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>True when the checkpoint has a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _fileOf.ContainsKey(name);

    /// <summary>The file (relative to the directory) holding <paramref name="name"/>.</summary>
    public string FileOf(string name) => _fileOf[name];

    /// <summary>The descriptor of tensor <paramref name="name"/>, or null when the checkpoint has no such tensor.</summary>
    /// <exception cref="InvalidDataException">The index names a file that lacks the tensor.</exception>
    public SafetensorsTensorInfo? Find(string name)
    {
        if (!_fileOf.TryGetValue(name, out string? file))
        {
            return null;
        }
        return Reader(file).Find(name)
            ?? throw new InvalidDataException($"{IndexPath}: tensor '{name}' is mapped to {file}, which does not hold it.");
    }

    /// <summary>The reader of the file holding <paramref name="name"/> (which must exist).</summary>
    public SafetensorsReader ReaderOf(string name) => Reader(_fileOf[name]);

    /// <summary>The reader of <paramref name="file"/> (relative to the directory), opened on first use.</summary>
    public SafetensorsReader Reader(string file)
    {
        if (!_readers.TryGetValue(file, out SafetensorsReader? reader))
        {
            string path = Path.Combine(_directory, file);
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"{IndexPath ?? _directory}: file {file} is missing.", path);
            }
            reader = SafetensorsReader.Open(path);
            _readers[file] = reader;
            FilesOpened.Add(file);
        }
        return reader;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (SafetensorsReader reader in _readers.Values)
        {
            reader.Dispose();
        }
        _readers.Clear();
    }

    private static CheckpointTensors FromIndex(string directory, string indexPath)
    {
        JsonElement root = CheckpointJson.ReadObject(indexPath);
        JsonElement map = CheckpointJson.Object(root, "weight_map", indexPath)
            ?? throw new InvalidDataException($"{indexPath}: 'weight_map' is missing.");
        var fileOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty entry in map.EnumerateObject())
        {
            string file = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : "";
            if (file.Length == 0 || Path.GetFileName(file) != file)
            {
                throw new InvalidDataException($"{indexPath}: weight_map['{entry.Name}'] must name a file in the same directory; got {entry.Value.GetRawText()}.");
            }
            fileOf[entry.Name] = file;
        }
        string[] files = fileOf.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return new CheckpointTensors(directory, fileOf, indexPath, files);
    }
}
