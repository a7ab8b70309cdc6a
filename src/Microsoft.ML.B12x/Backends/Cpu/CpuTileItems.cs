using System;
using System.Threading.Tasks;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// The work items of the FC stages: (active expert, 16 output features) for every active expert, run in parallel
/// with one <see cref="CpuTileScratch"/> per worker. An item owns its features for all of the expert's slots, so no
/// two items write the same output and the schedule never changes a result.
/// </summary>
internal static class CpuTileItems
{
    private const int Lanes = WeightTileDecoder.TileRows;

    /// <summary>
    /// Calls <paramref name="run"/>(expert, first feature, scratch) for each item over <paramref name="features"/>
    /// output features; each worker's scratch holds <paramref name="accumulatorSets"/> accumulator sets.
    /// </summary>
    public static void ForEach(
        CpuMoeCall call, CpuRoutingPlan plan, int features, int accumulatorSets, Action<int, int, CpuTileScratch> run)
    {
        int tiles = features / Lanes;
        Parallel.For(
            0, plan.ActiveExperts.Length * tiles, call.Parallel,
            () => new CpuTileScratch(accumulatorSets, plan.MaxSlotsPerExpert),
            (item, _, scratch) =>
            {
                run(plan.ActiveExperts[item / tiles], item % tiles * Lanes, scratch);
                return scratch;
            },
            scratch => scratch.Dispose());
    }
}
