using Microsoft.ML.B12x.Backends.Cuda.Interop;

namespace Microsoft.ML.B12x.Backends.Cuda;

/// <summary>
/// What <see cref="CudaMoeBackend"/> learned while accepting a problem, handed to its run so that a call describes
/// and plans the problem once: the native description (tensor pointers read once; the output pointer is set when
/// the run knows its output) and the native plan of the whole batch.
/// </summary>
/// <param name="Native">The problem as the native library reads it, with the caller's strategy choice.</param>
/// <param name="Strategy">The strategy the native planner resolved for the whole batch.</param>
/// <param name="WorkspaceBytes">The workspace one native call of the whole batch needs.</param>
internal readonly record struct CudaMoeCall(NativeMoeProblem Native, NativeStrategy Strategy, long WorkspaceBytes);
