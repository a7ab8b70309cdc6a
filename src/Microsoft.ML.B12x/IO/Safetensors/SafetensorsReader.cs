using System;
using System.Collections.Generic;
using System.IO;
using System.IO.MemoryMappedFiles;
using System.Linq;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO.Safetensors;

/// <summary>
/// Reads a safetensors file through a read-only memory map: the header is parsed and validated when the file is
/// opened (<see cref="InvalidDataException"/> for anything malformed, naming the file and tensor), and tensor bytes
/// are touched only when asked for, so opening a 100 GB checkpoint to read one layer costs only that layer's pages.
/// Not thread-safe to dispose while reading; reading from several threads is fine.
/// </summary>
public sealed unsafe class SafetensorsReader : IDisposable
{
    /// <summary>Copy granularity for reads into tensors (keeps spans below 2 GiB).</summary>
    private const int CopyChunkBytes = 64 << 20;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    private byte* _base;

    private SafetensorsReader(string path, long fileLength, long headerLength, SafetensorsHeader header,
        MemoryMappedFile map, MemoryMappedViewAccessor view)
    {
        Path = path;
        FileLength = fileLength;
        HeaderLength = headerLength;
        Tensors = header.Tensors;
        Metadata = header.Metadata;
        _byName = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        _map = map;
        _view = view;
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + view.PointerOffset;
    }

    /// <summary>The file's path as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>The file's size in bytes.</summary>
    public long FileLength { get; }

    /// <summary>Bytes of the JSON header (padding included), without the 8-byte length prefix.</summary>
    public long HeaderLength { get; }

    /// <summary>Where the data section starts in the file: 8 + <see cref="HeaderLength"/>.</summary>
    public long DataStart => SafetensorsHeader.PrefixBytes + HeaderLength;

    /// <summary>The tensors in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a well-formed safetensors file; the message says why.</exception>
    public static SafetensorsReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = stream.Length;
            Span<byte> prefix = stackalloc byte[SafetensorsHeader.PrefixBytes];
            stream.ReadExactly(prefix[..(int)Math.Min(fileLength, prefix.Length)]);
            long headerLength = SafetensorsHeader.ReadLength(prefix, fileLength, path);
            var json = new byte[headerLength];
            stream.ReadExactly(json);
            SafetensorsHeader header = SafetensorsHeader.Parse(json, fileLength - SafetensorsHeader.PrefixBytes - headerLength, path);

            // Mapped after validation: the header proved the file non-empty, which mapping requires. The map owns
            // the stream from here on.
            MemoryMappedFile map = MemoryMappedFile.CreateFromFile(
                stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            try
            {
                MemoryMappedViewAccessor view = map.CreateViewAccessor(0, fileLength, MemoryMappedFileAccess.Read);
                return new SafetensorsReader(path, fileLength, headerLength, header, map, view);
            }
            catch
            {
                map.Dispose();
                throw;
            }
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>True when the file holds a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The descriptor of tensor <paramref name="name"/>, or null.</summary>
    public SafetensorsTensorInfo? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The descriptor of tensor <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    public SafetensorsTensorInfo Get(string name) =>
        _byName.TryGetValue(name, out SafetensorsTensorInfo? info)
            ? info
            : throw new KeyNotFoundException($"{Path} has no tensor named '{name}'.");

    /// <summary>
    /// The raw little-endian bytes of tensor <paramref name="name"/>, straight from the memory map (valid until the
    /// reader is disposed).
    /// </summary>
    /// <exception cref="NotSupportedException">The tensor is 2 GiB or larger (use <see cref="ReadTensor"/>).</exception>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        SafetensorsTensorInfo info = Get(name);
        if (info.ByteLength > int.MaxValue)
        {
            throw new NotSupportedException(
                $"Tensor '{name}' of {Path} holds {info.ByteLength} bytes, too many for a span; read it with ReadTensor.");
        }
        return new ReadOnlySpan<byte>(DataPointer(info), (int)info.ByteLength);
    }

    /// <summary>
    /// Copies tensor <paramref name="name"/> into a new TorchSharp tensor of its shape on <paramref name="device"/>
    /// (default CPU). U8 and F8_E4M3 become Byte (E4M3 as raw bits), BF16 BFloat16, F16 Float16, F32 Float32,
    /// I32 Int32, I64 Int64.
    /// </summary>
    /// <exception cref="NotSupportedException">The tensor's dtype is not one of those.</exception>
    public Tensor ReadTensor(string name, Device? device = null)
    {
        SafetensorsTensorInfo info = Get(name);
        ScalarType type = SafetensorsDtypes.ToScalarType(info.Dtype)
            ?? throw new NotSupportedException(
                $"Tensor '{name}' of {Path} has dtype {SafetensorsDtypes.ToName(info.Dtype)}, which cannot be read into a tensor; " +
                "supported: U8, F8_E4M3, BF16, F16, F32, I32, I64.");
        Tensor host = empty(info.ShapeArray(), type);
        try
        {
            byte* source = DataPointer(info);
            byte* destination = (byte*)TensorPointers.DataPointer(host);
            for (long done = 0; done < info.ByteLength; done += CopyChunkBytes)
            {
                long count = Math.Min(CopyChunkBytes, info.ByteLength - done);
                Buffer.MemoryCopy(source + done, destination + done, count, count);
            }
            if (device is null || device.type == DeviceType.CPU)
            {
                return host;
            }
            using (host)
            {
                return host.to(device);
            }
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_base is not null)
        {
            _base = null;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _map.Dispose();
        }
    }

    private byte* DataPointer(SafetensorsTensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_base is null, this);
        return _base + DataStart + info.DataOffset;
    }
}
