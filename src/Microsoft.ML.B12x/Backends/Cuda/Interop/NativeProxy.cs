using System;
using System.Runtime.InteropServices;

namespace Microsoft.ML.B12x.Backends.Cuda.Interop;

/// <summary>
/// One checked wrapper per native call: loads the library on first use, passes a message buffer, and maps a failed
/// status to an exception (<see cref="ArgumentException"/> for INVALID_ARGUMENT, <see cref="NotSupportedException"/>
/// for UNSUPPORTED, <see cref="B12xNativeException"/> for everything else).
/// </summary>
internal static unsafe class NativeProxy
{
    private const int MessageCapacity = 1024;

    public static int Version()
    {
        NativeLibraryLoader.EnsureLoaded();
        return NativeMethods.b12x_version_get();
    }

    public static (int ComputeCapability, int Multiprocessors, bool Supported) QueryDevice(int device)
    {
        NativeLibraryLoader.EnsureLoaded();
        int capability = 0, multiprocessors = 0, supported = 0;
        byte* message = stackalloc byte[MessageCapacity];
        int status = NativeMethods.b12x_device_query(device, &capability, &multiprocessors, &supported, message, MessageCapacity);
        Ensure(status, message, "b12x_device_query");
        return (capability, multiprocessors, supported != 0);
    }

    public static string DeviceName(int device)
    {
        NativeLibraryLoader.EnsureLoaded();
        byte* name = stackalloc byte[256];
        byte* message = stackalloc byte[MessageCapacity];
        int status = NativeMethods.b12x_device_name_query(device, name, 256, message, MessageCapacity);
        Ensure(status, message, "b12x_device_name_query");
        return Marshal.PtrToStringUTF8((IntPtr)name) ?? string.Empty;
    }

    public static float Time(in NativeMoeProblem problem, IntPtr workspace, long workspaceBytes, IntPtr flush, long flushBytes, int iterations)
    {
        NativeLibraryLoader.EnsureLoaded();
        float median = 0;
        byte* message = stackalloc byte[MessageCapacity];
        fixed (NativeMoeProblem* p = &problem)
        {
            int status = NativeMethods.b12x_moe_time(
                p, workspace, (nuint)workspaceBytes, flush, (nuint)flushBytes, iterations, IntPtr.Zero, &median, message, MessageCapacity);
            Ensure(status, message, "b12x_moe_time");
        }
        return median;
    }

    public static (long Free, long Total) QueryMemory(int device)
    {
        NativeLibraryLoader.EnsureLoaded();
        nuint free = 0, total = 0;
        byte* message = stackalloc byte[MessageCapacity];
        int status = NativeMethods.b12x_device_memory_query(device, &free, &total, message, MessageCapacity);
        Ensure(status, message, "b12x_device_memory_query");
        return ((long)free, (long)total);
    }

    public static (NativeStrategy Strategy, long WorkspaceBytes) Plan(in NativeMoeProblem problem)
    {
        NativeLibraryLoader.EnsureLoaded();
        int strategy = 0;
        nuint bytes = 0;
        byte* message = stackalloc byte[MessageCapacity];
        fixed (NativeMoeProblem* p = &problem)
        {
            int status = NativeMethods.b12x_moe_plan_query(p, &strategy, &bytes, message, MessageCapacity);
            Ensure(status, message, "b12x_moe_plan_query");
        }
        return ((NativeStrategy)strategy, checked((long)bytes));
    }

    /// <summary>
    /// The strategy the problem resolves to (Auto resolved), also where that strategy's kernel limits refuse it
    /// (<c>b12x_moe_plan_query</c> names it with its UNSUPPORTED status).
    /// </summary>
    public static NativeStrategy ResolveStrategy(in NativeMoeProblem problem)
    {
        NativeLibraryLoader.EnsureLoaded();
        int strategy = 0;
        byte* message = stackalloc byte[MessageCapacity];
        fixed (NativeMoeProblem* p = &problem)
        {
            int status = NativeMethods.b12x_moe_plan_query(p, &strategy, null, message, MessageCapacity);
            if (status != (int)NativeStatus.Unsupported)
            {
                Ensure(status, message, "b12x_moe_plan_query");
            }
        }
        return (NativeStrategy)strategy;
    }

    public static NativeStrategy Run(in NativeMoeProblem problem, IntPtr workspace, long workspaceBytes)
    {
        NativeLibraryLoader.EnsureLoaded();
        int used = 0;
        byte* message = stackalloc byte[MessageCapacity];
        fixed (NativeMoeProblem* p = &problem)
        {
            int status = NativeMethods.b12x_moe_run(p, workspace, (nuint)workspaceBytes, IntPtr.Zero, &used, message, MessageCapacity);
            Ensure(status, message, "b12x_moe_run");
        }
        return (NativeStrategy)used;
    }

    public static MoeGraphHandle CaptureGraph(in NativeMoeProblem problem, IntPtr workspace, long workspaceBytes)
    {
        NativeLibraryLoader.EnsureLoaded();
        IntPtr graph = IntPtr.Zero;
        byte* message = stackalloc byte[MessageCapacity];
        fixed (NativeMoeProblem* p = &problem)
        {
            int status = NativeMethods.b12x_moe_graph_create(p, workspace, (nuint)workspaceBytes, &graph, message, MessageCapacity);
            Ensure(status, message, "b12x_moe_graph_create");
        }
        var handle = new MoeGraphHandle();
        Marshal.InitHandle(handle, graph);
        return handle;
    }

    public static void LaunchGraph(MoeGraphHandle graph)
    {
        byte* message = stackalloc byte[MessageCapacity];
        int status = NativeMethods.b12x_moe_graph_launch(graph.DangerousGetHandle(), IntPtr.Zero, message, MessageCapacity);
        GC.KeepAlive(graph);
        Ensure(status, message, "b12x_moe_graph_launch");
    }

    public static float TimeGraph(MoeGraphHandle graph, IntPtr flush, long flushBytes, int iterations)
    {
        float median = 0;
        byte* message = stackalloc byte[MessageCapacity];
        int status = NativeMethods.b12x_moe_graph_time(
            graph.DangerousGetHandle(), flush, (nuint)flushBytes, iterations, IntPtr.Zero, &median, message, MessageCapacity);
        GC.KeepAlive(graph);
        Ensure(status, message, "b12x_moe_graph_time");
        return median;
    }

    public static void IntermediateCodes(in NativeMoeProblem problem, IntPtr workspace, long workspaceBytes, IntPtr codes)
    {
        NativeLibraryLoader.EnsureLoaded();
        byte* message = stackalloc byte[MessageCapacity];
        fixed (NativeMoeProblem* p = &problem)
        {
            int status = NativeMethods.b12x_moe_intermediate_codes(p, workspace, (nuint)workspaceBytes, codes, IntPtr.Zero, message, MessageCapacity);
            Ensure(status, message, "b12x_moe_intermediate_codes");
        }
    }

    public static void QuantizeNvfp4(IntPtr x, int rows, int cols, IntPtr globalScale, IntPtr codes, IntPtr scales, int device)
    {
        NativeLibraryLoader.EnsureLoaded();
        byte* message = stackalloc byte[MessageCapacity];
        int status = NativeMethods.b12x_nvfp4_quantize(x, rows, cols, globalScale, codes, scales, device, IntPtr.Zero, message, MessageCapacity);
        Ensure(status, message, "b12x_nvfp4_quantize");
    }

    /// <summary>
    /// Test hook: arms one CUDA failure that the next native layer launch in the process takes (see
    /// <c>b12x_fault_arm</c>); <see cref="NativeFault.None"/> disarms.
    /// </summary>
    public static void ArmFault(NativeFault fault)
    {
        NativeLibraryLoader.EnsureLoaded();
        byte* message = stackalloc byte[MessageCapacity];
        int status = NativeMethods.b12x_fault_arm((int)fault, message, MessageCapacity);
        Ensure(status, message, "b12x_fault_arm");
    }

    /// <summary>The exception for a failed status of <paramref name="function"/> with the library's message.</summary>
    public static Exception ExceptionFor(int status, string statusName, string function, string message)
    {
        string full = $"{function}: {message}";
        return (NativeStatus)status switch
        {
            NativeStatus.InvalidArgument => new ArgumentException(full),
            NativeStatus.Unsupported => new NotSupportedException(full),
            NativeStatus.CudaContextLost => new B12xNativeException(
                status, statusName, full + ". The CUDA context of this process is lost; restart the process.", isContextLost: true),
            _ => new B12xNativeException(status, statusName, full),
        };
    }

    private static void Ensure(int status, byte* message, string function)
    {
        if (status == (int)NativeStatus.Success)
        {
            return;
        }
        string text = Marshal.PtrToStringUTF8((IntPtr)message) ?? string.Empty;
        string name = Marshal.PtrToStringUTF8(NativeMethods.b12x_status_name_get(status)) ?? $"status {status}";
        throw ExceptionFor(status, name, function, text);
    }
}
