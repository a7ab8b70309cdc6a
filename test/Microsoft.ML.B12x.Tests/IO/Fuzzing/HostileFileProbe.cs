using System;
using System.Threading.Tasks;

namespace Microsoft.ML.B12x.Tests.IO.Fuzzing;

/// <summary>
/// Runs one load of a hostile file on its own thread under a time bound, and measures the managed bytes the load
/// allocated on that thread (GC.GetAllocatedBytesForCurrentThread before and after), so a parser that trusts a
/// header's sizes shows up as an allocation far beyond the file's length.
/// </summary>
internal static class HostileFileProbe
{
    /// <summary>What one load did.</summary>
    /// <param name="Completed">False when the load did not finish within the time bound (a hang).</param>
    /// <param name="Error">The exception it ended with, or null.</param>
    /// <param name="AllocatedBytes">Managed bytes allocated by the load.</param>
    /// <param name="Result">What the load returned (disposed by the caller), or null.</param>
    public readonly record struct Outcome(bool Completed, Exception? Error, long AllocatedBytes, object? Result);

    public static Outcome Run(Func<object?> load, TimeSpan bound)
    {
        var task = Task.Factory.StartNew(
            () =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                object? result = null;
                Exception? error = null;
                try
                {
                    result = load();
                }
                catch (Exception e)
                {
                    error = e;
                }
                return new Outcome(true, error, GC.GetAllocatedBytesForCurrentThread() - before, result);
            },
            TaskCreationOptions.LongRunning);
        return task.Wait(bound) ? task.Result : new Outcome(false, null, 0, null);
    }
}
