namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// The per-local-expert float32 factors of one call, resolved from the [1]/[E]/[E_loc] scalar tensors by the rules
/// of semantics.md §Scales and §Modes.
/// </summary>
internal sealed class CpuExpertScalars
{
    private CpuExpertScalars(float[] inputScale, float[] alpha1, float[] intermediateScale, float[] alpha2)
    {
        InputScale = inputScale;
        Alpha1 = alpha1;
        IntermediateScale = intermediateScale;
        Alpha2 = alpha2;
    }

    /// <summary>gs1: the FC1-input quantisation scale (NVFP4 only).</summary>
    public float[] InputScale { get; }

    /// <summary>alpha1: the factor applied to FC1's sums before the activation.</summary>
    public float[] Alpha1 { get; }

    /// <summary>gs2: the FC2-input quantisation scale (NVFP4 only).</summary>
    public float[] IntermediateScale { get; }

    /// <summary>alpha2: multiplied by the routing weight (rounded) before it scales FC2's sums.</summary>
    public float[] Alpha2 { get; }

    /// <summary>Resolves the factors of every local expert of a host problem.</summary>
    public static CpuExpertScalars Resolve(MoeProblem problem)
    {
        int experts = problem.LocalExperts;
        float[] w1Alpha = problem.W1Alpha.ResolveOnHost(experts);
        float[] w2Alpha = problem.W2Alpha.ResolveOnHost(experts);
        var inputScale = new float[experts];
        var alpha1 = new float[experts];
        var intermediateScale = new float[experts];
        var alpha2 = new float[experts];
        if (problem.QuantMode == MoeQuantMode.Nvfp4)
        {
            float[]? given = problem.InputGlobalScale?.ResolveOnHost(experts);
            float[] gs2 = problem.Fc2InputScale!.Value.ResolveOnHost(experts);
            for (int l = 0; l < experts; l++)
            {
                // Without input_global_scale, gs1 = w1_alpha and alpha1 = w1_alpha: the two cancel.
                inputScale[l] = given is null ? w1Alpha[l] : given[l];
                alpha1[l] = given is null ? w1Alpha[l] : w1Alpha[l] * given[l];
                intermediateScale[l] = gs2[l];
                alpha2[l] = w2Alpha[l];
            }
        }
        else
        {
            bool reciprocal = problem.HasReciprocalAlphas;
            for (int l = 0; l < experts; l++)
            {
                alpha1[l] = reciprocal ? 1f / w1Alpha[l] : w1Alpha[l];
                alpha2[l] = reciprocal ? 1f / w2Alpha[l] : w2Alpha[l];
            }
        }
        return new CpuExpertScalars(inputScale, alpha1, intermediateScale, alpha2);
    }
}
