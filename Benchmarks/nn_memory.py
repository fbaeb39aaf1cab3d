#!/usr/bin/env python3
"""Memory of Tailor's neural engine over many training steps: the resident set must not grow.

  python3 Benchmarks/nn_memory.py [--steps 10000] [--every 250] [--workloads mlp,transformer]

Runs `tailor-bench nn-<workload> --steps N --rss-every K` (release build; the same workloads as
nn_vs_torch.py: forward + backward + Adam per step, a new tape each step) and reads the
resident set size it prints every K steps. Reports the RSS after the first K steps (warm-up:
malloc's arenas and the worker pool reach their working size), the largest RSS after that,
their difference, and the least-squares slope of RSS over the second half of the run in bytes
per step. A leak of one activation per step would show as tens of KiB per step (the MLP's
smallest activation is 128 KiB). Exits 1 if the growth after warm-up exceeds --max-growth-mib.
Writes Benchmarks/results/nn_memory.json.
"""
import argparse, json, os, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT

BENCH = os.path.join(ROOT, ".build", "release", "tailor-bench")


def slope(points):
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--workloads", default="mlp,transformer")
    ap.add_argument("--max-growth-mib", type=float, default=8.0)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "tailor-bench"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    report, ok = {"steps": args.steps, "every": args.every}, True
    for name in args.workloads.split(","):
        t0 = time.time()
        out = subprocess.run([BENCH, f"nn-{name}", "--steps", str(args.steps), "--rss-every", str(args.every)],
                             check=True, capture_output=True, text=True).stdout
        samples = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        rss = [(s["step"], s["rss_mib"]) for s in samples]
        warm = next(r for st, r in rss if st >= args.every)
        after = [r for st, r in rss if st >= args.every]
        half = [(st, r * 2 ** 20) for st, r in rss if st >= args.steps // 2]
        growth = max(after) - warm
        per_step = slope(half)
        passed = growth <= args.max_growth_mib
        ok &= passed
        report[name] = {"rss_first_mib": rss[0][1], "rss_after_warmup_mib": warm, "rss_max_after_warmup_mib": max(after),
                        "rss_last_mib": rss[-1][1], "growth_after_warmup_mib": growth, "slope_second_half_bytes_per_step": per_step,
                        "loss_first": samples[0]["loss"], "loss_last": samples[-1]["loss"], "seconds": time.time() - t0,
                        "samples": rss, "passed": passed}
        print(f"{name:12s} {args.steps} steps in {time.time() - t0:6.0f} s  RSS step 0 {rss[0][1]:.1f} MiB, "
              f"after warm-up {warm:.1f}, max after {max(after):.1f}, last {rss[-1][1]:.1f}  growth {growth:+.1f} MiB  "
              f"slope (2nd half) {per_step:+.1f} B/step  {'ok' if passed else 'GROWS'}")
    out = os.path.join(ROOT, "Benchmarks", "results", "nn_memory.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    json.dump(report, open(out, "w"), indent=2)
    print(f"\nwrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
