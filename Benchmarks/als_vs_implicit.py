#!/usr/bin/env python3
"""Tailor's ALS against implicit 0.7.3, side by side in one run, printed as ratios.

  python3 Benchmarks/als_vs_implicit.py            # everything (about 5 minutes on 2 cores)
  python3 Benchmarks/als_vs_implicit.py --quick    # 1 repetition, skip MovieLens

Measures, with the same factors (64), iterations (15), regularization, alpha and 2 threads:
  * fit time and peak memory on a synthetic log of ~3M interactions (100k users x 20k items);
  * top-10 for every user with seen items excluded;
  * NDCG@10 on MovieLens 100K and latest-small (../shared/data) with the same random 20% split,
    both models scored by `tailor evaluate` (the same code), over several seeds.

Both solve the identical problem: implicit is trained on the exact matrix Tailor trained on
(read back from Tailor's model file) with data 1 + alpha*r, which is Tailor's confidence
(see implicit_als.py). Needs: pip install implicit==0.7.3 safetensors. Writes
Benchmarks/results/als_vs_implicit.json.
"""
import argparse, json, os, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, SHARED, ENV, run, load_json as load


def hyper(a):
    return ["--factors", str(a.factors), "--iterations", str(a.iterations), "--regularization", str(a.regularization),
            "--alpha", str(a.alpha), "--threads", str(a.threads)]


def speed(a, results):
    log = os.path.join(WORK, "synthetic-3m.csv")
    if not os.path.exists(log):
        run([TAILOR, "generate", "--users", "100000", "--items", "20000", "--interactions", "3000000", "--seed", "1", "--output", log])
    model, report = os.path.join(WORK, "tailor-3m"), os.path.join(WORK, "train-3m.json")
    t_fit, t_rec, t_mem, i_fit, i_rec, i_mem = [], [], [], [], [], []
    for rep in range(a.repeat):
        _, peak = run([TAILOR, "train", log, "--confidence", "linear", "--seed", "1", "--output", model, "--report", report, "--no-loss", "--progress", "none"] + hyper(a), timed=True)
        t_fit.append(load(report)["secondsFitting"]); t_mem.append(peak)
        rec_report = os.path.join(WORK, "recommend-3m.json")
        run([TAILOR, "recommend", "--model", model, "--all-users", "--k", "10", "--threads", str(a.threads),
             "--output", os.path.join(WORK, "recs-3m.csv"), "--report", rec_report])
        t_rec.append(load(rec_report)["secondsRecommending"])
        out, peak = run([sys.executable, os.path.join(ROOT, "Benchmarks", "implicit_als.py"), model, "--recommend-all", "10", "--seed", str(rep + 1)] + hyper(a), timed=True)
        r = json.loads(out.strip().splitlines()[-1])
        i_fit.append(r["fit_seconds"]); i_rec.append(r["recommend_all_seconds"]); i_mem.append(peak)
        print(f"  run {rep + 1}: fit tailor {t_fit[-1]:.2f}s implicit {i_fit[-1]:.2f}s | top-10 all users tailor {t_rec[-1]:.2f}s implicit {i_rec[-1]:.2f}s", flush=True)
    med = statistics.median
    results["synthetic_3m"] = {
        "interactions": r["interactions"], "users": r["users"], "items": r["items"],
        "fit_seconds": {"tailor": med(t_fit), "implicit": med(i_fit), "ratio": med(t_fit) / med(i_fit), "runs": a.repeat},
        "recommend_all_top10_seconds": {"tailor": med(t_rec), "implicit": med(i_rec), "ratio": med(t_rec) / med(i_rec)},
        "peak_rss_mib": {"tailor_train": max(t_mem), "implicit_fit_and_recommend": max(i_mem),
                          "note": "tailor: whole `tailor train` process (reads the 79 MB CSV, builds both CSR matrices, fits, saves); "
                                  "implicit: whole Python process (numpy/scipy/implicit, loads the matrix from Tailor's file, fits, recommends)"},
    }


def sweep(a, results):
    """ALS fit time at growing sizes (users = interactions / 30, items = users / 5, binary input),
    Tailor and implicit on the identical matrix, alternating, `--repeat` runs each (medians)."""
    rows = []
    med = statistics.median
    for n in a.sweep_sizes:
        users = n // 30
        log = os.path.join(WORK, f"synthetic-{n}.csv")
        if not os.path.exists(log):
            run([TAILOR, "generate", "--users", str(users), "--items", str(max(100, users // 5)), "--interactions", str(n),
                 "--seed", "1", "--output", log])
        model, report = os.path.join(WORK, f"tailor-sweep-{n}"), os.path.join(WORK, f"train-sweep-{n}.json")
        t_runs, i_runs = [], []
        for rep in range(a.repeat):
            run([TAILOR, "train", log, "--confidence", "binary", "--seed", str(rep + 1), "--output", model, "--report", report,
                 "--no-loss", "--progress", "none"] + hyper(a))
            t_runs.append(load(report)["secondsFitting"])
            out, _ = run([sys.executable, os.path.join(ROOT, "Benchmarks", "implicit_als.py"), model, "--seed", str(rep + 1)] + hyper(a))
            r = json.loads(out.strip().splitlines()[-1])
            i_runs.append(r["fit_seconds"])
        t_fit, i_fit = med(t_runs), med(i_runs)
        rows.append({"interactions": r["interactions"], "users": r["users"], "items": r["items"], "tailor_seconds": t_fit,
                     "implicit_seconds": i_fit, "ratio": t_fit / i_fit,
                     "ratio_per_run": [t / i for t, i in zip(t_runs, i_runs)]})
        print(f"  {r['interactions']:>9} interactions ({r['users']} users × {r['items']} items): fit tailor {t_fit:.2f}s implicit {i_fit:.2f}s = {t_fit / i_fit:.2f}x"
              f" (runs: {', '.join(f'{t / i:.2f}' for t, i in zip(t_runs, i_runs))})", flush=True)
    results["size_sweep"] = {"rows": rows, "input": "binary (Tailor --confidence binary; implicit sees the same matrix)",
                             "runs": a.repeat, "statistic": "median seconds per side; ratio of the medians"}


def quality(a, results):
    sets = {"ml-100k": os.path.join(SHARED, "ml-100k", "u.data"),
            "ml-latest-small": os.path.join(SHARED, "ml-latest-small", "ratings.csv")}
    results["ndcg_at_10"] = {}
    for name, path in sets.items():
        if not os.path.exists(path):
            print(f"  {name}: {path} absent, skipped")
            continue
        train, test = os.path.join(WORK, f"{name}-train.csv"), os.path.join(WORK, f"{name}-test.csv")
        run([TAILOR, "split", path, "--method", "random", "--test-fraction", "0.2", "--split-seed", "42", "--train", train, "--test", test])
        tailor_ndcg, implicit_ndcg = [], []
        for seed in range(1, a.seeds + 1):
            model, imodel = os.path.join(WORK, f"{name}-tailor"), os.path.join(WORK, f"{name}-implicit")
            run([TAILOR, "train", train, "--confidence", "linear", "--seed", str(seed), "--output", model, "--progress", "none"] + hyper(a))
            run([sys.executable, os.path.join(ROOT, "Benchmarks", "implicit_als.py"), model, "--seed", str(seed), "--write-model", imodel] + hyper(a))
            for m, sink in ((model, tailor_ndcg), (imodel, implicit_ndcg)):
                out_json = os.path.join(WORK, f"{name}-eval.json")
                run([TAILOR, "evaluate", "--model", m, "--train", train, "--test", test, "--k", "10", "--json", out_json, "--no-baseline", "--no-auc"])
                sink.append(load(out_json)["results"]["als"]["atK"][0]["metrics"]["ndcg"])
        t, i = statistics.mean(tailor_ndcg), statistics.mean(implicit_ndcg)
        results["ndcg_at_10"][name] = {"tailor": t, "implicit": i, "ratio": t / i, "seeds": a.seeds,
                                       "tailor_per_seed": tailor_ndcg, "implicit_per_seed": implicit_ndcg,
                                       "split": "random 20% per user, seed 42 (tailor split)"}
        print(f"  {name}: NDCG@10 tailor {t:.4f} implicit {i:.4f} (mean of {a.seeds} seeds)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--regularization", type=float, default=0.05)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3, help="speed runs (medians reported)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per MovieLens set (means reported)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--sweep-only", action="store_true", help="only the size sweep")
    p.add_argument("--sweep-sizes", type=lambda t: [int(x) for x in t.split(",")], default=[800_000, 2_500_000, 8_600_000])
    p.add_argument("--no-build", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.repeat, a.seeds = 1, 2
    os.makedirs(WORK, exist_ok=True)
    if not a.no_build:
        print("building release …", flush=True)
        subprocess.run(["swift", "build", "-c", "release", "--product", "tailor"], cwd=ROOT, check=True)
    import implicit
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores", "implicit": implicit.__version__,
               "hyperparameters": {"factors": a.factors, "iterations": a.iterations, "regularization": a.regularization,
                                   "alpha": a.alpha, "threads": a.threads, "cg_steps": 3}}
    out_path = os.path.join(ROOT, "Benchmarks", "results", "als_vs_implicit.json")
    if a.sweep_only:
        previous = load(out_path) if os.path.exists(out_path) else {}
        print("fit time by size:", flush=True)
        sweep(a, previous)
        previous["size_sweep"]["date"] = time.strftime("%Y-%m-%d")
        with open(out_path, "w") as f:
            json.dump(previous, f, indent=2)
        print(f"wrote {os.path.relpath(out_path, ROOT)}")
        return
    print("speed on the synthetic 3M log:", flush=True)
    speed(a, results)
    print("fit time by size:", flush=True)
    sweep(a, results)
    if not a.quick:
        print("quality on MovieLens:", flush=True)
        quality(a, results)
    s = results["synthetic_3m"]
    print("\nresults (tailor / implicit; below 1.0 means Tailor is faster or smaller):")
    print(f"  fit, 3M interactions       {s['fit_seconds']['tailor']:7.2f}s / {s['fit_seconds']['implicit']:7.2f}s = {s['fit_seconds']['ratio']:.2f}x   (target <= 0.8, aim 0.5)")
    r = s["recommend_all_top10_seconds"]
    print(f"  top-10 for all 100k users  {r['tailor']:7.2f}s / {r['implicit']:7.2f}s = {r['ratio']:.2f}x   (target <= 1.0)")
    m = s["peak_rss_mib"]
    print(f"  peak memory                {m['tailor_train']:6.0f}MiB / {m['implicit_fit_and_recommend']:6.0f}MiB")
    for name, q in results.get("ndcg_at_10", {}).items():
        print(f"  NDCG@10 {name:18s} {q['tailor']:.4f} / {q['implicit']:.4f} = {q['ratio']:.3f}   (target within 2%)")
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    out = os.path.join(ROOT, "Benchmarks", "results", "als_vs_implicit.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
