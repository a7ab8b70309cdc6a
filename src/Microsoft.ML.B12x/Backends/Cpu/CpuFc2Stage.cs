using System;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// Step 5 and the per-pair factor of step 6 of semantics.md: FC2 for every slot, scaled by
/// fp32(token_final_scales[t, k]·alpha2). Work items are (expert, 16 hidden features), as in <see cref="CpuFc1Stage"/>.
/// </summary>
internal static unsafe class CpuFc2Stage
{
    private const int Lanes = WeightTileDecoder.TileRows;

    public static void Run(CpuMoeCall call, CpuRoutingPlan plan, CpuPairWorkspace workspace) => CpuTileItems.ForEach(
        call, plan, call.Hidden, 1, (expert, feature0, scratch) => RunItem(call, plan, workspace, expert, feature0, scratch));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunItem(CpuMoeCall call, CpuRoutingPlan plan, CpuPairWorkspace workspace, int expert, int feature0, CpuTileScratch scratch)
    {
        int first = plan.ExpertStart[expert];
        int slots = plan.ExpertStart[expert + 1] - first;
        float* sums = scratch.Accumulators(0);
        new Span<float>(sums, slots * Lanes).Clear();

        CpuReduction.ReduceRows(
            call.W2, expert, feature0, workspace.Intermediate(first), call.Intermediate, slots, sums, scratch.Tile, call.IsNvfp4, call.Isa);

        float alpha2 = call.Scalars.Alpha2[expert];
        long pairBase = (long)plan.FirstToken * call.TopK;
        for (int s = 0; s < slots; s++)
        {
            float factor = call.RoutingWeights[pairBase + plan.SlotPair[first + s]] * alpha2;
            float* destination = workspace.Contribution(first + s) + feature0;
            for (int i = 0; i < Lanes; i++)
            {
                destination[i] = factor * sums[s * Lanes + i];
            }
        }
    }
}
