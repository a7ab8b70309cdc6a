using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// The instruction sets the CPU kernels can use. Every level computes the same IEEE operations per output lane in
/// the same order, so all levels give identical bits; the lower ones exist for machines without the higher ones
/// (and are tested on every machine by forcing them).
/// </summary>
internal enum CpuVectorIsa
{
    /// <summary>Plain scalar loops.</summary>
    Scalar,

    /// <summary>256-bit vectors: AVX2 and FMA on x64.</summary>
    Avx2,

    /// <summary>512-bit vectors where they help (the weight decoder): AVX-512 F on top of AVX2 and FMA.</summary>
    Avx512,
}

/// <summary>Picks the best <see cref="CpuVectorIsa"/> of this machine.</summary>
internal static class CpuVectorIsaSelector
{
    /// <summary>The best level this machine supports.</summary>
    public static CpuVectorIsa Best { get; } =
        !(Avx2.IsSupported && Fma.IsSupported && Vector256.IsHardwareAccelerated) ? CpuVectorIsa.Scalar
        : Avx512F.IsSupported && Vector512.IsHardwareAccelerated ? CpuVectorIsa.Avx512
        : CpuVectorIsa.Avx2;

    /// <summary>True when this machine can run <paramref name="isa"/>.</summary>
    public static bool IsSupported(CpuVectorIsa isa) => isa <= Best;
}
