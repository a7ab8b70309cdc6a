using System;
using System.Runtime.InteropServices;

namespace Microsoft.ML.B12x.Backends.Cuda.Interop;

/// <summary>
/// Raw imports of <c>native/include/b12x/b12x.h</c>. Only <see cref="NativeProxy"/> calls these; it turns every
/// status into an exception. The library name is resolved by <see cref="NativeLibraryLoader"/>.
/// </summary>
internal static unsafe partial class NativeMethods
{
    public const string LibraryName = "b12x";

    /// <summary>The ABI version these declarations match (B12X_ABI_VERSION).</summary>
    public const int AbiVersion = 1;

    [LibraryImport(LibraryName)]
    public static partial int b12x_version_get();

    [LibraryImport(LibraryName)]
    public static partial int b12x_abi_version_get();

    [LibraryImport(LibraryName)]
    public static partial IntPtr b12x_status_name_get(int status);

    [LibraryImport(LibraryName)]
    public static partial int b12x_device_query(
        int device, int* computeCapability, int* multiprocessors, int* supported, byte* message, nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_device_name_query(
        int device, byte* name, nuint nameCapacity, byte* message, nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_moe_time(
        NativeMoeProblem* problem, IntPtr workspace, nuint workspaceBytes, IntPtr flush, nuint flushBytes, int iterations,
        IntPtr stream, float* medianMicros, byte* message, nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_device_memory_query(
        int device, nuint* freeBytes, nuint* totalBytes, byte* message, nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_moe_plan_query(
        NativeMoeProblem* problem, int* strategy, nuint* workspaceBytes, byte* message, nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_moe_run(
        NativeMoeProblem* problem, IntPtr workspace, nuint workspaceBytes, IntPtr stream, int* strategyUsed,
        byte* message, nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_moe_graph_create(
        NativeMoeProblem* problem, IntPtr workspace, nuint workspaceBytes, IntPtr* graph, byte* message, nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_moe_graph_launch(IntPtr graph, IntPtr stream, byte* message, nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_moe_graph_time(
        IntPtr graph, IntPtr flush, nuint flushBytes, int iterations, IntPtr stream, float* medianMicros, byte* message,
        nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial void b12x_moe_graph_destroy(IntPtr graph);

    [LibraryImport(LibraryName)]
    public static partial int b12x_moe_intermediate_codes(
        NativeMoeProblem* problem, IntPtr workspace, nuint workspaceBytes, IntPtr codes, IntPtr stream, byte* message,
        nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_nvfp4_quantize(
        IntPtr x, int rows, int cols, IntPtr globalScale, IntPtr codes, IntPtr scales, int device, IntPtr stream,
        byte* message, nuint messageCapacity);

    [LibraryImport(LibraryName)]
    public static partial int b12x_fault_arm(int fault, byte* message, nuint messageCapacity);
}
