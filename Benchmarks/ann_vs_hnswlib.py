#!/usr/bin/env python3
"""Tailor's HNSW index against hnswlib on the same vectors, one thread each.

  python3 Benchmarks/ann_vs_hnswlib.py            # ~3 minutes; writes Benchmarks/results/ann_vs_hnswlib.json
  python3 Benchmarks/ann_vs_hnswlib.py --model DIR  # another factor model (ALS, BPR)

The vectors are an ALS model's (64 factors) trained on a synthetic log of 100,000 users and
20,000 items (`tailor generate`, 3M interactions): the item vectors are indexed, 2,000 evenly
spaced user vectors are the queries, and the score is the inner product (hnswlib space 'ip').
Both build with M 16 and ef_construction 200 on one thread; both search one query at a time on
one thread, at the same list of ef values. Recall@10 is against exact search (numpy for
hnswlib, Tailor's exact kernel for Tailor; the two agree on the top 10 up to float ties).
Reported: for each side, the build time and, at the smallest ef reaching recall 0.95, the
queries per second; the ratio Tailor / hnswlib (higher is better for Tailor).
Needs `pip install hnswlib numpy safetensors`.
"""
import argparse, json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, run, factor_model

EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256]


def hnswlib_side(items, queries, k, m, efc):
    import hnswlib, numpy as np
    index = hnswlib.Index(space="ip", dim=items.shape[1])
    t0 = time.perf_counter()
    index.init_index(max_elements=items.shape[0], M=m, ef_construction=efc, random_seed=42)
    index.set_num_threads(1)
    index.add_items(items, np.arange(items.shape[0]), num_threads=1)
    build = time.perf_counter() - t0
    truth = np.argsort(-(queries @ items.T), axis=1)[:, :k]
    out = []
    for ef in EFS:
        index.set_ef(max(ef, k))
        for q in queries[:200]:
            index.knn_query(q[None, :], k=k, num_threads=1)
        t = time.perf_counter()
        found = [index.knn_query(q[None, :], k=k, num_threads=1)[0][0] for q in queries]
        seconds = time.perf_counter() - t
        hits = sum(len(set(f.tolist()) & set(truth[i].tolist())) for i, f in enumerate(found))
        out.append({"ef": ef, "recall": hits / (len(queries) * k), "qps": len(queries) / seconds})
    return build, out


def at_recall(rows, target):
    good = [r for r in rows if r["recall"] >= target]
    return min(good, key=lambda r: r["ef"]) if good else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(WORK, "ann-als"))
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--target", type=float, default=0.95)
    a = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    import numpy as np
    from safetensors.numpy import load_file
    model = factor_model(a.model)
    tensors = load_file(os.path.join(model, [f for f in os.listdir(model) if f.endswith(".safetensors")][0]))
    items, users = tensors["item_factors"].astype(np.float32), tensors["user_factors"].astype(np.float32)
    step = max(1, users.shape[0] // a.queries)
    queries = users[np.arange(a.queries) * step]
    bench = os.path.join(ROOT, ".build", "release", "tailor-bench")
    results = {"items": int(items.shape[0]), "dim": int(items.shape[1]), "queries": int(len(queries)), "k": a.k,
               "m": 16, "ef_construction": 200, "threads": 1, "target_recall": a.target}
    for quantized in (False, True):
        out, _ = run([bench, "ann", "--model", model, "--queries", str(a.queries), "--k", str(a.k), "--ef", ",".join(map(str, EFS))]
                     + (["--quantized"] if quantized else []))
        rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        results["tailor_int8" if quantized else "tailor"] = {"build_seconds": rows[0]["build_seconds"], "graph_bytes": rows[0]["graph_bytes"],
                                                              "curve": [{k: r[k] for k in ("ef", "recall", "qps")} for r in rows]}
    build, curve = hnswlib_side(items, queries, a.k, 16, 200)
    results["hnswlib"] = {"build_seconds": build, "curve": curve}
    for side in ("tailor", "tailor_int8", "hnswlib"):
        results[side]["at_target"] = at_recall(results[side]["curve"], a.target)
    h = results["hnswlib"]["at_target"]
    for side in ("tailor", "tailor_int8"):
        t = results[side]["at_target"]
        results[side + "_qps_ratio"] = t["qps"] / h["qps"] if t and h else None
        results[side + "_build_ratio"] = results["hnswlib"]["build_seconds"] / results[side]["build_seconds"]
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "Benchmarks", "results", "ann_vs_hnswlib.json"), "w") as f:
        json.dump(results, f, indent=1)
    for side in ("tailor", "tailor_int8", "hnswlib"):
        r = results[side]
        t = r["at_target"]
        print(f"{side:12s} build {r['build_seconds']:.2f}s; at recall ≥ {a.target}: ef {t and t['ef']}, recall {t and round(t['recall'], 4)}, {t and round(t['qps'])} queries/s")
    print(f"queries/s ratio Tailor/hnswlib: float {results['tailor_qps_ratio']}, int8 {results['tailor_int8_qps_ratio']}; "
          f"build speed ratio (hnswlib time / Tailor time): {results['tailor_build_ratio']:.2f}, int8 {results['tailor_int8_build_ratio']:.2f}")


if __name__ == "__main__":
    main()
