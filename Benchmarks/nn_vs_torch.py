#!/usr/bin/env python3
"""One training step of Tailor's neural engine against PyTorch (CPU), side by side, as ratios.

  python3 Benchmarks/nn_vs_torch.py [--rounds 5] [--steps 30]

Workloads (built identically on both sides; forward + backward + Adam, lr 1e-3, MSE loss
against a fixed random target):
  * mlp:         batch 512, Linear 256→512, ReLU, Linear 512→512, ReLU, Linear 512→256;
  * transformer: 2 post-norm encoder blocks (nn.TransformerEncoderLayer, batch_first),
                 batch 128, sequence 50, width 64, 2 heads, feed-forward 256, ReLU,
                 dropout 0.1 (training mode) at all four of PyTorch's sites: the attention
                 probabilities, the attention output, the feed-forward hidden layer and its
                 output. (Before Tailor had attention dropout, its block skipped the first: the
                 README's earlier 0.63x compared two different networks.)
Both use all cores of the machine (2 here: torch.set_num_threads). Each round runs
`tailor-bench nn-<workload>` (2 s of warm-up, then the median of --steps steps) and PyTorch the
same way in this process, and takes the ratio of the medians; the median ratio over rounds is
reported (Tailor ÷ PyTorch: below 1 means Tailor is faster). Writes
Benchmarks/results/nn_vs_torch.json.
"""
import argparse, json, os, statistics, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT

BENCH = os.path.join(ROOT, ".build", "release", "tailor-bench")


def torch_workload(name):
    import torch
    torch.manual_seed(0)
    if name == "mlp":
        model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                    torch.nn.Linear(512, 256))
        x, y = torch.randn(512, 256), torch.randn(512, 256)
        forward = lambda: model(x)
    else:
        model = torch.nn.ModuleList([torch.nn.TransformerEncoderLayer(64, 2, 256, 0.1, batch_first=True) for _ in range(2)])
        model.train()
        x, y = torch.randn(128, 50, 64), torch.randn(128, 50, 64)

        def forward():
            h = x
            for block in model:
                h = block(h)
            return h
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(forward(), y)
        loss.backward()
        optimizer.step()
    return step


def torch_ms(name, steps):
    step = torch_workload(name)
    start = time.perf_counter()
    while time.perf_counter() - start < 2:
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def tailor_ms(name, steps):
    out = subprocess.run([BENCH, f"nn-{name}", "--steps", str(steps)], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])["ms_median"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--only", choices=["mlp", "transformer"])
    args = parser.parse_args()
    import torch
    threads = os.cpu_count()
    torch.set_num_threads(threads)
    subprocess.run(["swift", "build", "-c", "release", "--product", "tailor-bench"], cwd=ROOT, check=True)
    workloads = [args.only] if args.only else ["mlp", "transformer"]
    rows = {w: {"tailor": [], "torch": [], "ratio": []} for w in workloads}
    for r in range(args.rounds):
        for w in workloads:
            ours, theirs = tailor_ms(w, args.steps), torch_ms(w, args.steps)
            rows[w]["tailor"].append(ours); rows[w]["torch"].append(theirs); rows[w]["ratio"].append(ours / theirs)
            print(f"round {r + 1}: {w:<12} Tailor {ours:7.1f} ms   PyTorch {theirs:7.1f} ms   ratio {ours / theirs:.2f}", flush=True)
    print(f"\n{'workload':<12} {'Tailor ms':>10} {'PyTorch ms':>11} {'ratio':>6}")
    results = []
    for w, row in rows.items():
        entry = {"workload": w, "tailor_ms": statistics.median(row["tailor"]), "torch_ms": statistics.median(row["torch"]),
                 "ratio": statistics.median(row["ratio"]), "ratio_min": min(row["ratio"]), "ratio_max": max(row["ratio"])}
        results.append(entry)
        print(f"{w:<12} {entry['tailor_ms']:>10.1f} {entry['torch_ms']:>11.1f} {entry['ratio']:>6.2f}"
              f"  (rounds {entry['ratio_min']:.2f}–{entry['ratio_max']:.2f})")
    out = os.path.join(ROOT, "Benchmarks", "results", "nn_vs_torch.json")
    with open(out, "w") as f:
        json.dump({"rounds": args.rounds, "steps": args.steps, "threads": threads, "torch": torch.__version__,
                   "results": results}, f, indent=2)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
