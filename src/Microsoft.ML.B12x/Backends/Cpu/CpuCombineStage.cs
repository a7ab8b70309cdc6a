using System;
using System.Threading.Tasks;
using Microsoft.ML.B12x.Formats;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// Steps 6 and 7 of semantics.md: per token, the contributions of its local pairs summed in float32 in ascending k
/// from +0 and rounded to bfloat16 once; a token without local pairs gets +0, a non-finite token with one gets NaN.
/// </summary>
internal static unsafe class CpuCombineStage
{
    /// <summary>bfloat16 quiet NaN, written for non-finite rows.</summary>
    private const ushort NaNBits = 0x7FC0;

    /// <summary>Hidden features summed at a time (a small stack buffer).</summary>
    private const int Stripe = 64;

    public static void Run(CpuMoeCall call, CpuRoutingPlan plan, CpuPairWorkspace workspace)
    {
        int hidden = call.Hidden, topK = call.TopK;
        Parallel.For(0, plan.TokenCount, call.Parallel, t =>
        {
            var output = new Span<ushort>(call.Output + (long)(plan.FirstToken + t) * hidden, hidden);
            switch (plan.Rows[t])
            {
                case CpuRoutingPlan.RowState.Empty:
                    output.Clear();
                    return;
                case CpuRoutingPlan.RowState.NaN:
                    output.Fill(NaNBits);
                    return;
            }
            float* sum = stackalloc float[Stripe];
            for (int h0 = 0; h0 < hidden; h0 += Stripe)
            {
                int width = Math.Min(Stripe, hidden - h0);
                new Span<float>(sum, width).Clear();
                for (int k = 0; k < topK; k++)
                {
                    int slot = plan.PairSlot[t * topK + k];
                    if (slot < 0)
                    {
                        continue;
                    }
                    float* contribution = workspace.Contribution(slot) + h0;
                    for (int i = 0; i < width; i++)
                    {
                        sum[i] += contribution[i];
                    }
                }
                for (int i = 0; i < width; i++)
                {
                    output[h0 + i] = BFloat16Bits.FromSingle(sum[i]);
                }
            }
        });
    }
}
