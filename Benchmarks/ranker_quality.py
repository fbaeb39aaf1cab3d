#!/usr/bin/env python3
"""The click-through ranker (issue 10), in one run, on two data sets.

1. MIND sample (logged impressions: clicked vs shown-and-skipped). Imported with its preset;
   the latest 20 % of impressions by time are held out (`--holdout global-time`). Rankers with
   each class-balance setting, and with a two-tower model's vectors as features, scored by
   `tailor evaluate` beside each item's smoothed training click rate (and with SMOTE on the
   dense features, to see whether it helps): AUC, impression AUC,
   log loss, calibration error, mean prediction ÷ click rate, precision@1 and @5.
2. MovieLens 100K (no impressions: the ranker trains on interactions against random items).
   A global time split (`tailor split --method global-time`, latest 20 % held out); ALS and
   two-tower retrieve, the ranker (two-tower vectors as features) re-ranks each one's top 100
   (`recommend --shortlist-from`); NDCG@10 of every list against the held-out ratings of users
   the models know, computed here the same way for all (seen items excluded by `recommend`).

Defaults everywhere except as listed; 2 threads. Writes Benchmarks/results/ranker_quality.json.
Usage: python3 Benchmarks/ranker_quality.py [--no-build]
"""
import argparse, json, math, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, SHARED, run, load_json, build, ml100k_files


def train(*args):
    run([TAILOR, "train", *args, "--threads", "2", "--progress", "none"])


def click_eval(model):
    path = model + ".eval.json"
    run([TAILOR, "evaluate", "--model", model, "--json", path])
    return load_json(path)


def ndcg_at_10(recs_csv, test_csv):
    truth = {}
    for line in open(test_csv).read().splitlines()[1:]:
        u, i = line.split(",")[:2]
        truth.setdefault(u, set()).add(i)
    lists = {}
    for line in open(recs_csv).read().splitlines()[1:]:
        u, i = line.split(",")[:2]
        lists.setdefault(u, []).append(i)
    total, n = 0.0, 0
    for u, items in truth.items():
        if u not in lists:
            continue
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(lists[u][:10]) if i in items)
        ideal = sum(1 / math.log2(r + 2) for r in range(min(10, len(items))))
        total += dcg / ideal
        n += 1
    return total / max(1, n), n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--no-build", action="store_true")
    a = p.parse_args()
    if not a.no_build:
        build()
    os.makedirs(WORK, exist_ok=True)
    results = {"protocol": __doc__.split("Usage")[0].strip()}

    # 1. MIND sample.
    mind = os.path.join(SHARED, "mind-sample")
    store = os.path.join(WORK, "rk-mind.db")
    if os.path.exists(store):
        os.remove(store)
    run([TAILOR, "ingest", "--preset", "mind", mind, "--store", store])
    tt = os.path.join(WORK, "rk-mind-tt")
    train("--store", store, "--model", "two-tower", "--holdout", "global-time", "--output", tt)
    out = {}
    for label, extra in [("ranker (weights, default)", []), ("ranker (downsample)", ["--set", "balance=downsample"]),
                         ("ranker (none)", ["--set", "balance=none"]), ("ranker + two-tower vectors", ["--set", f"retrieval={tt}"]),
                         ("ranker + SMOTE (5 neighbours, 1 per click)", ["--set", "smoteNeighbors=5"]),
                         ("ranker + two-tower vectors + SMOTE", ["--set", f"retrieval={tt}", "--set", "smoteNeighbors=5"])]:
        d = os.path.join(WORK, "rk-mind-" + str(len(out)))
        train("--store", store, "--model", "ranker", "--holdout", "global-time", "--output", d, *extra)
        e = click_eval(d)
        out[label] = e["results"]["ranker"]
        out["item click rate"] = e["results"]["item click rate"]
        out["_test"] = {"shown": e["shown"], "clicked": e["clicked"]}
        print(label, {k: out[label][k] for k in ["auc", "logLoss", "calibrationError", "predictedOverObserved"]}, flush=True)
    print("item click rate", {k: out["item click rate"][k] for k in ["auc", "logLoss", "calibrationError", "predictedOverObserved"]})
    results["mind"] = out

    # 2. MovieLens 100K, two stages.
    log, items, users = ml100k_files("rk-ml")
    tr, te = os.path.join(WORK, "rk-ml-train.csv"), os.path.join(WORK, "rk-ml-test.csv")
    run([TAILOR, "split", log, "--method", "global-time", "--train", tr, "--test", te])
    side = ["--items", items, "--users", users]
    models = {"als": os.path.join(WORK, "rk-ml-als"), "two-tower": os.path.join(WORK, "rk-ml-tt"), "ranker": os.path.join(WORK, "rk-ml-ranker")}
    train(tr, "--model", "als", "--output", models["als"])
    train(tr, *side, "--model", "two-tower", "--output", models["two-tower"])
    train(tr, *side, "--model", "ranker", "--set", f"retrieval={models['two-tower']}", "--output", models["ranker"])
    test_users = os.path.join(WORK, "rk-ml-test-users.txt")
    known = set(load_json(os.path.join(models["als"], "manifest.json"))["users"])
    with open(test_users, "w") as f:
        f.write("\n".join(sorted({l.split(",")[0] for l in open(te).read().splitlines()[1:]} & known)))
    ml_out = {}
    for label, cmd in [("als", ["--model", models["als"]]), ("two-tower", ["--model", models["two-tower"]]),
                       ("ranker re-ranking als top 100", ["--model", models["ranker"], "--shortlist-from", models["als"], "--shortlist", "100"]),
                       ("ranker re-ranking two-tower top 100", ["--model", models["ranker"], "--shortlist-from", models["two-tower"], "--shortlist", "100"])]:
        recs = os.path.join(WORK, "rk-ml-recs.csv")
        run([TAILOR, "recommend", *cmd, "--users", test_users, "--k", "10", "--threads", "2", "--output", recs])
        score, n = ndcg_at_10(recs, te)
        ml_out[label] = {"ndcg@10": score, "users": n}
        print(label, ml_out[label], flush=True)
    results["ml-100k two stages"] = ml_out
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "Benchmarks", "results", "ranker_quality.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
