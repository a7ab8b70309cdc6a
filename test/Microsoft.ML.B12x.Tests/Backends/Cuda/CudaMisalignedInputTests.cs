using System;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.Properties;
using Microsoft.ML.B12x.TorchSharp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Backends.Cuda;

/// <summary>
/// A contiguous view at an offset inside a larger GPU tensor is a valid argument whose data pointer lacks the
/// allocator's alignment. The CUDA backend says it cannot serve it (semantics.md: Device = Auto falls back to the CPU,
/// Device = Cuda throws NotSupportedException) instead of handing the kernels a misaligned address.
/// </summary>
[TestClass]
[RequiresCuda]
public sealed class CudaMisalignedInputTests
{
    [TestMethod]
    [DataRow("x", 1)]
    [DataRow("x", 4)]
    [DataRow("w1Weight", 3)]
    [DataRow("w2Weight", 5)]
    [DataRow("w1WeightSf", 1)]
    [DataRow("w2WeightSf", 2)]
    [DataRow("Output", 1)]
    public void MisalignedGpuArgumentRunsOnTheCpuUnderAutoAndIsRefusedUnderCuda(string name, int offset)
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(5, 64, 48, 4, 2, Seed: 41));
        ushort[] cpu = MoeCaseRunner.Run(data);
        using var scope = NewDisposeScope();
        MoeTensors gpu = CudaTestEnvironment.OnCuda(MoeTensors.From(data));
        MoeTensors misaligned = name == "Output"
            ? gpu with { Options = gpu.Options with { Output = Shifted(zeros(new long[] { data.Tokens, data.Hidden }, ScalarType.BFloat16, gpu.X.device), offset) } }
            : InvalidCall.Set(gpu, name, Shifted(InvalidCall.Get(gpu, name), offset));

        var refused = Assert.ThrowsExactly<NotSupportedException>(() => misaligned.Call());
        Assert.Contains(name, refused.Message);
        Assert.Contains("aligned", refused.Message);

        MoeTensors auto = misaligned with { Options = misaligned.Options with { Device = ComputeDevice.Auto } };
        BitAssert.Equal(cpu, MoeTensors.Bits(auto.Call().cpu()), data.Hidden, $"{name} misaligned by {offset} elements, Device = Auto");
    }

    [TestMethod]
    [DataRow(KernelStrategy.Micro)]
    [DataRow(KernelStrategy.Static)]
    [DataRow(KernelStrategy.Dynamic)]
    public void WeightCodesAlignedToEightBytesOnlyGiveTheBitsOfAlignedCodes(KernelStrategy strategy)
    {
        // 8 bytes is all the kernels ask of weight codes; 16-byte aligned codes take wider copies, which must not
        // change a bit. H and I are multiples of 64, so the micro strategy runs its NVFP4 kernels.
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(9, 256, 128, 8, 2, Seed: 23));
        using var scope = NewDisposeScope();
        MoeTensors aligned = CudaTestEnvironment.OnCuda(MoeTensors.From(data), strategy);
        MoeTensors shifted = InvalidCall.Set(InvalidCall.Set(aligned, "w1Weight", Shifted(aligned.W1Weight, 8)), "w2Weight", Shifted(aligned.W2Weight, 8));
        Assert.AreEqual(8L, TensorPointers.DataPointer(shifted.W1Weight).ToInt64() % 16);
        Assert.AreEqual(8L, TensorPointers.DataPointer(shifted.W2Weight).ToInt64() % 16);

        BitAssert.Equal(MoeTensors.Bits(aligned.Call().cpu()), MoeTensors.Bits(shifted.Call().cpu()), data.Hidden, $"{strategy}, codes at 8 mod 16");
    }

    /// <summary>The same values in a contiguous view starting <paramref name="elements"/> elements into a larger tensor.</summary>
    private static Tensor Shifted(Tensor tensor, int elements)
    {
        Tensor view = empty(tensor.numel() + elements, tensor.dtype, tensor.device).narrow(0, elements, tensor.numel()).view(tensor.shape);
        view.copy_(tensor);
        return view;
    }
}
