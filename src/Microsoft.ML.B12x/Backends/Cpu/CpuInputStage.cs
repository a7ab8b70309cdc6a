using System;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.Quantization;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// Step 1 of semantics.md for every slot: the token's bf16 row widened to float32 and, in NVFP4 mode, quantised with
/// the expert's gs1 into x̂ = value(code)·q. gs1 can differ per expert, so this runs per slot.
/// </summary>
internal static unsafe class CpuInputStage
{
    public static void Run(CpuMoeCall call, CpuRoutingPlan plan, CpuPairWorkspace workspace)
    {
        int hidden = call.Hidden;
        Parallel.For(
            0, plan.SlotCount, call.Parallel,
            () => call.IsNvfp4 ? new float[hidden] : Array.Empty<float>(),
            (slot, _, row) =>
            {
                ushort* x = call.X + (long)plan.SlotToken(slot, call.TopK) * hidden;
                float* input = workspace.Input(slot);
                if (!call.IsNvfp4)
                {
                    Widen(x, input, hidden);
                    return row;
                }
                fixed (float* widened = row)
                {
                    Widen(x, widened, hidden);
                }
                ActivationBlockQuantizer.QuantizeToBlockValues(
                    row, call.Scalars.InputScale[plan.SlotExpert(slot)], new Span<float>(input, hidden));
                return row;
            },
            _ => { });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Widen(ushort* source, float* destination, int length)
    {
        for (int i = 0; i < length; i++)
        {
            destination[i] = BFloat16Bits.ToSingle(source[i]);
        }
    }
}
