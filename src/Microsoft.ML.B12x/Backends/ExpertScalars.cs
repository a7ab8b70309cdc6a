using System;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends;

/// <summary>
/// A per-expert float32 scalar argument (<c>w1Alpha</c>, <c>w2Alpha</c>, <c>fc2InputScale</c>,
/// <c>inputGlobalScale</c>) given as [1] (one value for all experts), [E] (indexed by global expert id) or [E_loc]
/// (indexed by local id). The value of local expert l is element <c>Base + Stride·l</c>.
/// </summary>
/// <param name="Values">The float32 rank-1 contiguous tensor.</param>
/// <param name="Stride">0 for [1], else 1.</param>
/// <param name="Base">The local-expert offset for an [E] tensor on an expert-parallel rank, else 0.</param>
internal readonly record struct ExpertScalars(Tensor Values, int Stride, int Base)
{
    /// <summary>The element index that holds local expert <paramref name="localExpert"/>'s value.</summary>
    public int IndexOf(int localExpert) => Base + Stride * localExpert;

    /// <summary>Resolves the value of every local expert (host tensors only).</summary>
    public float[] ResolveOnHost(int localExperts)
    {
        ReadOnlySpan<float> values = TorchSharp.TensorPointers.HostSpan<float>(Values);
        var resolved = new float[localExperts];
        for (int l = 0; l < localExperts; l++)
        {
            resolved[l] = values[IndexOf(l)];
        }
        return resolved;
    }
}
