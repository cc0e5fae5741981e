"""Two `voxload` builds' augmentation side by side, on one core (BENCHMARKS.md, issue 19).

Runs `voxload bench augment --each --json` of each binary in turn (A, B, A, B, ...) for
`--rounds` rounds at each output size, pinned to one core with `taskset` where it exists, and
prints per case (the whole chain and each transform alone) the median over rounds of each round's
median ms per sample, and the ratio A / B. Alternating the builds spreads the shared machine's
noise over both.

Usage: python benches/augment_ab.py --config CFG.yaml BEFORE_BIN AFTER_BIN [--rounds 5]
       [--seconds 2] [--sizes 8,256,256 17,225,225] [--json OUT]
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys


def run(binary, config, size, seconds):
    cmd = [binary, "bench", "augment", "--config", config, "--input-size", size,
           "--seconds", str(seconds), "--each", "--json"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0"] + cmd
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    cases = {"chain": report["median_ms"]}
    cases.update({t["case"]: t["median_ms"] for t in report["transforms"]})
    return cases, report.get("kernels", "?")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--sizes", nargs="+", default=["8,256,256", "17,225,225"])
    ap.add_argument("--json")
    args = ap.parse_args()
    results = {}
    for size in args.sizes:
        rounds = {"before": [], "after": []}
        for _ in range(args.rounds):
            for name in ("before", "after"):
                cases, level = run(getattr(args, name), args.config, size, args.seconds)
                rounds[name].append(cases)
        table = {}
        for case in rounds["before"][0]:
            a = statistics.median(r[case] for r in rounds["before"])
            b = statistics.median(r[case] for r in rounds["after"])
            table[case] = {"before_ms": a, "after_ms": b, "speedup": a / b if b else float("nan")}
        results[size] = {"kernels": level, "cases": table}
        print(f"\n({size}), one core, median of {args.rounds} alternating rounds, kernels {level}")
        print("| case | before ms | after ms | before / after |")
        print("|---|---:|---:|---:|")
        for case, row in table.items():
            print(f"| {case} | {row['before_ms']:.3f} | {row['after_ms']:.3f} | {row['speedup']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
