#!/usr/bin/env python3
"""Fine-tuning on the newest week vs retraining from scratch (issue 10), in one run.

MovieLens 100K, time-ordered: the last 10 % of ratings (by time) are the test; the 7 days
before the test cut are "the newest week"; everything earlier is the base period.

- base:      two-tower (defaults) trained on the base period; stale, no week.
- fine-tune: the base model continued on the newest week only (`tailor train week.csv
             --init-from base`), with a smaller learning rate and fewer epochs (listed below),
             all layers trainable; and again with the item tower frozen (`--freeze item_`).
- scratch:   two-tower (defaults) retrained on base period + week.

Every model gets the same item catalogue (genres, release date) and user profiles (age,
gender, occupation), 2 threads, the same seed. Each is scored by `tailor evaluate` on the same
test file with the base period + week as the training interactions (their items excluded), at
NDCG@10, on two test sets: users of the base period (all models know them) and every user of
the base period or the week (fine-tune and scratch know them all; the base model skips the
week's new users, so it is not shown there). Times are the `train` command's fitting seconds.
Writes Benchmarks/results/two_tower_finetune.json.
Usage: python3 Benchmarks/two_tower_finetune.py [--no-build]
"""
import argparse, json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, SHARED, run, load_json, build, ml100k_files

FINE = ["--set", "learningRate=0.001", "--set", "epochs=10", "--set", "warmupSteps=20"]


def write(path, rows):
    with open(path, "w") as f:
        f.write("user,item,rating,timestamp\n")
        for r in rows:
            f.write(",".join(r) + "\n")


def train(log, out, side, *extra):
    report = out + ".train.json"
    run([TAILOR, "train", log, "--items", side[0], "--users", side[1], "--threads", "2", "--seed", "1", "--progress", "none",
         "--output", out, "--report", report, *extra])
    return load_json(report)["secondsFitting"]


def evaluate(model_dir, train_csv, test_csv):
    path = model_dir + ".eval.json"
    run([TAILOR, "evaluate", "--model", model_dir, "--train", train_csv, "--test", test_csv, "--k", "10", "--threads", "2", "--json", path])
    out = load_json(path)
    return {label: next(a["metrics"]["ndcg"] for a in r["atK"] if a["k"] == 10) for label, r in out["results"].items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--no-build", action="store_true")
    a = p.parse_args()
    data = os.path.join(SHARED, "ml-100k")
    if not os.path.isdir(data):
        sys.exit(f"MovieLens 100K not found at {data}")
    if not a.no_build:
        build()
    os.makedirs(WORK, exist_ok=True)
    rows = sorted((l.split("\t") for l in open(os.path.join(data, "u.data"))), key=lambda r: int(r[3]))
    rows = [[r[0], r[1], r[2], r[3].strip()] for r in rows]
    cut = int(rows[int(0.9 * len(rows))][3])
    week_start = cut - 7 * 86400
    base_rows = [r for r in rows if int(r[3]) < week_start]
    week_rows = [r for r in rows if week_start <= int(r[3]) < cut]
    test_rows = [r for r in rows if int(r[3]) >= cut]
    base_users = {r[0] for r in base_rows}
    all_users = base_users | {r[0] for r in week_rows}
    paths = {n: os.path.join(WORK, f"ft-{n}.csv") for n in ["base", "week", "train", "test-base-users", "test-all-users"]}
    write(paths["base"], base_rows)
    write(paths["week"], week_rows)
    write(paths["train"], base_rows + week_rows)
    write(paths["test-base-users"], [r for r in test_rows if r[0] in base_users])
    write(paths["test-all-users"], [r for r in test_rows if r[0] in all_users])
    _, *side = ml100k_files("ft")
    print(f"base period {len(base_rows)} ratings, newest week {len(week_rows)} "
          f"({len({r[0] for r in week_rows} - base_users)} new users, {len({r[1] for r in week_rows} - {r[1] for r in base_rows})} new items), "
          f"test {len(test_rows)}", flush=True)

    models = {}
    models["base (stale)"] = (os.path.join(WORK, "ft-base"), train(paths["base"], os.path.join(WORK, "ft-base"), side, "--model", "two-tower"))
    models["fine-tune on week"] = (os.path.join(WORK, "ft-fine"),
                                   train(paths["week"], os.path.join(WORK, "ft-fine"), side, "--init-from", os.path.join(WORK, "ft-base"), *FINE))
    models["fine-tune on week, item tower frozen"] = (
        os.path.join(WORK, "ft-fine-frozen"),
        train(paths["week"], os.path.join(WORK, "ft-fine-frozen"), side, "--init-from", os.path.join(WORK, "ft-base"), "--freeze", "item_", *FINE))
    models["retrain from scratch"] = (os.path.join(WORK, "ft-scratch"),
                                      train(paths["train"], os.path.join(WORK, "ft-scratch"), side, "--model", "two-tower"))
    results = {"protocol": __doc__.split("Usage")[0].strip(), "fineTuneSettings": FINE,
               "counts": {"base": len(base_rows), "week": len(week_rows), "test": len(test_rows)}, "models": {}}
    for label, (path, seconds) in models.items():
        entry = {"secondsFitting": round(seconds, 2)}
        scores = evaluate(path, paths["train"], paths["test-base-users"])
        entry["ndcg@10 (base-period users)"] = scores["two-tower"]
        entry["popularity ndcg@10 (base-period users)"] = scores.get("popularity")
        if not label.startswith("base"):
            entry["ndcg@10 (all users)"] = evaluate(path, paths["train"], paths["test-all-users"])["two-tower"]
        results["models"][label] = entry
        print(label, entry, flush=True)
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "Benchmarks", "results", "two_tower_finetune.json"), "w") as f:
        json.dump(results, f, indent=2)
    s, ft = results["models"]["retrain from scratch"], results["models"]["fine-tune on week"]
    print(f"\nfine-tune vs scratch: NDCG@10 {ft['ndcg@10 (all users)']:.4f} vs {s['ndcg@10 (all users)']:.4f}, "
          f"fitting {ft['secondsFitting']:.1f}s vs {s['secondsFitting']:.1f}s ({ft['secondsFitting'] / s['secondsFitting']:.2f}x the time)")


if __name__ == "__main__":
    main()
