using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.IO.Checkpoints;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Cli;

[TestClass]
public sealed class InfoCommandCheckpointTests
{
    [TestMethod]
    public void QuantisedCheckpointShowsItsMoeLayersAndFormat()
    {
        using var directory = new TemporaryDirectory();
        TinyCheckpoint.Create(new TinyCheckpointSpec { Format = CheckpointFormat.CompressedTensors, Names = ExpertNames.Mixtral, Sharded = true }).Write(directory.Path);

        CliResult result = Cli.Run("info", directory.Path);

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("checkpoint:", result.Output);
        Assert.Contains("  model_type=mixtral layers=2 hidden=64 intermediate=32 experts=4 top_k=2 activation=silu", result.Output);
        Assert.Contains("  MoE layers: 0-1 (2); experts: model.layers.{layer}.block_sparse_moe.experts.{e}.{w1,w3,w2}", result.Output);
        Assert.Contains("  quantisation: compressed-tensors nvfp4-pack-quantized", result.Output);
        Assert.Contains("in 2 safetensors file(s)", result.Output);
    }

    [TestMethod]
    public void UnquantisedCheckpointSaysSo()
    {
        using var directory = new TemporaryDirectory();
        Bf16Checkpoint.Create(seed: 43).Write(directory.Path);

        CliResult result = Cli.Run("info", directory.Path);

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("  quantisation: none (unquantised", result.Output);
        Assert.Contains("experts: model.layers.{layer}.mlp.experts.{e}.{gate_proj,up_proj,down_proj}", result.Output);
    }

    [TestMethod]
    public void DirectoryThatIsNoMoeCheckpointIsDescribedWithoutFailing()
    {
        using var directory = new TemporaryDirectory();
        System.IO.File.WriteAllText(directory.File("config.json"), "{\"model_type\": \"llama\", \"hidden_size\": 64}");

        CliResult result = Cli.Run("info", directory.Path);

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.Contains("checkpoint: not an MoE checkpoint the importer reads: ", result.Output);
        Assert.Contains("is missing", result.Output);
    }
}
