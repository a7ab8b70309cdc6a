using System;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// Float32 rows per slot (routed pair) of one token range: the FC1 input (x̂, H), the FC2 input (â, I) and the pair's
/// scaled FC2 output (H), kept until the ordered combine.
/// </summary>
internal sealed unsafe class CpuPairWorkspace : IDisposable
{
    private readonly NativeFloatBuffer _inputs;
    private readonly NativeFloatBuffer _intermediates;
    private readonly NativeFloatBuffer _contributions;
    private readonly int _hidden;
    private readonly int _intermediate;

    /// <exception cref="InsufficientMemoryException">
    /// The rows need more bytes than the memory this process can use at all (physical memory or its container limit):
    /// checked before anything is allocated, since an allocation that the operating system grants lazily would end the
    /// process when its pages are touched instead of failing.
    /// </exception>
    public CpuPairWorkspace(int slots, int hidden, int intermediate)
    {
        long floats = FloatsPerSlot(hidden, intermediate);
        Int128 bytes = (Int128)slots * floats * sizeof(float);
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (bytes > available)
        {
            throw new InsufficientMemoryException(
                $"The CPU backend needs {bytes} bytes of float32 workspace for {slots} routed pairs of one token range " +
                $"(2·H + I = {floats} floats per pair, H = {hidden}, I = {intermediate}), more than the {available} bytes of " +
                "memory this process can use; fewer routes per token (top_k) or a smaller H or I would fit.");
        }
        _hidden = hidden;
        _intermediate = intermediate;
        _inputs = new NativeFloatBuffer((long)slots * hidden);
        _intermediates = new NativeFloatBuffer((long)slots * intermediate);
        _contributions = new NativeFloatBuffer((long)slots * hidden);
    }

    /// <summary>Floats a workspace needs per slot: 2H + I.</summary>
    public static long FloatsPerSlot(int hidden, int intermediate) => 2L * hidden + intermediate;

    /// <summary>The FC1 input of a slot: H floats (x̂ for NVFP4, x for W4A16).</summary>
    public float* Input(int slot) => _inputs.Pointer + (long)slot * _hidden;

    /// <summary>The FC2 input of a slot: I floats (â for NVFP4, bf16-rounded a for W4A16).</summary>
    public float* Intermediate(int slot) => _intermediates.Pointer + (long)slot * _intermediate;

    /// <summary>The slot's contribution to its token's output: H floats, fp32(fp32(w·alpha2)·acc2).</summary>
    public float* Contribution(int slot) => _contributions.Pointer + (long)slot * _hidden;

    /// <inheritdoc />
    public void Dispose()
    {
        _inputs.Dispose();
        _intermediates.Dispose();
        _contributions.Dispose();
    }
}
