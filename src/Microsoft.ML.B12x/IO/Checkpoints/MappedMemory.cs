using System;
using System.Buffers;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// A <see cref="Memory{T}"/> over bytes that are not managed memory (a tensor inside a memory-mapped safetensors
/// file), so the writer can copy it to the output without loading it first. Valid only while the mapping lives.
/// </summary>
internal sealed unsafe class MappedMemory : MemoryManager<byte>
{
    private readonly byte* _pointer;
    private readonly int _length;

    private MappedMemory(byte* pointer, int length)
    {
        _pointer = pointer;
        _length = length;
    }

    /// <summary>The memory of <paramref name="bytes"/>, which must not live on the managed heap.</summary>
    public static ReadOnlyMemory<byte> Of(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* pointer = bytes)
        {
            return new MappedMemory(pointer, bytes.Length).Memory;
        }
    }

    /// <inheritdoc />
    public override Span<byte> GetSpan() => new(_pointer, _length);

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    /// <inheritdoc />
    public override void Unpin()
    {
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
    }
}
