#!/usr/bin/env python3
"""Spark MLlib ALS (local mode, the stand-in for a cluster) against Tailor's own ALS on the same
exported training data, quality and time, in one run.

  python3 Benchmarks/spark_vs_tailor.py                 # MovieLens 100K store + a 1M-interaction synthetic log
  python3 Benchmarks/spark_vs_tailor.py --synthetic 3e6 # a bigger synthetic log

For each data set: `tailor export` (one random hold-out, seed 42) → Tailor's ALS trained from the
export's run file (`tailor train --config`), and Spark's ALS trained on the export's CSV
(`scripts/spark-als.py`, `local[2]`) → `tailor import spark-als` → both scored by `tailor
evaluate` on the same held-out interactions. Identical work: the same training matrix (after
Tailor's cleaning, weighting and confidence transform), 64 factors, 15 iterations, alpha 0.5,
regularization 0.05 for both, 2 threads / 2 Spark cores. The objectives differ in one way:
Spark scales the regularization by each row's interaction count (ALS-WR), Tailor does not. Time
is the fit alone (Tailor: its report's secondsFitting; Spark: ALS.fit plus collecting the
factors, after the data is read and cached); Spark's JVM start and CSV read are reported apart.
Writes Benchmarks/results/spark_vs_tailor.json.
"""
import argparse, json, os, shutil, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, SHARED, run, load_json


def evaluate(model):
    out = os.path.join(WORK, "spark-eval.json")
    run([TAILOR, "evaluate", "--model", model, "--json", out])
    r = load_json(out)["results"]
    name = [k for k in r if k != "popularity"][0]
    at10 = lambda res: next(x["metrics"] for x in res["atK"] if x["k"] == 10)
    return at10(r[name]), at10(r["popularity"]) if "popularity" in r else None


def one(name, source_args):
    export = os.path.join(WORK, f"spark-export-{name}")
    shutil.rmtree(export, ignore_errors=True)
    run([TAILOR, "export"] + source_args + ["--holdout", "random", "--output", export])
    runfile = load_json(os.path.join(export, "run.json"))
    runfile.update({"model": "als", "threads": 2, "output": os.path.join(WORK, f"spark-tailor-{name}"),
                    "configuration": {"factors": 64, "iterations": 15, "alpha": 0.5, "regularization": 0.05}})
    runfile_path = os.path.join(export, "tailor-run.json")
    json.dump(runfile, open(runfile_path, "w"))
    report = os.path.join(WORK, f"spark-tailor-{name}-report.json")
    run([TAILOR, "train", "--config", runfile_path, "--report", report, "--progress", "none"])
    tailor_fit = load_json(report)["secondsFitting"]
    t0 = time.time()
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "spark-als.py"), export, "--master", "local[2]", "--rank", "64",
                    "--iterations", "15", "--alpha", "0.5", "--reg", "0.05"], check=True, capture_output=True, text=True)
    spark_wall = time.time() - t0
    timing = load_json(os.path.join(export, "spark-als", "timing.json"))
    spark_model = os.path.join(WORK, f"spark-model-{name}")
    shutil.rmtree(spark_model, ignore_errors=True)
    run([TAILOR, "import", "spark-als", export, "--output", spark_model])
    tailor_q, popularity = evaluate(runfile["output"])
    spark_q, _ = evaluate(spark_model)
    row = {"data": name, "interactions": timing["interactions"], "tailor_fit_seconds": tailor_fit, "spark_fit_seconds": timing["seconds_fitting"],
           "spark_read_seconds": timing["seconds_reading"], "spark_wall_seconds": spark_wall, "fit_time_ratio_spark_over_tailor": timing["seconds_fitting"] / tailor_fit,
           "tailor_ndcg10": tailor_q["ndcg"], "spark_ndcg10": spark_q["ndcg"], "popularity_ndcg10": popularity["ndcg"] if popularity else None,
           "tailor_recall10": tailor_q["recall"], "spark_recall10": spark_q["recall"]}
    print(f"{name}: {row['interactions']:,} interactions; fit Tailor {tailor_fit:.2f}s, Spark {timing['seconds_fitting']:.2f}s "
          f"({row['fit_time_ratio_spark_over_tailor']:.1f}×; Spark wall {spark_wall:.0f}s with JVM start and read); "
          f"NDCG@10 Tailor {tailor_q['ndcg']:.4f}, Spark {spark_q['ndcg']:.4f}, popularity {row['popularity_ndcg10']:.4f}", flush=True)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synthetic", type=float, default=1e6, help="interactions in the synthetic log (0: skip it)")
    a = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    rows = []
    data = os.path.join(SHARED, "ml-100k")
    if os.path.isdir(data):
        store = os.path.join(WORK, "spark-ml100k.db")
        if not os.path.exists(store):
            run([TAILOR, "ingest", "--preset", "movielens-100k", data, "--store", store])
        rows.append(one("ml-100k", ["--store", store]))
    if a.synthetic > 0:
        n = int(a.synthetic)
        log = os.path.join(WORK, f"spark-synthetic-{n}.csv")
        if not os.path.exists(log):
            run([TAILOR, "generate", "--users", str(max(1000, n // 50)), "--items", str(max(500, n // 200)), "--interactions", str(n), "--seed", "5", "--output", log])
        rows.append(one(f"synthetic-{n}", [log]))
    out = os.path.join(ROOT, "Benchmarks", "results", "spark_vs_tailor.json")
    json.dump({"date": time.strftime("%Y-%m-%d"), "rows": rows}, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
