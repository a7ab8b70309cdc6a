using System;
using System.Runtime.InteropServices;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// Uninitialised float32 scratch memory outside the managed heap, 64-byte aligned (one cache line, one 512-bit
/// vector), freed on dispose. The kernels take raw pointers, and workspaces can exceed 2^31 elements.
/// </summary>
internal sealed unsafe class NativeFloatBuffer : IDisposable
{
    private const nuint Alignment = 64;

    public NativeFloatBuffer(long count)
    {
        Count = count;
        Pointer = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, count) * sizeof(float), Alignment);
    }

    /// <summary>Floats held.</summary>
    public long Count { get; }

    /// <summary>The first float.</summary>
    public float* Pointer { get; private set; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Pointer != null)
        {
            NativeMemory.AlignedFree(Pointer);
            Pointer = null;
        }
    }
}
