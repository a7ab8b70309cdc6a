using System;
using System.Runtime.InteropServices;

namespace Microsoft.ML.B12x.Backends.Cuda.Interop;

/// <summary>A captured layer call (<c>b12x_moe_graph_t</c>); released with <c>b12x_moe_graph_destroy</c>.</summary>
internal sealed class MoeGraphHandle : SafeHandle
{
    public MoeGraphHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMethods.b12x_moe_graph_destroy(handle);
        return true;
    }
}
