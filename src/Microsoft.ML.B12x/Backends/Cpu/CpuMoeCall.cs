using System;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// One validated problem as the CPU stages see it: raw host pointers to the tensors (kept alive by the problem),
/// sizes, resolved per-expert factors, the thread limit and the instruction set.
/// </summary>
internal sealed unsafe class CpuMoeCall
{
    private readonly int* _ids32;
    private readonly long* _ids64;

    public CpuMoeCall(MoeProblem problem, Tensor output, CpuVectorIsa isa)
    {
        Tokens = problem.Tokens;
        Hidden = problem.Hidden;
        Intermediate = problem.Intermediate;
        TopK = problem.TopK;
        LocalExperts = problem.LocalExperts;
        LocalExpertOffset = problem.LocalExpertOffset;
        IsGated = problem.IsGated;
        IsNvfp4 = problem.QuantMode == MoeQuantMode.Nvfp4;
        Isa = isa;
        X = (ushort*)TensorPointers.DataPointer(problem.X);
        if (problem.ExpertIdType == ScalarType.Int64)
        {
            _ids64 = (long*)TensorPointers.DataPointer(problem.ExpertIds);
        }
        else
        {
            _ids32 = (int*)TensorPointers.DataPointer(problem.ExpertIds);
        }
        RoutingWeights = (float*)TensorPointers.DataPointer(problem.RoutingWeights);
        Output = (ushort*)TensorPointers.DataPointer(output);
        W1 = new PackedWeightMatrix(
            (byte*)TensorPointers.DataPointer(problem.W1Weight), (byte*)TensorPointers.DataPointer(problem.W1Scales),
            problem.W1Rows, Hidden, problem.ScaleLayout);
        W2 = new PackedWeightMatrix(
            (byte*)TensorPointers.DataPointer(problem.W2Weight), (byte*)TensorPointers.DataPointer(problem.W2Scales),
            Hidden, Intermediate, problem.ScaleLayout);
        Scalars = CpuExpertScalars.Resolve(problem);
        Parallel = new ParallelOptions { MaxDegreeOfParallelism = problem.Options.CpuThreads ?? Environment.ProcessorCount };
    }

    /// <summary>T.</summary>
    public int Tokens { get; }

    /// <summary>H.</summary>
    public int Hidden { get; }

    /// <summary>I.</summary>
    public int Intermediate { get; }

    /// <summary>K.</summary>
    public int TopK { get; }

    /// <summary>E_loc.</summary>
    public int LocalExperts { get; }

    /// <summary>Global id of local expert 0.</summary>
    public int LocalExpertOffset { get; }

    /// <summary>silu: W1 holds [up; gate].</summary>
    public bool IsGated { get; }

    /// <summary>Activations are quantised to NVFP4 before FC1 and FC2.</summary>
    public bool IsNvfp4 { get; }

    /// <summary>The instruction set of the kernels.</summary>
    public CpuVectorIsa Isa { get; }

    /// <summary>x: bfloat16 bits [T, H].</summary>
    public ushort* X { get; }

    /// <summary>token_final_scales: float32 [T, K].</summary>
    public float* RoutingWeights { get; }

    /// <summary>The output: bfloat16 bits [T, H].</summary>
    public ushort* Output { get; }

    /// <summary>FC1 weights: [E_loc, 2I or I, H].</summary>
    public PackedWeightMatrix W1 { get; }

    /// <summary>FC2 weights: [E_loc, H, I].</summary>
    public PackedWeightMatrix W2 { get; }

    public CpuExpertScalars Scalars { get; }

    public ParallelOptions Parallel { get; }

    /// <summary>The global expert id of pair (t, k), widened to 64 bits (int64 ids are never truncated).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long ExpertId(long pair) => _ids64 != null ? _ids64[pair] : _ids32[pair];
}
