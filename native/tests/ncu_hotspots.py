"""Prints where a profiled kernel's warps stall, per SASS instruction, from an Nsight Compute report.

Usage on the GPU machine: ncu --set full --import-source no -o REPORT ... ; then
  python3 native/tests/ncu_hotspots.py REPORT.ncu-rep [top]
Reads `ncu --import REPORT --page source --csv --print-source sass` for every profiled kernel and prints the
instructions with the most stall samples, with their stall reasons.
"""
import csv
import io
import subprocess
import sys


def main():
    report = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    text = subprocess.run(["ncu", "--import", report, "--page", "source", "--csv", "--print-source", "sass"],
                          capture_output=True, text=True).stdout
    # One CSV table per kernel, each preceded by a line naming it.
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith('"Address"') or line.startswith('"#"'):
            if current:
                blocks.append(current)
            current = [line]
        elif current:
            current.append(line)
        else:
            print(line)
    if current:
        blocks.append(current)
    for block in blocks:
        rows = list(csv.DictReader(io.StringIO("\n".join(block))))
        if not rows:
            continue
        sample_key = next((k for k in rows[0] if k.startswith("Warp Stall Sampling (All")), None)
        if sample_key is None:
            print("columns:", list(rows[0].keys()))
            continue
        def num(v):
            try:
                return float(str(v).replace(",", ""))
            except ValueError:
                return 0.0
        total = sum(num(r[sample_key]) for r in rows)
        print(f"\n=== kernel table: {len(rows)} instructions, {total:.0f} stall samples")
        reason_keys = [k for k in rows[0] if k.startswith("stall_") or "Stall" in k and k != sample_key]
        sums = {k: sum(num(r[k]) for r in rows) for k in reason_keys}
        print("reasons:", ", ".join(f"{k}={v:.0f}" for k, v in sorted(sums.items(), key=lambda kv: -kv[1])[:12]))
        for r in sorted(rows, key=lambda r: -num(r[sample_key]))[:top]:
            share = 100 * num(r[sample_key]) / max(total, 1)
            print(f"{share:5.1f}% {r.get('Address', '')} {r.get('Source', '')[:90]}")


if __name__ == "__main__":
    main()
