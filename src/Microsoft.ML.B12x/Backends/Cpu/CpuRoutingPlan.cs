using System.Threading.Tasks;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// The routed pairs of a range of tokens, grouped by local expert. Each pair (t, k) whose expert id lies in this
/// rank's range [offset, offset + E_loc) and whose token row is finite gets a slot; slots are numbered expert by
/// expert, and inside an expert by ascending (t, k), so every run builds the same plan. Ids outside the range
/// (negative, ≥ E, another rank's) get no slot and are never used to address memory.
/// </summary>
internal sealed unsafe class CpuRoutingPlan
{
    private CpuRoutingPlan(int firstToken, int tokenCount, int topK)
    {
        FirstToken = firstToken;
        TokenCount = tokenCount;
        PairSlot = new int[tokenCount * topK];
        Rows = new RowState[tokenCount];
    }

    /// <summary>What the output row of a token is made of.</summary>
    public enum RowState : byte
    {
        /// <summary>No pair with a local expert: the row is +0.</summary>
        Empty,

        /// <summary>The sum of its pairs' contributions.</summary>
        Sum,

        /// <summary>Its x row is not finite and it has a local pair: the row is NaN (semantics.md step 7).</summary>
        NaN,
    }

    /// <summary>The first token of the range.</summary>
    public int FirstToken { get; }

    /// <summary>Tokens in the range.</summary>
    public int TokenCount { get; }

    /// <summary>Slots: pairs to compute.</summary>
    public int SlotCount { get; private set; }

    /// <summary>[TokenCount·K]: the slot of pair (t − FirstToken, k), or −1.</summary>
    public int[] PairSlot { get; }

    /// <summary>[SlotCount]: the pair index (t − FirstToken)·K + k of each slot.</summary>
    public int[] SlotPair { get; private set; } = [];

    /// <summary>[E_loc + 1]: the slots of local expert l are [ExpertStart[l], ExpertStart[l + 1]).</summary>
    public int[] ExpertStart { get; private set; } = [];

    /// <summary>Local experts with at least one slot, ascending.</summary>
    public int[] ActiveExperts { get; private set; } = [];

    /// <summary>The most slots any expert has.</summary>
    public int MaxSlotsPerExpert { get; private set; }

    /// <summary>[TokenCount]: how each output row is formed.</summary>
    public RowState[] Rows { get; }

    /// <summary>The absolute token of a slot.</summary>
    public int SlotToken(int slot, int topK) => FirstToken + SlotPair[slot] / topK;

    /// <summary>Builds the plan of tokens [firstToken, firstToken + tokenCount).</summary>
    public static CpuRoutingPlan Build(CpuMoeCall call, int firstToken, int tokenCount)
    {
        int topK = call.TopK, experts = call.LocalExperts;
        var plan = new CpuRoutingPlan(firstToken, tokenCount, topK);
        var finite = new bool[tokenCount];
        Parallel.For(0, tokenCount, call.Parallel, t => finite[t] = IsFinite(call.X + (long)(firstToken + t) * call.Hidden, call.Hidden));

        var counts = new int[experts + 1];
        long pairBase = (long)firstToken * topK;
        for (int t = 0; t < tokenCount; t++)
        {
            bool anyLocal = false;
            for (int k = 0; k < topK; k++)
            {
                int pair = t * topK + k;
                long local = call.ExpertId(pairBase + pair) - call.LocalExpertOffset;
                bool isLocal = local >= 0 && local < experts;
                anyLocal |= isLocal;
                // Until slots are numbered below, PairSlot holds the pair's local expert (or -1 for no slot).
                plan.PairSlot[pair] = isLocal && finite[t] ? (int)local : -1;
                if (isLocal && finite[t])
                {
                    counts[local + 1]++;
                }
            }
            plan.Rows[t] = !anyLocal ? RowState.Empty : finite[t] ? RowState.Sum : RowState.NaN;
        }

        for (int l = 0; l < experts; l++)
        {
            counts[l + 1] += counts[l];
        }
        plan.ExpertStart = (int[])counts.Clone();
        plan.SlotCount = counts[experts];
        plan.SlotPair = new int[plan.SlotCount];
        var next = counts; // reused as the fill cursor of each expert
        for (int pair = 0; pair < tokenCount * topK; pair++)
        {
            int local = plan.PairSlot[pair];
            if (local >= 0)
            {
                int slot = next[local]++;
                plan.SlotPair[slot] = pair;
                plan.PairSlot[pair] = slot;
            }
        }

        int active = 0, maxSlots = 0;
        for (int l = 0; l < experts; l++)
        {
            int slots = plan.ExpertStart[l + 1] - plan.ExpertStart[l];
            active += slots > 0 ? 1 : 0;
            maxSlots = slots > maxSlots ? slots : maxSlots;
        }
        plan.ActiveExperts = new int[active];
        for (int l = 0, a = 0; l < experts; l++)
        {
            if (plan.ExpertStart[l + 1] > plan.ExpertStart[l])
            {
                plan.ActiveExperts[a++] = l;
            }
        }
        plan.MaxSlotsPerExpert = maxSlots;
        return plan;
    }

    /// <summary>The local expert of a slot (binary search over <see cref="ExpertStart"/>).</summary>
    public int SlotExpert(int slot)
    {
        int low = 0, high = ExpertStart.Length - 2;
        while (low < high)
        {
            int mid = (low + high + 1) / 2;
            if (ExpertStart[mid] <= slot)
            {
                low = mid;
            }
            else
            {
                high = mid - 1;
            }
        }
        return low;
    }

    /// <summary>True when no element of a bfloat16 row is NaN or infinite (exponent bits all ones).</summary>
    private static bool IsFinite(ushort* row, int length)
    {
        for (int i = 0; i < length; i++)
        {
            if ((row[i] & 0x7F80) == 0x7F80)
            {
                return false;
            }
        }
        return true;
    }
}
