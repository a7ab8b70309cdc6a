using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>Memory measurements of this process for leak tests.</summary>
internal static partial class ProcessMemory
{
    /// <summary>
    /// Resident set size (VmRSS of /proc/self/status) in bytes, after asking glibc to return the free memory it
    /// caches (malloc_trim), so that what remains is memory still in use rather than the allocator's free lists;
    /// inconclusive where there is no /proc.
    /// </summary>
    public static long ResidentBytes()
    {
        const string Status = "/proc/self/status";
        if (!File.Exists(Status))
        {
            Assert.Inconclusive("No /proc/self/status on this system: resident memory cannot be read.");
        }
        try
        {
            malloc_trim(0);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // Not glibc (e.g. musl): freed memory may stay resident; the repetitions of the tests absorb it.
        }
        string line = File.ReadLines(Status).First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0]) * 1024; // the file states kB
    }

    /// <summary>
    /// Resident bytes outside the managed heap: <see cref="ResidentBytes"/> minus the bytes the GC has committed,
    /// read right after a full collection. The GC commits and releases its heap in regions of 4 MiB whenever other
    /// threads allocate, which would otherwise show as steps of 4 MiB in measurements of native memory.
    /// </summary>
    public static long NativeResidentBytes()
    {
        ManagedBytesAfterFullCollection();
        long committed = GC.GetGCMemoryInfo().TotalCommittedBytes;
        return ResidentBytes() - committed;
    }

    [LibraryImport("libc")]
    private static partial int malloc_trim(nuint pad);

    /// <summary>Live managed bytes after full, compacting collections with finalizers run (TorchSharp tensors are finalizable).</summary>
    public static long ManagedBytesAfterFullCollection()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
