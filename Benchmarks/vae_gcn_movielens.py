#!/usr/bin/env python3
"""Mult-VAE and LightGCN against EASE, ALS and popularity on MovieLens, same split, one run.

  python3 Benchmarks/vae_gcn_movielens.py [--no-build] [--data ml-100k,ml-latest-small]

Data: MovieLens 100K (u.data) and latest-small (ratings.csv), ratings of 4 and above as
implicit feedback (the papers' binarization), each user's ratings split 80/20 at random
(`--holdout random`, seed 42). Full ranking over every item, training items excluded:
NDCG@10 and Recall@20 (the Mult-VAE paper's metrics) from `tailor evaluate`. Every model with
its defaults (the neural ones early-stopping on held-out latest training items), 2 threads.
Writes Benchmarks/results/vae_gcn_movielens.json.
"""
import argparse, json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, DATASETS, run, load_json, build


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--data", default="ml-100k,ml-latest-small")
    a = p.parse_args()
    if not a.no_build:
        build()
    os.makedirs(WORK, exist_ok=True)
    results = {}
    for name in a.data.split(","):
        path = DATASETS[name]
        if not os.path.exists(path):
            sys.exit(f"{path} not found")
        rows = {}
        for model in ["mult-vae", "lightgcn", "ease", "als"]:
            out = os.path.join(WORK, f"vg-{name}-{model}")
            t = time.time()
            run([TAILOR, "train", path, "--min-rating", "4", "--model", model, "--holdout", "random", "--split-seed", "42", "--threads", "2",
                 "--progress", "none", "--output", out])
            seconds = time.time() - t
            evaluation = out + ".eval.json"
            run([TAILOR, "evaluate", "--model", out, "--k", "10,20", "--threads", "2", "--json", evaluation, "--no-auc"])
            for label, report in load_json(evaluation)["results"].items():
                at = {x["k"]: x["metrics"] for x in report["atK"]}
                row = {"ndcg@10": at[10]["ndcg"], "recall@20": at[20]["recall"]}
                if label == "popularity":
                    rows.setdefault("popularity", row)
                else:
                    rows[label] = dict(row, seconds=round(seconds, 1))
            print(name, model, rows.get(model), flush=True)
        results[name] = rows
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "Benchmarks", "results", "vae_gcn_movielens.json"), "w") as f:
        json.dump(results, f, indent=2)
    for name, rows in results.items():
        print(f"\n{name}: model, NDCG@10, Recall@20, seconds")
        for label, r in rows.items():
            print(f"  {label:12s} {r['ndcg@10']:.4f} {r['recall@20']:.4f} {r.get('seconds', '')}")


if __name__ == "__main__":
    main()
