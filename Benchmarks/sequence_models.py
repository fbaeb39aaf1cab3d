#!/usr/bin/env python3
"""Sequence models against ALS, EASE and popularity on next-item data, one table per data set.

  python3 Benchmarks/sequence_models.py [--no-build] [--data LastFM,Beauty] [--models sasrec,gru4rec]

Data: S3-Rec sequence files from ../shared/data/seq-s3rec (`user item1 item2 …`, items in time
order). Protocol: leave-last-out (each user's last item held out), full ranking over every
item with the user's training items excluded, as `tailor evaluate` does for every model:
HR@10 (hit rate), NDCG@10 and MRR@10. Every model trains with its defaults (the sequence models
with early stopping on their own validation items, cut from the training part), 2 threads.
Order matters on these files, so the sequence models should win; the table shows by how much.
Writes Benchmarks/results/sequence_models.json.
"""
import argparse, json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, SHARED, run, load_json, build


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--data", default="LastFM,Beauty")
    p.add_argument("--models", default="sasrec", help="sequence models to run beside als, ease and popularity")
    a = p.parse_args()
    if not a.no_build:
        build()
    os.makedirs(WORK, exist_ok=True)
    results = {}
    for name in a.data.split(","):
        data = os.path.join(SHARED, "seq-s3rec", name + ".txt")
        if not os.path.exists(data):
            sys.exit(f"{data} not found")
        rows = {}
        for model in a.models.split(",") + ["als", "ease"]:
            out = os.path.join(WORK, f"seq-{name}-{model}")
            t = time.time()
            run([TAILOR, "train", data, "--model", model, "--holdout", "leave-last-out", "--threads", "2", "--progress", "none", "--output", out])
            seconds = time.time() - t
            evaluation = out + ".eval.json"
            run([TAILOR, "evaluate", "--model", out, "--k", "10", "--threads", "2", "--json", evaluation, "--no-auc"])
            for label, report in load_json(evaluation)["results"].items():
                m = next(x for x in report["atK"] if x["k"] == 10)["metrics"]
                row = {"hr@10": m["hit_rate"], "ndcg@10": m["ndcg"], "mrr@10": m["mrr"]}
                if label == "popularity":
                    rows.setdefault("popularity", row)
                else:
                    rows[label] = dict(row, seconds=round(seconds, 1))
            print(name, model, rows.get(model), flush=True)
        results[name] = rows
    # Merge into earlier results, so models run separately (--models gru4rec) share one table.
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    path = os.path.join(ROOT, "Benchmarks", "results", "sequence_models.json")
    merged = load_json(path) if os.path.exists(path) else {}
    for name, rows in results.items():
        merged.setdefault(name, {}).update(rows)
    with open(path, "w") as f:
        json.dump(merged, f, indent=2)
    for name, rows in results.items():
        print(f"\n{name}: model, HR@10, NDCG@10, MRR@10, seconds")
        for label, r in rows.items():
            print(f"  {label:12s} {r['hr@10']:.4f} {r['ndcg@10']:.4f} {r['mrr@10']:.4f} {r.get('seconds', '')}")


if __name__ == "__main__":
    main()
