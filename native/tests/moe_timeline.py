"""Per-kernel timeline of whole fused-MoE calls on a CUDA machine, independent of .NET.

Runs the benchmark shapes of moe_smoke.py through the C ABI and records the kernels of each call with the PyTorch
profiler (CUPTI), each call after a 256 MB write that evicts the L2, as `b12x bench` measures. Prints, per shape and
token count, the median over the last calls of the whole call (first kernel start to last kernel end) and, per
kernel, of its start (from the call's first kernel start) and its duration, as `name @start+duration`. Kernels
launched early (programmatic dependent launch) overlap, so their durations include the time they wait for the
kernel before them; the total is what the call costs.

Usage: python3 native/tests/moe_timeline.py path/to/libb12x.so [--tokens 1,8] [--shared-input-scale] [--graph]
  --tokens              token counts (default 1)
  --shared-input-scale  one input_global_scale for all experts ([1]) instead of one per expert ([E])
  --graph               replay each call captured in a CUDA graph, so the host's launch time leaves the timeline
"""
import ctypes
import json
import os
import re
import sys
import tempfile

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moe_smoke as smoke  # noqa: E402  (reads the library path from sys.argv[1])

SHAPES = {"qwen3-30b-a3b": (2048, 768, 128, 8, 0), "qwen3-235b-a22b": (4096, 1536, 128, 8, 0),
          "deepseek-v3": (7168, 2048, 256, 8, 0), "gpt-oss-120b": (2880, 2880, 128, 4, 0),
          "mixtral-8x7b": (4096, 14336, 8, 2, 0), "nemotron-3-nano": (2688, 1856, 128, 6, 1)}
CALLS = 5       # profiled calls per row; the first is dropped
WARM_UP = 3


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def strategy_of(tokens, top_k):
    """Auto's choice with the contract's default cut-overs."""
    return "micro" if tokens <= 8 and tokens * top_k <= 40 else ("static" if tokens * top_k <= 640 else "dynamic")


def kernel_name(event):
    found = re.findall(r"moe_\w+|nvfp4_\w+", event["name"])
    return found[0] if found else event["name"][:24]


def calls_of(trace_path):
    """The trace's device events, split into calls at the L2-evicting fills between them."""
    events = [e for e in json.load(open(trace_path))["traceEvents"] if e.get("cat") in ("kernel", "gpu_memset")]
    events.sort(key=lambda e: e["ts"])
    calls, current = [], []
    for e in events:
        if "fill" in e["name"].lower() or "elementwise" in e["name"].lower():  # the flush, not the library's
            if current:
                calls.append(current)
            current = []
        else:
            current.append(e)
    if current:
        calls.append(current)
    return calls[1:]


def median(values):
    return sorted(values)[len(values) // 2]


def main():
    tokens_list = [int(t) for t in option("--tokens", "1").split(",")]
    flush = torch.empty(256 * 1024 * 1024, dtype=torch.uint8, device=smoke.DEV)
    trace_path = os.path.join(tempfile.mkdtemp(), "trace.json")
    print(f"GPU: {torch.cuda.get_device_name()}; native µs, median of {CALLS - 1} calls after a cold-L2 flush")
    for name, (hidden, intermediate, experts, top_k, activation) in SHAPES.items():
        for tokens in tokens_list:
            case, tensors = smoke.bench_case(tokens, hidden, intermediate, experts, top_k, activation)
            if "--shared-input-scale" in sys.argv:
                tensors["gs1"] = tensors["gs1"][:1].contiguous()
            _, _, _, (problem, workspace, message) = smoke.run(case, tensors, strategy_of(tokens, top_k))
            run = lambda stream: smoke.LIB.b12x_moe_run(ctypes.byref(problem), workspace.data_ptr(), workspace.numel(),
                                                        stream, None, message, 512)
            call = lambda: run(None)
            if "--graph" in sys.argv:
                graph = torch.cuda.CUDAGraph()
                capture = torch.cuda.Stream()
                with torch.cuda.stream(capture):
                    run(ctypes.c_void_p(capture.cuda_stream))  # first use outside the capture (attributes, tensor maps)
                    capture.synchronize()
                    with torch.cuda.graph(graph, stream=capture):
                        run(ctypes.c_void_p(capture.cuda_stream))
                call = graph.replay
            for _ in range(WARM_UP):
                call()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(CALLS):
                    flush.zero_()
                    torch.cuda.synchronize()
                    call()
                    torch.cuda.synchronize()
            prof.export_chrome_trace(trace_path)
            totals, starts, durations = [], {}, {}
            for kernels in calls_of(trace_path):
                first = kernels[0]["ts"]
                totals.append(max(e["ts"] + e["dur"] for e in kernels) - first)
                for e in kernels:
                    starts.setdefault(kernel_name(e), []).append(e["ts"] - first)
                    durations.setdefault(kernel_name(e), []).append(e["dur"])
            parts = " ".join(f"{k} @{median(starts[k]):.1f}+{median(v):.1f}" for k, v in durations.items())
            print(f"{name:16s} T={tokens:<6d} total {median(totals):8.1f} | {parts}", flush=True)


if __name__ == "__main__":
    main()
