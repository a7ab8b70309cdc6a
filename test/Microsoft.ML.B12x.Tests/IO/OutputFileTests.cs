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
public sealed class OutputFileTests
{
    [TestMethod]
    public void OutputRoundTrips()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("out.safetensors");
        using Tensor output = randn(4, 32).to(ScalarType.BFloat16);

        OutputFile.Save(path, output);
        using Tensor loaded = OutputFile.Load(path);

        CollectionAssert.AreEqual(TensorPointers.HostSpan<byte>(output).ToArray(), TensorPointers.HostSpan<byte>(loaded).ToArray());
    }

    [TestMethod]
    public void Float32OutputIsRefused()
    {
        using var directory = new TemporaryDirectory();
        using Tensor output = randn(4, 32);

        var error = Assert.ThrowsExactly<ArgumentException>(() => OutputFile.Save(directory.File("out.safetensors"), output));

        Assert.AreEqual("output", error.ParamName);
    }

    [TestMethod]
    public void FileWithoutOutputTensorIsRejected()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("out.safetensors");
        using Tensor y = zeros(new long[] { 4, 32 }, ScalarType.BFloat16);
        new SafetensorsWriter().Add("y", y).Save(path);

        var error = Assert.ThrowsExactly<InvalidDataException>(() => OutputFile.Load(path).Dispose());

        Assert.Contains("tensor 'output' is missing", error.Message);
    }
}
