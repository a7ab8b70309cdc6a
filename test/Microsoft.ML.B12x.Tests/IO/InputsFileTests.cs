using System;
using System.IO;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.TorchSharp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO;

[TestClass]
public sealed class InputsFileTests
{
    [TestMethod]
    [DataRow(ScalarType.Int32)]
    [DataRow(ScalarType.Int64)]
    public void InputsRoundTrip(ScalarType idType)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("inputs.safetensors");
        using var inputs = new MoeInputs(
            randn(3, 32).to(ScalarType.BFloat16), tensor(new long[] { 0, 2, 1, 1, 2, 0 }).reshape(3, 2).to(idType), rand(3, 2));

        InputsFile.Save(path, inputs);
        using MoeInputs loaded = InputsFile.Load(path);

        Assert.AreEqual((3, 32, 2), (loaded.Tokens, loaded.Hidden, loaded.TopK));
        Assert.AreEqual(idType, loaded.TokenSelectedExperts.dtype);
        CollectionAssert.AreEqual(TensorPointers.HostSpan<byte>(inputs.X).ToArray(), TensorPointers.HostSpan<byte>(loaded.X).ToArray());
        CollectionAssert.AreEqual(
            TensorPointers.HostSpan<byte>(inputs.TokenSelectedExperts).ToArray(), TensorPointers.HostSpan<byte>(loaded.TokenSelectedExperts).ToArray());
        CollectionAssert.AreEqual(
            TensorPointers.HostSpan<byte>(inputs.TokenFinalScales).ToArray(), TensorPointers.HostSpan<byte>(loaded.TokenFinalScales).ToArray());
    }

    [TestMethod]
    public void SavingFloat32HiddenStatesIsRefused()
    {
        using var directory = new TemporaryDirectory();
        using var inputs = new MoeInputs(randn(3, 32), zeros(new long[] { 3, 2 }, ScalarType.Int32), rand(3, 2));

        var error = Assert.ThrowsExactly<ArgumentException>(() => InputsFile.Save(directory.File("inputs.safetensors"), inputs));

        Assert.Contains("tensor 'x' must be BF16 [T, H]; got F32 [3, 32]", error.Message);
    }

    [TestMethod]
    public void TokenCountMismatchIsRejectedOnLoad()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("inputs.safetensors");
        using Tensor x = zeros(new long[] { 3, 32 }, ScalarType.BFloat16), ids = zeros(new long[] { 4, 2 }, ScalarType.Int32), scales = rand(4, 2);
        new SafetensorsWriter().Add("x", x).Add("token_selected_experts", ids).Add("token_final_scales", scales).Save(path);

        var error = Assert.ThrowsExactly<InvalidDataException>(() => InputsFile.Load(path).Dispose());

        Assert.Contains(path, error.Message);
        Assert.Contains("'token_selected_experts' must be I32 or I64 [T, K] with T = 3", error.Message);
    }

    [TestMethod]
    public void RoutingWeightsOfAnotherShapeAreRejected()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("inputs.safetensors");
        using Tensor x = zeros(new long[] { 3, 32 }, ScalarType.BFloat16), ids = zeros(new long[] { 3, 2 }, ScalarType.Int64), scales = rand(3, 1);
        new SafetensorsWriter().Add("x", x).Add("token_selected_experts", ids).Add("token_final_scales", scales).Save(path);

        var error = Assert.ThrowsExactly<InvalidDataException>(() => InputsFile.Load(path).Dispose());

        Assert.Contains("'token_final_scales' must be F32 [3, 2]", error.Message);
    }

    [TestMethod]
    public void MissingTensorIsNamed()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("inputs.safetensors");
        using Tensor x = zeros(new long[] { 3, 32 }, ScalarType.BFloat16), ids = zeros(new long[] { 3, 2 }, ScalarType.Int64);
        new SafetensorsWriter().Add("x", x).Add("token_selected_experts", ids).Save(path);

        var error = Assert.ThrowsExactly<InvalidDataException>(() => InputsFile.Load(path).Dispose());

        Assert.Contains("tensor 'token_final_scales' is missing", error.Message);
    }
}
