using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>Runs work on several threads released together by a barrier, so their calls overlap.</summary>
internal static class ThreadsTogether
{
    /// <summary>
    /// Runs <paramref name="work"/>(thread index) on <paramref name="threads"/> new threads; work returns null or a
    /// failure description (an exception counts as a failure). Fails listing the first five failures.
    /// </summary>
    public static void Run(int threads, Func<int, string?> work)
    {
        var failures = new ConcurrentQueue<string>();
        using var barrier = new Barrier(threads);
        var started = Enumerable.Range(0, threads).Select(thread => new Thread(() =>
        {
            barrier.SignalAndWait();
            try
            {
                if (work(thread) is string failure)
                {
                    failures.Enqueue(failure);
                }
            }
            catch (Exception e)
            {
                failures.Enqueue($"thread {thread}: {e}");
            }
        })).ToList();
        started.ForEach(t => t.Start());
        started.ForEach(t => t.Join());
        Assert.IsEmpty(failures, string.Join(Environment.NewLine, failures.Take(5)));
    }
}
