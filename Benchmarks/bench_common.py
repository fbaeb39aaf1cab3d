"""Helpers shared by the benchmark drivers: running tailor, reading its models, writing an
anchor's learned parameters into a Tailor model directory so `tailor evaluate` scores both with
the same code."""
import json, os, shutil, statistics, subprocess, sys, time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, ".build", "benchmarks")
TAILOR = os.path.join(ROOT, ".build", "release", "tailor")
SHARED = os.environ.get("TAILOR_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")
DATASETS = {"ml-100k": os.path.join(SHARED, "ml-100k", "u.data"),
            "ml-latest-small": os.path.join(SHARED, "ml-latest-small", "ratings.csv")}


def run(cmd, timed=False):
    """Runs cmd; with timed, under /usr/bin/time, returning (stdout, peak RSS in MiB)."""
    full = (["/usr/bin/time", "-f", "PEAK_RSS_KB=%M"] if timed else []) + cmd
    p = subprocess.run(full, cwd=ROOT, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{p.stderr}")
    peak = None
    for line in p.stderr.splitlines():
        if line.startswith("PEAK_RSS_KB="):
            peak = int(line.split("=")[1]) / 1024
    return p.stdout, peak


def load_json(path):
    with open(path) as f:
        return json.load(f)


def build():
    print("building release …", flush=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", "tailor"], cwd=ROOT, check=True)


def split(name, path, seed=42, fraction=0.2, source_train=None):
    """tailor split (random per user); returns (train, test) paths."""
    train, test = os.path.join(WORK, f"{name}-train.csv"), os.path.join(WORK, f"{name}-test.csv")
    run([TAILOR, "split", source_train or path, "--method", "random", "--test-fraction", str(fraction), "--split-seed", str(seed),
         "--train", train, "--test", test])
    return train, test


def train(log, out, model, *options, report=None):
    # The anchors see raw strengths, so Tailor does too (its default log transform would be
    # different work): --confidence linear.
    cmd = [TAILOR, "train", log, "--model", model, "--confidence", "linear", "--output", out, "--progress", "none"] + [str(o) for o in options]
    if report:
        cmd += ["--report", report]
    run(cmd)
    return load_json(report) if report else None


def ndcg(model_dir, train_csv, test_csv, k=10):
    out = os.path.join(WORK, "eval.json")
    run([TAILOR, "evaluate", "--model", model_dir, "--train", train_csv, "--test", test_csv, "--k", str(k), "--json", out,
         "--no-baseline", "--no-auc"])
    results = load_json(out)["results"]
    return next(iter(results.values()))["atK"][0]["metrics"]["ndcg"]


def tailor_matrix(model_dir):
    """The training matrix (users × items CSR, Tailor's positions) and manifest of a Tailor model."""
    import numpy as np, scipy.sparse as sp
    from safetensors.numpy import load_file
    t = load_file(os.path.join(model_dir, "embeddings.safetensors"))
    manifest = load_json(os.path.join(model_dir, "manifest.json"))
    shape = (len(manifest["users"]), len(manifest["items"]))
    return sp.csr_matrix((t["seen_values"], t["seen_indices"], t["seen_indptr"]), shape=shape), manifest, t


def write_as_tailor(template_dir, out_dir, tensors, kind=None, source=None):
    """Copies a Tailor model directory, replacing model tensors (keeping seen_*)."""
    from safetensors.numpy import load_file, save_file
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(template_dir, out_dir)
    path = os.path.join(out_dir, "embeddings.safetensors")
    kept = {k: v for k, v in load_file(path).items() if k.startswith("seen_")}
    kept.update(tensors)
    save_file(kept, path, metadata={"format": "tailor-model", "kind": kind or "als"})
    manifest = load_json(os.path.join(out_dir, "manifest.json"))
    if kind:
        manifest["kind"] = kind
    if source:
        manifest["data"]["source"] = source
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def ml100k_files(prefix):
    """MovieLens 100K as CSV files in WORK for `tailor train --items --users`: the ratings
    (user,item,rating,timestamp), the catalogue (item_id, genres joined by |, year) and the
    profiles (user_id, age, gender, occupation). Returns (log, items, users) paths."""
    data = os.path.join(SHARED, "ml-100k")
    if not os.path.isdir(data):
        sys.exit(f"MovieLens 100K not found at {data}")
    os.makedirs(WORK, exist_ok=True)
    log, items, users = (os.path.join(WORK, f"{prefix}-{n}.csv") for n in ["log", "items", "users"])
    with open(log, "w") as f:
        f.write("user,item,rating,timestamp\n")
        for l in open(os.path.join(data, "u.data")):
            f.write(",".join(l.split()) + "\n")
    genres = [l.split("|")[0] for l in open(os.path.join(data, "u.genre"), encoding="latin-1") if "|" in l]
    with open(items, "w") as f:
        f.write("item_id,genres,year\n")
        for l in open(os.path.join(data, "u.item"), encoding="latin-1"):
            p = l.rstrip("\n").split("|")
            f.write(f"{p[0]},{'|'.join(g for g, x in zip(genres, p[-19:]) if x == '1')},{p[2][-4:] if p[2] else ''}\n")
    with open(users, "w") as f:
        f.write("user_id,age,gender,occupation\n")
        for l in open(os.path.join(data, "u.user"), encoding="latin-1"):
            p = l.strip().split("|")
            f.write(f"{p[0]},{p[1]},{p[2]},{p[3]}\n")
    return log, items, users


def factor_model(path=None):
    """The 100,000 users × 20,000 items × 64 factors ALS model the serving and ANN benchmarks
    share (trained once on `tailor generate --users 100000 --items 20000 --interactions 3000000`)."""
    path = path or os.path.join(WORK, "ann-als")
    if os.path.exists(os.path.join(path, "manifest.json")):
        return path
    os.makedirs(WORK, exist_ok=True)
    log = os.path.join(WORK, "ann-log.csv")
    if not os.path.exists(log):
        run([TAILOR, "generate", "--users", "100000", "--items", "20000", "--interactions", "3000000", "--seed", "1", "--output", log])
    run([TAILOR, "train", log, "--model", "als", "--factors", "64", "--iterations", "10", "--output", path, "--progress", "none"])
    return path
