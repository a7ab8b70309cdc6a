using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO.Safetensors;

/// <summary>
/// Builds a safetensors file from TorchSharp tensors and raw bytes. The output is deterministic: <c>__metadata__</c>
/// first (keys in insertion order), then the tensors in the order they were added, their bytes packed back to back
/// in that order; the JSON header is padded with spaces so the data section starts at a multiple of 8 bytes.
/// <see cref="Save"/> writes a temporary file beside the target and renames it into place, so a failure never leaves
/// a partial file. Tensors are read when <see cref="Save"/> runs, not when they are added: keep them alive until then.
/// </summary>
public sealed class SafetensorsWriter
{
    /// <summary>The header (prefix included) is padded to this alignment, as the format allows.</summary>
    private const int HeaderAlignment = 8;

    /// <summary>Bytes per write call when copying tensor data.</summary>
    private const int WriteChunkBytes = 16 << 20;

    private readonly List<Entry> _entries = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly List<KeyValuePair<string, string>> _metadata = new();

    /// <summary>The tensors added so far, with their offsets in the data section as <see cref="Save"/> will write them.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors => _entries.ConvertAll(e => e.Info);

    /// <summary>The metadata entries added so far, in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Metadata => _metadata;

    /// <summary>Bytes of the data section.</summary>
    public long DataBytes { get; private set; }

    /// <summary>
    /// Adds a tensor (any device, any strides; copied to contiguous host memory one tensor at a time while saving).
    /// Its safetensors dtype follows <see cref="SafetensorsDtypes.FromScalarType"/> unless <paramref name="dtype"/>
    /// names another type of the same width, whose bits it then holds (e.g. a Byte tensor of E4M3 scale bits written
    /// as <see cref="SafetensorsDtype.F8E4M3"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A duplicate or reserved name, or a <paramref name="dtype"/> of another width.</exception>
    public SafetensorsWriter Add(string name, Tensor tensor, SafetensorsDtype? dtype = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        TensorChecks.NotNull(tensor, nameof(tensor));
        SafetensorsDtype natural = SafetensorsDtypes.FromScalarType(tensor.dtype);
        SafetensorsDtype written = dtype ?? natural;
        if (SafetensorsDtypes.BitSize(written) != SafetensorsDtypes.BitSize(natural))
        {
            throw new ArgumentException(
                $"Tensor '{name}' of dtype {TensorChecks.DtypeName(tensor.dtype)} cannot be written as {SafetensorsDtypes.ToName(written)}: " +
                $"the element widths differ ({SafetensorsDtypes.BitSize(natural)} vs {SafetensorsDtypes.BitSize(written)} bits).",
                nameof(dtype));
        }
        long bytes = checked(tensor.numel() * tensor.element_size());
        AddEntry(name, written, tensor.shape, bytes, tensor, default);
        return this;
    }

    /// <summary>Adds a tensor given as raw little-endian bytes (not copied; read when saving).</summary>
    /// <exception cref="ArgumentException">
    /// A duplicate or reserved name, a negative dimension, or <paramref name="data"/> not holding exactly
    /// product(shape) × bit size / 8 bytes.
    /// </exception>
    public SafetensorsWriter Add(string name, SafetensorsDtype dtype, IReadOnlyList<long> shape, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long elements = 1;
        foreach (long dimension in shape)
        {
            if (dimension < 0)
            {
                throw new ArgumentException($"Tensor '{name}' has a negative dimension in shape [{string.Join(", ", shape)}].", nameof(shape));
            }
            elements = checked(elements * dimension);
        }
        Int128 bits = (Int128)elements * SafetensorsDtypes.BitSize(dtype);
        if (bits % 8 != 0 || bits / 8 != data.Length)
        {
            throw new ArgumentException(
                $"Tensor '{name}' of shape [{string.Join(", ", shape)}] and dtype {SafetensorsDtypes.ToName(dtype)} needs {(double)bits / 8} bytes; got {data.Length}.",
                nameof(data));
        }
        AddEntry(name, dtype, [.. shape], data.Length, null, data);
        return this;
    }

    /// <summary>Adds a <c>__metadata__</c> entry.</summary>
    /// <exception cref="ArgumentException">The key was already added.</exception>
    public SafetensorsWriter AddMetadata(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (_metadata.Exists(entry => entry.Key == key))
        {
            throw new ArgumentException($"Metadata key '{key}' was already added.", nameof(key));
        }
        _metadata.Add(new KeyValuePair<string, string>(key, value));
        return this;
    }

    /// <summary>
    /// Writes the file: to a temporary file in the same directory first, then renamed over <paramref name="path"/>.
    /// </summary>
    /// <param name="path">The target file; replaced if it exists.</param>
    /// <param name="progress">Receives the data bytes written so far after each chunk (of <see cref="DataBytes"/>).</param>
    public void Save(string path, IProgress<long>? progress = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] header = BuildHeader();
        string fullPath = System.IO.Path.GetFullPath(path);
        string directory = System.IO.Path.GetDirectoryName(fullPath)!;
        string temporary = System.IO.Path.Combine(
            directory, $".{System.IO.Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                Span<byte> prefix = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                long written = 0;
                foreach (Entry entry in _entries)
                {
                    written = WriteData(stream, entry, written, progress);
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private void AddEntry(string name, SafetensorsDtype dtype, long[] shape, long bytes, Tensor? tensor, ReadOnlyMemory<byte> data)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name == SafetensorsHeader.MetadataKey)
        {
            throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved for metadata and cannot name a tensor.", nameof(name));
        }
        if (!_names.Add(name))
        {
            throw new ArgumentException($"A tensor named '{name}' was already added.", nameof(name));
        }
        var info = new SafetensorsTensorInfo(name, dtype, shape, DataBytes, bytes);
        _entries.Add(new Entry(info, tensor, data));
        DataBytes = checked(DataBytes + bytes);
    }

    private byte[] BuildHeader()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (_metadata.Count > 0)
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (KeyValuePair<string, string> entry in _metadata)
                {
                    json.WriteString(entry.Key, entry.Value);
                }
                json.WriteEndObject();
            }
            foreach (Entry entry in _entries)
            {
                SafetensorsTensorInfo info = entry.Info;
                json.WriteStartObject(info.Name);
                json.WriteString("dtype", SafetensorsDtypes.ToName(info.Dtype));
                json.WriteStartArray("shape");
                foreach (long dimension in info.Shape)
                {
                    json.WriteNumberValue(dimension);
                }
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(info.DataOffset);
                json.WriteNumberValue(info.DataOffset + info.ByteLength);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + HeaderAlignment - 1) / HeaderAlignment * HeaderAlignment;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static unsafe long WriteData(FileStream stream, Entry entry, long written, IProgress<long>? progress)
    {
        SafetensorsTensorInfo info = entry.Info;
        if (entry.Tensor is null)
        {
            for (int done = 0; done < entry.Data.Length; done += WriteChunkBytes)
            {
                int count = Math.Min(WriteChunkBytes, entry.Data.Length - done);
                stream.Write(entry.Data.Span.Slice(done, count));
                written += count;
                progress?.Report(written);
            }
            return written;
        }

        using DisposeScope scope = NewDisposeScope();
        Tensor tensor = TensorChecks.NotNull(entry.Tensor, info.Name);
        Tensor host = tensor.device_type == DeviceType.CPU ? tensor : tensor.cpu();
        host = host.is_contiguous() ? host : host.contiguous();
        if (host.numel() * host.element_size() != info.ByteLength)
        {
            throw new InvalidOperationException(
                $"Tensor '{info.Name}' changed size between Add and Save: {info.ByteLength} bytes expected, {host.numel() * host.element_size()} found.");
        }
        byte* source = (byte*)TensorPointers.DataPointer(host);
        for (long done = 0; done < info.ByteLength; done += WriteChunkBytes)
        {
            int count = (int)Math.Min(WriteChunkBytes, info.ByteLength - done);
            stream.Write(new ReadOnlySpan<byte>(source + done, count));
            written += count;
            progress?.Report(written);
        }
        return written;
    }

    private sealed record Entry(SafetensorsTensorInfo Info, Tensor? Tensor, ReadOnlyMemory<byte> Data);
}
