#!/usr/bin/env python3
"""Every model's defaults against popularity, on held-out temporal splits of real data.

The rule (issue 9): a model's defaults must beat popularity on MovieLens-style ratings,
play counts and next-item sequences, not only on planted data. For each data set this script
holds out each user's latest 20 % (`tailor split --method temporal`), trains every model with
its defaults (nothing but `--threads 2`), and reports NDCG@10 on the held-out part with the
same evaluator, popularity included. It also runs ALS on raw play counts under each confidence
transform against the same counts binarized.

Data sets: MovieLens 100K and latest-small from ../shared/data; Last.fm next-item sequences
(S3-Rec's LastFM.txt, items in time order, turned into a log with one step per event); and a
synthetic heavy-tailed play-count log (`tailor generate --play-counts`). A public play-count log
the user downloads works the same way (see Docs/Benchmarks.md):
    python3 Benchmarks/defaults_vs_popularity.py --extra plays=PATH/user_artists.dat

Usage: python3 Benchmarks/defaults_vs_popularity.py [--no-build] [--models als,bpr,...]
Writes Benchmarks/results/defaults_vs_popularity.json.
"""
import argparse, json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, SHARED, run, load_json, build

MODELS = ["als", "bpr", "itemknn", "ease", "item2vec", "popularity"]


def lastfm_log(path, out):
    """S3-Rec sequences → user,item,timestamp (one second per step, in the given order)."""
    with open(path) as f, open(out, "w") as w:
        w.write("user,item,timestamp\n")
        for line in f:
            parts = line.split()
            for t, item in enumerate(parts[1:]):
                w.write(f"{parts[0]},{item},{1_600_000_000 + t}\n")
    return out


def temporal_split(name, path, extra=()):
    train, test = os.path.join(WORK, f"dvp-{name}-train.csv"), os.path.join(WORK, f"dvp-{name}-test.csv")
    run([TAILOR, "split", path, "--method", "temporal", "--test-fraction", "0.2", "--train", train, "--test", test, *extra])
    return train, test


def evaluate(model_dir, train, test):
    out = os.path.join(WORK, "dvp-eval.json")
    run([TAILOR, "evaluate", "--model", model_dir, "--train", train, "--test", test, "--k", "10", "--json", out, "--no-auc"])
    results = load_json(out)["results"]
    metric = lambda r: next(a for a in r["atK"] if a["k"] == 10)["metrics"]["ndcg"]
    label = next(k for k in results if k != "popularity") if len(results) > 1 else "popularity"
    return metric(results[label]), metric(results["popularity"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--extra", action="append", default=[], help="NAME=PATH of another log (user, item, count[, time])")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--only-confidence", action="store_true", help="only the confidence-transform sweep over seeds")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a configuration override for every model trained (a variant, not the defaults: "
                         "prints its rows, writes no results and skips the confidence sweep)")
    args = ap.parse_args()
    if not args.no_build:
        build()
    os.makedirs(WORK, exist_ok=True)
    data = {}
    for name, rel in [("ml-100k", "ml-100k/u.data"), ("ml-latest-small", "ml-latest-small/ratings.csv")]:
        if os.path.exists(os.path.join(SHARED, rel)):
            data[name] = os.path.join(SHARED, rel)
    if os.path.exists(os.path.join(SHARED, "seq-s3rec/LastFM.txt")):
        data["lastfm-sequences"] = lastfm_log(os.path.join(SHARED, "seq-s3rec/LastFM.txt"), os.path.join(WORK, "lastfm.csv"))
    plays = os.path.join(WORK, "plays.csv")
    run([TAILOR, "generate", "--play-counts", "--users", "3000", "--items", "2000", "--interactions", "150000", "--seed", "7", "--output", plays])
    data["synthetic-play-counts"] = plays
    for spec in args.extra:
        name, path = spec.split("=", 1)
        data[name] = path

    if args.only_confidence:
        return confidence_seeds(args)
    # Models run separately (--models sasrec,…) join the earlier rows of the same file.
    path = os.path.join(ROOT, "Benchmarks", "results", "defaults_vs_popularity.json")
    results = load_json(path) if os.path.exists(path) else {}
    results["protocol"] = "temporal split, each user's latest 20% held out; NDCG@10, full ranking, seen items excluded; defaults + --threads " + args.threads
    results.setdefault("datasets", {})
    for name, path in data.items():
        train, test = temporal_split(name, path)
        row = {}
        for model in args.models.split(","):
            out = os.path.join(WORK, f"dvp-{name}-{model}")
            overrides = [x for kv in args.set for x in ("--set", kv)]
            run([TAILOR, "train", train, "--model", model, "--threads", args.threads, "--output", out, "--progress", "none", *overrides]
                if model not in ("item2vec",) else
                [TAILOR, "train", train, "--model", model, "--output", out, "--progress", "none", *overrides])
            ndcg, pop = evaluate(out, train, test)
            row[model] = ndcg
            row["popularity"] = pop
            print(f"{name:24s} {model:11s} NDCG@10 {ndcg:.4f}   popularity {pop:.4f}   {'OK' if model == 'popularity' or ndcg > pop else 'BELOW'}", flush=True)
        results["datasets"].setdefault(name, {}).update(row)
    if args.set:
        return

    # Confidence transforms on raw counts: ALS defaults under each transform, and the counts binarized.
    train, test = temporal_split("synthetic-play-counts", plays)
    conf = {}
    for transform in ["linear", "log", "bm25", "binary"]:
        out = os.path.join(WORK, f"dvp-conf-{transform}")
        run([TAILOR, "train", train, "--model", "als", "--confidence", transform, "--threads", args.threads, "--output", out, "--progress", "none"])
        conf[transform] = evaluate(out, train, test)[0]
        print(f"ALS on raw play counts, --confidence {transform:7s} NDCG@10 {conf[transform]:.4f}", flush=True)
    results["als_confidence_on_play_counts"] = conf
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "Benchmarks", "results", "defaults_vs_popularity.json"), "w") as f:
        json.dump(results, f, indent=2)


def confidence_seeds(args):
    """ALS defaults on raw play counts under each transform vs the counts binarized: three
    generated logs × two ALS seeds each, mean ± sd (the default transform must match or beat binary)."""
    import statistics
    res = {}
    for gen_seed in [7, 8, 9]:
        plays = os.path.join(WORK, f"plays{gen_seed}.csv")
        run([TAILOR, "generate", "--play-counts", "--users", "3000", "--items", "2000", "--interactions", "150000", "--seed", str(gen_seed), "--output", plays])
        train, test = temporal_split(f"plays{gen_seed}", plays)
        for conf in ["log (default)", "binary", "linear", "bm25"]:
            for seed in [1, 2]:
                out = os.path.join(WORK, "seed-als")
                flag = [] if conf.startswith("log") else ["--confidence", conf]
                run([TAILOR, "train", train, "--model", "als", *flag, "--seed", str(seed), "--threads", args.threads, "--output", out, "--progress", "none"])
                res.setdefault(conf, []).append(evaluate(out, train, test)[0])
    summary = {k: {"mean": statistics.mean(v), "sd": statistics.stdev(v), "runs": v} for k, v in res.items()}
    for k, v in summary.items():
        print(f"ALS defaults on raw play counts, {k:14s} NDCG@10 {v['mean']:.4f} ± {v['sd']:.4f}", flush=True)
    path = os.path.join(ROOT, "Benchmarks", "results", "confidence_on_play_counts.json")
    with open(path, "w") as f:
        json.dump({"protocol": "3 generated play-count logs (tailor generate --play-counts, seeds 7-9) x 2 ALS seeds; temporal 20% holdout; ALS defaults (alpha 0.5)", "results": summary}, f, indent=2)


if __name__ == "__main__":
    main()
