#!/usr/bin/env python3
"""Tailor's GEMM against numpy/OpenBLAS, side by side in one run, as ratios.

  python3 Benchmarks/gemm_vs_numpy.py [--rounds 5]

Square float32 products n = 64 … 1024 at 1 and 2 threads. Each round runs `tailor-bench gemm`
and then numpy (threads limited with threadpoolctl) for the same sizes, both warmed up for
0.2 s and timed over 9 calls; the ratio of the two medians is taken per round, and the median
ratio over rounds is reported, so the machine's drift (±20 % over minutes here) hits both
sides alike. Writes Benchmarks/results/gemm_vs_numpy.json.
"""
import argparse, json, os, statistics, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT
import numpy as np
from threadpoolctl import threadpool_limits, threadpool_info

BENCH = os.path.join(ROOT, ".build", "release", "tailor-bench")
SIZES = [64, 128, 256, 512, 1024]


def numpy_gflops(n, threads):
    rng = np.random.default_rng(n)
    a = (rng.random((n, n), dtype=np.float32) - 0.5)
    b = (rng.random((n, n), dtype=np.float32) - 0.5)
    with threadpool_limits(threads):
        start = time.perf_counter()
        while time.perf_counter() - start < 0.2:
            a @ b
        times = []
        for _ in range(9 if n < 1024 else 5):
            t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def tailor_gflops(threads):
    out = subprocess.run([BENCH, "gemm", "--threads", str(threads), "--sizes", ",".join(map(str, SIZES))],
                         capture_output=True, text=True, check=True).stdout
    return {j["n"]: j["gflops_median"] for j in map(json.loads, out.splitlines())}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--product", "tailor-bench"], cwd=ROOT, check=True)
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    rows = {}
    for r in range(args.rounds):
        for threads in (1, 2):
            swift = tailor_gflops(threads)
            for n in SIZES:
                row = rows.setdefault((threads, n), {"tailor": [], "numpy": [], "ratio": []})
                theirs = numpy_gflops(n, threads)
                row["tailor"].append(swift[n]); row["numpy"].append(theirs); row["ratio"].append(swift[n] / theirs)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    results = []
    print(f"\n{'threads':>7} {'n':>5} {'Tailor GFLOP/s':>15} {'numpy GFLOP/s':>14} {'ratio':>6}")
    for (threads, n), row in sorted(rows.items()):
        entry = {"threads": threads, "n": n, "tailor_gflops": statistics.median(row["tailor"]),
                 "numpy_gflops": statistics.median(row["numpy"]), "ratio": statistics.median(row["ratio"]),
                 "ratio_min": min(row["ratio"]), "ratio_max": max(row["ratio"])}
        results.append(entry)
        print(f"{threads:>7} {n:>5} {entry['tailor_gflops']:>15.1f} {entry['numpy_gflops']:>14.1f} {entry['ratio']:>6.2f}"
              f"  (rounds {entry['ratio_min']:.2f}–{entry['ratio_max']:.2f})")
    out = os.path.join(ROOT, "Benchmarks", "results", "gemm_vs_numpy.json")
    with open(out, "w") as f:
        json.dump({"rounds": args.rounds, "numpy": np.__version__,
                   "blas": [{k: i.get(k) for k in ("internal_api", "version", "architecture")} for i in blas],
                   "results": results}, f, indent=2)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
