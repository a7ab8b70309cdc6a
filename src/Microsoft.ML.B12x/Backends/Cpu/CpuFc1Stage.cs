using System;
using System.Runtime.CompilerServices;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.Quantization;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// Steps 2–4 of semantics.md: FC1 for every slot, the activation, its bf16 rounding and (NVFP4) the quantisation
/// of the intermediate with gs2. Work items are (expert, 16 intermediate features); one item owns those features
/// of all of the expert's slots, decodes each weight tile once for all of them, and computes every output element
/// alone in the canonical order, so results do not depend on threads or on how tokens are batched.
/// The 16 features of an item are exactly one 16-block of the intermediate, so the item quantises it too.
/// </summary>
internal static unsafe class CpuFc1Stage
{
    private const int Lanes = WeightTileDecoder.TileRows;

    public static void Run(CpuMoeCall call, CpuRoutingPlan plan, CpuPairWorkspace workspace) => CpuTileItems.ForEach(
        call, plan, call.Intermediate, call.IsGated ? 2 : 1, (expert, feature0, scratch) => RunItem(call, plan, workspace, expert, feature0, scratch));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunItem(CpuMoeCall call, CpuRoutingPlan plan, CpuPairWorkspace workspace, int expert, int feature0, CpuTileScratch scratch)
    {
        int first = plan.ExpertStart[expert];
        int slots = plan.ExpertStart[expert + 1] - first;
        int hidden = call.Hidden;
        float* up = scratch.Accumulators(0);
        float* gate = call.IsGated ? scratch.Accumulators(1) : null;
        new Span<float>(up, slots * Lanes).Clear();
        if (gate != null)
        {
            new Span<float>(gate, slots * Lanes).Clear();
        }

        float* firstInput = workspace.Input(first);
        CpuReduction.ReduceRows(call.W1, expert, feature0, firstInput, hidden, slots, up, scratch.Tile, call.IsNvfp4, call.Isa);
        if (gate != null)
        {
            // Gate rows follow the I up rows of W1 ([up; gate], concatenated).
            CpuReduction.ReduceRows(call.W1, expert, call.Intermediate + feature0, firstInput, hidden, slots, gate, scratch.Tile, call.IsNvfp4, call.Isa);
        }

        float alpha1 = call.Scalars.Alpha1[expert];
        float gs2 = call.Scalars.IntermediateScale[expert];
        Span<float> activated = stackalloc float[Lanes];
        for (int s = 0; s < slots; s++)
        {
            for (int i = 0; i < Lanes; i++)
            {
                float a = gate != null
                    ? ExpertActivation.Silu(up[s * Lanes + i], gate[s * Lanes + i], alpha1)
                    : ExpertActivation.Relu2(up[s * Lanes + i], alpha1);
                activated[i] = BFloat16Bits.Round(a);
            }
            var destination = new Span<float>(workspace.Intermediate(first + s) + feature0, Lanes);
            if (call.IsNvfp4)
            {
                ActivationBlockQuantizer.QuantizeToBlockValues(activated, gs2, destination);
            }
            else
            {
                activated.CopyTo(destination);
            }
        }
    }
}
