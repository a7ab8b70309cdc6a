using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO.Fuzzing;

/// <summary>
/// The loop every fuzzer runs: for each case, write a hostile input, load it under the time bound while measuring
/// managed allocation (<see cref="HostileFileProbe"/>), and check the outcome: a load that did not finish, allocated
/// more than <see cref="AllocationBound"/> for the input's size, or failed with an exception the loader does not
/// document is a failure; a load that succeeded is handed to a check of what it returned. Prints how the cases ended.
/// </summary>
internal static class FuzzRun
{
    /// <summary>
    /// Per load: real loads of these kilobyte inputs take milliseconds; the bound is far above the slowest case seen on
    /// 2 busy cores, so only a hang (or an absurd amount of work) trips it.
    /// </summary>
    public static readonly TimeSpan TimeBound = TimeSpan.FromSeconds(5);

    /// <summary>What one case wrote: its size in bytes and a description of the mutation.</summary>
    public readonly record struct Input(long Bytes, string What);

    /// <summary>
    /// Managed bytes a load may allocate: 16 per input byte plus 1 MiB. Parsing holds a header or JSON file once as
    /// bytes (1×), a JsonDocument's token table (12 bytes per token of at least 2 bytes: 6×), names and values as UTF-16
    /// strings (2×) and shapes as long arrays (8 bytes per dimension of at least 2 bytes: 4×), 13× in the worst case;
    /// the constant covers exception objects, TorchSharp's tensor wrappers and first-use caches. Trusting a header's
    /// claimed sizes (up to 2^63 bytes) would exceed this by orders of magnitude.
    /// </summary>
    public static long AllocationBound(long inputBytes) => 16 * inputBytes + (1 << 20);

    /// <param name="run">Case count and seed.</param>
    /// <param name="context">Where the summary goes.</param>
    /// <param name="write">Writes case <c>random</c>'s hostile input and describes it.</param>
    /// <param name="load">Loads it; what it returns is checked by <paramref name="check"/> and disposed.</param>
    /// <param name="judge">Null for a documented failure, else why the exception is not acceptable.</param>
    /// <param name="check">Checks a successful load's result (on the test thread, outside the measurement).</param>
    public static void Run(
        PropertyRun run, Microsoft.VisualStudio.TestTools.UnitTesting.TestContext context, Func<Random, Input> write,
        Func<object?> load, Func<Exception, string?> judge, Action<object, string>? check)
    {
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        (double Share, long Bytes, long InputBytes) largest = (0, 0, 0);
        for (int i = 0; i < run.Cases; i++)
        {
            var random = new Random(run.CaseSeed(i));
            Input input = write(random);
            string where = $"{run.Describe(i)}: {input.What}";

            HostileFileProbe.Outcome outcome = HostileFileProbe.Run(load, TimeBound);

            Assert.IsTrue(outcome.Completed, $"{where}: the load did not finish within {TimeBound.TotalSeconds} s");
            Assert.IsLessThanOrEqualTo(AllocationBound(input.Bytes), outcome.AllocatedBytes, $"{where}: managed bytes allocated for {input.Bytes} bytes of input");
            double share = (double)outcome.AllocatedBytes / AllocationBound(input.Bytes);
            largest = share > largest.Share ? (share, outcome.AllocatedBytes, input.Bytes) : largest;
            if (outcome.Error is not null)
            {
                string? wrong = string.IsNullOrWhiteSpace(outcome.Error.Message) ? "an empty message" : judge(outcome.Error);
                Assert.IsNull(wrong, $"{where}: {wrong}: {outcome.Error}");
                Count(outcomes, $"{outcome.Error.GetType().Name}: {Reason(outcome.Error.Message)}");
                continue;
            }
            Count(outcomes, "accepted");
            try
            {
                check?.Invoke(outcome.Result!, where);
            }
            finally
            {
                (outcome.Result as IDisposable)?.Dispose();
            }
        }
        context.WriteLine($"largest allocation: {largest.Bytes} bytes for {largest.InputBytes} bytes of input, {largest.Share:P1} of its bound");
        context.WriteLine("outcomes: " + string.Join("; ", outcomes.OrderByDescending(p => p.Value).Select(p => $"{p.Value}× {p.Key}")));
    }

    /// <summary>
    /// A layer that loads must be accepted by the operator: one token routed to its first local expert, with at most
    /// 4 routes (a file may declare any top_k up to 2^31 - 1; the operator takes K from the routing tensors).
    /// </summary>
    public static void RunsOneToken(MoeLayerData layer, string context)
    {
        MoeLayerConfig config = layer.Config;
        int topK = Math.Min(config.TopK ?? 1, 4);
        using var scope = NewDisposeScope();
        Tensor x = randn(1, config.Hidden).to(ScalarType.BFloat16);
        Tensor ids = full(new long[] { 1, topK }, config.LocalExpertOffset, ScalarType.Int32);
        Tensor weights = full(new long[] { 1, topK }, 1f / topK);
        Tensor output = B12xOps.FusedMoe(
            x, layer.W1Weight, layer.W1WeightSf, layer.W2Weight, layer.W2WeightSf, ids, weights, config.NumExperts, topK,
            layer.W1Alpha, layer.W2Alpha, layer.CreateOptions(device: ComputeDevice.Cpu));
        CollectionAssert.AreEqual(new long[] { 1, config.Hidden }, output.shape, context);
    }

    private static void Count(Dictionary<string, int> outcomes, string key) => outcomes[key] = outcomes.GetValueOrDefault(key) + 1;

    /// <summary>A rejection's reason without paths, names and numbers, to count which checks the fuzzer reached.</summary>
    private static string Reason(string message)
    {
        string reason = Regex.Replace(message, @"/\S+", "…");
        reason = Regex.Replace(reason, @"'[^']*'", "'…'");
        reason = Regex.Replace(reason, @"-?\d+", "N");
        return reason.Length <= 70 ? reason : reason[..70];
    }
}
