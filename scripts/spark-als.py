#!/usr/bin/env python3
"""Train Spark MLlib's implicit ALS on a `tailor export` directory and write the factors back
into it for `tailor import spark-als`.

  python3 scripts/spark-als.py export/                         # local mode, all cores
  python3 scripts/spark-als.py export/ --master local[2] --rank 64 --iterations 15
  spark-submit --master spark://HOST:7077 scripts/spark-als.py export/   # a real cluster

On a cluster, DIR must be on storage every node reads (HDFS, S3, NFS): pass its URL, e.g.
hdfs:///exports/run1, and copy DIR/spark-als back beside the export before `tailor import`.
The hyperparameters default to Tailor's ALS defaults (64 factors, 15 iterations, alpha 0.5,
regularization 0.05); note Spark scales the regularization by each user's and item's number
of interactions (ALS-WR), Tailor does not.

Writes DIR/spark-als/user_factors.csv and item_factors.csv (`index f1 … fk`), params.json, and
timing.json (seconds reading, fitting, writing).
"""
import argparse, json, os, sys, time


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory")
    p.add_argument("--master", default=None, help="Spark master URL (default: spark-submit's, else local[*])")
    p.add_argument("--rank", type=int, default=64)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--reg", type=float, default=0.05)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--memory", default="4g", help="driver memory in local mode")
    a = p.parse_args()
    from pyspark.sql import SparkSession
    from pyspark.ml.recommendation import ALS
    builder = SparkSession.builder.appName("tailor-spark-als").config("spark.driver.memory", a.memory) \
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "8")
    if a.master:
        builder = builder.master(a.master)
    elif "SPARK_HOME" not in os.environ and not os.environ.get("PYSPARK_SUBMIT_ARGS"):
        builder = builder.master("local[*]")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    path = os.path.join(a.directory, "interactions.csv")
    t0 = time.time()
    data = spark.read.csv(path, header=True, schema="user INT, item INT, value FLOAT").cache()
    n = data.count()
    t1 = time.time()
    als = ALS(rank=a.rank, maxIter=a.iterations, regParam=a.reg, alpha=a.alpha, implicitPrefs=True, userCol="user", itemCol="item",
              ratingCol="value", seed=42, coldStartStrategy="nan", nonnegative=False)
    model = als.fit(data)
    users = model.userFactors.collect()
    items = model.itemFactors.collect()
    t2 = time.time()
    out = os.path.join(a.directory, "spark-als")
    os.makedirs(out, exist_ok=True)
    for name, rows in [("user_factors.csv", users), ("item_factors.csv", items)]:
        with open(os.path.join(out, name), "w") as f:
            for r in rows:
                f.write(str(r["id"]) + " " + " ".join(repr(float(x)) for x in r["features"]) + "\n")
    with open(os.path.join(out, "params.json"), "w") as f:
        json.dump({"rank": a.rank, "regParam": a.reg, "alpha": a.alpha, "maxIter": a.iterations}, f)
    t3 = time.time()
    with open(os.path.join(out, "timing.json"), "w") as f:
        json.dump({"interactions": n, "seconds_reading": t1 - t0, "seconds_fitting": t2 - t1, "seconds_writing": t3 - t2,
                   "master": spark.sparkContext.master, "cores": spark.sparkContext.defaultParallelism}, f)
    print(f"Spark ALS: {n} interactions, {len(users)} users, {len(items)} items; fit {t2 - t1:.1f}s on {spark.sparkContext.master}; wrote {out}")
    spark.stop()


if __name__ == "__main__":
    main()
