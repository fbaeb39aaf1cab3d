#!/usr/bin/env python3
"""Train implicit's ALS (the anchor) on exactly the matrix a Tailor model was trained on.

Reads the training interactions (seen_* tensors) and the id order from a Tailor model
directory, fits `implicit.cpu.als.AlternatingLeastSquares` with the same hyperparameters,
optionally times top-K for every user, and writes implicit's factors into a copy of the Tailor
model directory so `tailor evaluate` can score both with the same code.

Both libraries then solve the same problem: Tailor uses confidence c = 1 + alpha*r (Hu et al.
2008); implicit uses c = alpha_implicit * data, so we pass data = 1 + alpha*r and alpha = 1.
(Checked: implicit 0.7.3's exact user step equals the Hu et al. normal equations with that c.)

Prints one JSON object with the timings.
"""
import argparse, json, os, shutil, sys, time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's own advice when it parallelizes itself
import numpy as np
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file
from implicit.cpu.als import AlternatingLeastSquares


def load_tailor_matrix(model_dir):
    t = load_file(os.path.join(model_dir, "embeddings.safetensors"))
    with open(os.path.join(model_dir, "manifest.json")) as f:
        manifest = json.load(f)
    users, items = len(manifest["users"]), len(manifest["items"])
    m = sp.csr_matrix((t["seen_values"], t["seen_indices"], t["seen_indptr"]), shape=(users, items))
    return m, manifest, t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model_dir", help="a Tailor ALS model directory (its training matrix is reused)")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--regularization", type=float, default=0.05)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--recommend-all", type=int, default=0, metavar="K", help="also time top-K for every user")
    p.add_argument("--write-model", help="write implicit's factors as a Tailor model directory here")
    a = p.parse_args()

    seen, manifest, tensors = load_tailor_matrix(a.model_dir)
    confidence = seen.copy()
    confidence.data = (1.0 + a.alpha * confidence.data).astype(np.float32)

    model = AlternatingLeastSquares(factors=a.factors, regularization=a.regularization, alpha=1.0,
                                    iterations=a.iterations, use_cg=True, calculate_training_loss=False,
                                    num_threads=a.threads, random_state=a.seed)
    t0 = time.perf_counter()
    model.fit(confidence, show_progress=False)
    fit_seconds = time.perf_counter() - t0
    result = {"anchor": "implicit", "version": __import__("implicit").__version__, "users": seen.shape[0],
              "items": seen.shape[1], "interactions": int(seen.nnz), "fit_seconds": fit_seconds,
              "threads": a.threads}

    if a.recommend_all:
        users = np.arange(seen.shape[0])
        t0 = time.perf_counter()
        ids, scores = model.recommend(users, seen[users], N=a.recommend_all, filter_already_liked_items=True)
        result["recommend_all_seconds"] = time.perf_counter() - t0
        result["recommend_k"] = a.recommend_all

    if a.write_model:
        shutil.rmtree(a.write_model, ignore_errors=True)
        shutil.copytree(a.model_dir, a.write_model)
        tensors = dict(tensors)
        tensors["user_factors"] = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        tensors["item_factors"] = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        save_file(tensors, os.path.join(a.write_model, "embeddings.safetensors"),
                  metadata={"format": "tailor-model", "kind": "als"})
        manifest["model"]["configuration"]["factors"] = a.factors
        manifest["model"]["history"] = []
        manifest["data"]["source"] = "implicit " + result["version"]
        with open(os.path.join(a.write_model, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
