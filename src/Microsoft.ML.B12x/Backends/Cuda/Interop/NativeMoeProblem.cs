using System;
using System.Runtime.InteropServices;

namespace Microsoft.ML.B12x.Backends.Cuda.Interop;

/// <summary><c>b12x_expert_scalars_t</c>: the value of local expert l is Values[Base + Stride·l].</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeExpertScalars
{
    public IntPtr Values;
    public int Stride;
    public int Base;
}

/// <summary>
/// <c>b12x_moe_problem_t</c>, field for field (the native side checks <see cref="StructSize"/> against its own
/// sizeof, so a layout drift fails loudly).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeMoeProblem
{
    public uint StructSize;
    public int Device;
    public int NumTokens;
    public int Hidden;
    public int Intermediate;
    public int NumExperts;
    public int NumLocalExperts;
    public int LocalExpertOffset;
    public int TopK;
    public int Activation;
    public int QuantMode;
    public int ScaleLayout;
    public int ReciprocalAlphas;
    public int IndexType;
    public int Strategy;
    public int MicroMaxTokens;
    public int MicroMaxPairs;
    public int StaticMaxPairs;
    public IntPtr X;
    public IntPtr W1;
    public IntPtr W1Scales;
    public IntPtr W2;
    public IntPtr W2Scales;
    public IntPtr ExpertIds;
    public IntPtr RoutingWeights;
    public NativeExpertScalars W1Alpha;
    public NativeExpertScalars W2Alpha;
    public NativeExpertScalars Fc2InputScale;
    public NativeExpertScalars InputGlobalScale;
    public IntPtr Output;
}
