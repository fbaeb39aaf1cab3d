#!/usr/bin/env python3
"""Tailor's BPR, EASE and ItemKNN against their anchors, side by side in one run, as ratios.

  python3 Benchmarks/models_vs_anchors.py              # all three (~10 minutes on 2 cores)
  python3 Benchmarks/models_vs_anchors.py --only ease  # one family

  * BPR vs implicit 0.7.3's BayesianPersonalizedRanking: seconds per epoch on the synthetic 3M
    log (64 factors, 2 threads), and NDCG@10 on MovieLens 100K and latest-small with each
    library at its best settings (a grid over learning rate, regularization and epochs, chosen
    on a validation split carved out of train, then retrained on all of train);
  * EASE vs the numpy EASE of the paper (G = XᵀX + λI; P = inv(G); B = −P/diag(P)): fit seconds
    and NDCG@10 at the same λ (chosen on validation);
  * ItemKNN vs implicit's item-item recommenders: fit seconds at the same K (cosine), and NDCG@10
    at each one's best settings from the same grid: K ∈ {20, 50, 100, 200, 400} × cosine, TF-IDF
    and BM25 at (K1, B) = (1.2, 0.75), (100, 0.8), (1.2, 0.5): 25 settings each (implicit's Cosine,
    TFIDF and BM25 recommenders; Tailor's weightings, shrinkage 0);
  * BPR quality is the mean ± sd over --seeds seeds (5) per library at its best settings;
  * EASE: numpy runs on the same BLAS thread count as Tailor (threadpoolctl); its `inv` works in
    float64 (a float32 run is timed too).

Every anchor trains on the exact matrix Tailor trained on (read from Tailor's model file), and
its learned parameters are written into a Tailor model directory, so `tailor evaluate` scores
both with the same code. Writes Benchmarks/results/models_vs_anchors.json.
"""
import argparse, itertools, json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import (WORK, DATASETS, TAILOR, build, split, train, ndcg, tailor_matrix, write_as_tailor, timed, run,
                          load_json)
import numpy as np


# ---------- anchors ----------

def implicit_bpr(matrix, factors, lr, reg, epochs, seed, threads):
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    binary = matrix.copy()
    binary.data[:] = 1
    model = BayesianPersonalizedRanking(factors=factors, learning_rate=lr, regularization=reg, iterations=epochs,
                                        random_state=seed, num_threads=threads)
    _, seconds = timed(lambda: model.fit(binary, show_progress=False))
    return model, seconds


def numpy_ease(matrix, l2, dtype=np.float64, threads=2):
    from threadpoolctl import threadpool_limits

    def fit():
        with threadpool_limits(limits=threads, user_api="blas"):
            return inner()

    def inner():
        x = matrix.copy().astype(dtype)
        x.data[:] = 1
        g = (x.T @ x).toarray()
        g[np.diag_indices_from(g)] += l2
        p = np.linalg.inv(g)
        b = p / (-np.diag(p))
        b[np.diag_indices_from(b)] = 0
        return b
    return timed(fit)


def implicit_cosine(matrix, k, threads, kind="cosine"):
    from implicit.nearest_neighbours import CosineRecommender, TFIDFRecommender, BM25Recommender
    if kind == "cosine":
        model = CosineRecommender(K=k, num_threads=threads)
    elif kind == "tfidf":
        model = TFIDFRecommender(K=k, num_threads=threads)
    else:  # "bm25:K1:B"
        _, k1, b = kind.split(":")
        model = BM25Recommender(K=k, K1=float(k1), B=float(b), num_threads=threads)
    _, seconds = timed(lambda: model.fit(matrix, show_progress=False))
    return model, seconds


def knn_options(kind):
    """Tailor's ItemKNN options for the model implicit's recommender of that name computes:
    CosineRecommender normalizes; its TFIDF and BM25 recommenders take plain dot products of the
    weighted vectors (checked: Tailor's bm25 with --no-normalize gives implicit's NDCG exactly)."""
    if kind == "cosine":
        return ["--weighting", "none"]
    if kind == "tfidf":
        return ["--weighting", "tfidf", "--no-normalize"]
    _, k1, b = kind.split(":")
    return ["--weighting", "bm25", "--no-normalize", "--set", f"bm25K1={k1}", "--set", f"bm25B={b}"]


def knn_tensors(model):
    s = model.similarity.tocsr()
    s.sort_indices()
    return {"similarity_indptr": s.indptr.astype(np.int64), "similarity_indices": s.indices.astype(np.int32),
            "similarity_values": s.data.astype(np.float32)}


# ---------- helpers ----------

def datasets():
    out = {}
    for name, path in DATASETS.items():
        if not os.path.exists(path):
            print(f"  {name}: {path} absent, skipped")
            continue
        tr, te = split(name, path)
        vtr, vte = split(name + "-val", None, seed=7, source_train=tr)
        out[name] = (tr, te, vtr, vte)
    return out


def best(scores):
    return max(scores, key=lambda kv: kv[1])


# ---------- BPR ----------

def bpr(a, results):
    grid = list(itertools.product([0.01, 0.05, 0.1], [0.0001, 0.001, 0.01], [50, 100, 200]))
    out = results.setdefault("bpr", {"ndcg_at_10": {}})
    for name, (tr, te, vtr, vte) in datasets().items():
        print(f"  bpr on {name}: grid of {len(grid)} settings per library …", flush=True)
        tailor_scores, implicit_scores = [], []
        for lr, reg, epochs in grid:
            d = os.path.join(WORK, f"{name}-bpr-val")
            train(vtr, d, "bpr", "--factors", a.factors, "--learning-rate", lr, "--regularization", reg, "--epochs", epochs,
                  "--threads", a.threads, "--seed", 1)
            tailor_scores.append(((lr, reg, epochs), ndcg(d, vtr, vte)))
            matrix, _, _ = tailor_matrix(d)
            model, _ = implicit_bpr(matrix, a.factors, lr, reg, epochs, 1, a.threads)
            write_as_tailor(d, d + "-implicit", {"user_factors": np.ascontiguousarray(model.user_factors, np.float32),
                                                 "item_factors": np.ascontiguousarray(model.item_factors, np.float32)}, kind="bpr")
            implicit_scores.append(((lr, reg, epochs), ndcg(d + "-implicit", vtr, vte)))
        (t_lr, t_reg, t_ep), t_val = best(tailor_scores)
        (i_lr, i_reg, i_ep), i_val = best(implicit_scores)
        # Each library at its best settings, over a.seeds seeds (mean ± sd).
        t_runs, i_runs = [], []
        for seed in range(1, a.seeds + 1):
            d = os.path.join(WORK, f"{name}-bpr")
            train(tr, d, "bpr", "--factors", a.factors, "--learning-rate", t_lr, "--regularization", t_reg, "--epochs", t_ep,
                  "--threads", a.threads, "--seed", seed)
            t_runs.append(ndcg(d, tr, te))
            matrix, _, _ = tailor_matrix(d)
            model, _ = implicit_bpr(matrix, a.factors, i_lr, i_reg, i_ep, seed, a.threads)
            write_as_tailor(d, d + "-implicit", {"user_factors": np.ascontiguousarray(model.user_factors, np.float32),
                                                 "item_factors": np.ascontiguousarray(model.item_factors, np.float32)}, kind="bpr")
            i_runs.append(ndcg(d + "-implicit", tr, te))
        import statistics
        t_test, i_test = statistics.mean(t_runs), statistics.mean(i_runs)
        out["ndcg_at_10"][name] = {"tailor": t_test, "implicit": i_test, "ratio": t_test / i_test, "seeds": a.seeds,
                                   "tailor_sd": statistics.stdev(t_runs), "implicit_sd": statistics.stdev(i_runs),
                                   "tailor_runs": t_runs, "implicit_runs": i_runs,
                                   "tailor_best": {"learning_rate": t_lr, "regularization": t_reg, "epochs": t_ep, "validation_ndcg": t_val},
                                   "implicit_best": {"learning_rate": i_lr, "regularization": i_reg, "epochs": i_ep, "validation_ndcg": i_val}}
        print(f"    test NDCG@10 over {a.seeds} seeds: tailor {t_test:.4f} ± {statistics.stdev(t_runs):.4f}, implicit {i_test:.4f} ± {statistics.stdev(i_runs):.4f}; tailor (lr {t_lr}, reg {t_reg}, {t_ep} epochs) implicit {i_test:.4f} (lr {i_lr}, reg {i_reg}, {i_ep} epochs)", flush=True)
    # Speed on the synthetic log.
    log = synthetic()
    d = os.path.join(WORK, "bpr-3m")
    r = train(log, d, "bpr", "--factors", a.factors, "--epochs", a.speed_epochs, "--threads", a.threads, report=os.path.join(WORK, "bpr-3m.json"))
    matrix, _, _ = tailor_matrix(d)
    _, i_seconds = implicit_bpr(matrix, a.factors, 0.05, 0.001, a.speed_epochs, 1, a.threads)
    t_epoch, i_epoch = r["secondsFitting"] / a.speed_epochs, i_seconds / a.speed_epochs
    out["seconds_per_epoch_3m"] = {"tailor": t_epoch, "implicit": i_epoch, "ratio": t_epoch / i_epoch, "factors": a.factors, "threads": a.threads}
    print(f"  bpr seconds per epoch on 3M: tailor {t_epoch:.3f} implicit {i_epoch:.3f}", flush=True)


# ---------- EASE ----------

def ease(a, results):
    out = results.setdefault("ease", {})
    for name, (tr, te, vtr, vte) in datasets().items():
        scores = []
        for l2 in [50, 100, 200, 500, 1000, 2000]:
            d = os.path.join(WORK, f"{name}-ease-val")
            train(vtr, d, "ease", "--l2", l2, "--threads", a.threads)
            scores.append((l2, ndcg(d, vtr, vte)))
        l2, _ = best(scores)
        d = os.path.join(WORK, f"{name}-ease")
        r = train(tr, d, "ease", "--l2", l2, "--threads", a.threads, report=os.path.join(WORK, f"{name}-ease.json"))
        t_test = ndcg(d, tr, te)
        matrix, _, _ = tailor_matrix(d)
        b, n_seconds = numpy_ease(matrix, l2, threads=a.threads)
        write_as_tailor(d, d + "-numpy", {"weights": np.ascontiguousarray(b, np.float32)}, kind="ease")
        n_test = ndcg(d + "-numpy", tr, te)
        _, n32_seconds = numpy_ease(matrix, l2, np.float32, threads=a.threads)
        out[name] = {"l2": l2, "items": matrix.shape[1], "fit_seconds": {"tailor": r["secondsFitting"], "numpy": n_seconds,
                     "ratio": r["secondsFitting"] / n_seconds, "numpy_float32": n32_seconds,
                     "ratio_float32": r["secondsFitting"] / n32_seconds, "threads": a.threads,
                     "note": "numpy on the same BLAS thread count as Tailor (threadpoolctl); numpy's inv works in float64 (float32 input is also timed)"},
                     "ndcg_at_10": {"tailor": t_test, "numpy": n_test, "ratio": t_test / n_test}}
        print(f"  ease on {name} (λ {l2}, {matrix.shape[1]} items): fit tailor {r['secondsFitting']:.2f}s numpy {n_seconds:.2f}s (float32 {n32_seconds:.2f}s); NDCG@10 tailor {t_test:.4f} numpy {n_test:.4f}", flush=True)


# ---------- ItemKNN ----------

def itemknn(a, results):
    out = results.setdefault("itemknn", {"ndcg_at_10": {}})
    for name, (tr, te, vtr, vte) in datasets().items():
        # implicit: its cosine, TF-IDF and BM25 recommenders (BM25 at its default and at two
        # other (K1, B)) over five K: 25 settings, against Tailor's 27 below.
        i_scores = []
        d = os.path.join(WORK, f"{name}-knn-val")
        train(vtr, d, "itemknn", "--neighbors", 50, "--threads", a.threads)  # template for the seen matrix
        matrix, _, _ = tailor_matrix(d)
        for k, kind in itertools.product([20, 50, 100, 200, 400], ["cosine", "tfidf", "bm25:1.2:0.75", "bm25:100:0.8", "bm25:1.2:0.5"]):
            model, _ = implicit_cosine(matrix, k, a.threads, kind)
            write_as_tailor(d, d + "-implicit", knn_tensors(model), kind="itemknn")
            i_scores.append(((k, kind), ndcg(d + "-implicit", vtr, vte)))
        # Tailor: the identical grid (K × cosine / TF-IDF / BM25 at the same three (K1, B)),
        # shrinkage 0, so both libraries search the same 25 settings.
        t_scores = []
        for k, kind in itertools.product([20, 50, 100, 200, 400], ["cosine", "tfidf", "bm25:1.2:0.75", "bm25:100:0.8", "bm25:1.2:0.5"]):
            d = os.path.join(WORK, f"{name}-knn-val")
            train(vtr, d, "itemknn", "--neighbors", k, "--shrinkage", 0, "--threads", a.threads, *knn_options(kind))
            t_scores.append(((k, kind, 0), ndcg(d, vtr, vte)))
        (i_k, i_kind), _ = best(i_scores)
        (t_k, t_w, t_s), _ = best(t_scores)
        d = os.path.join(WORK, f"{name}-knn")
        train(tr, d, "itemknn", "--neighbors", t_k, "--shrinkage", t_s, "--threads", a.threads, *knn_options(t_w))
        t_test = ndcg(d, tr, te)
        matrix, _, _ = tailor_matrix(d)
        model, _ = implicit_cosine(matrix, i_k, a.threads, i_kind)
        write_as_tailor(d, d + "-implicit", knn_tensors(model), kind="itemknn")
        i_test = ndcg(d + "-implicit", tr, te)
        out["ndcg_at_10"][name] = {"tailor": t_test, "implicit": i_test, "ratio": t_test / i_test, "grid_sizes": {"tailor": len(t_scores), "implicit": len(i_scores)},
                                   "tailor_best": {"neighbors": t_k, "weighting": t_w, "shrinkage": t_s}, "implicit_best": {"K": i_k, "recommender": i_kind}}
        print(f"  itemknn on {name}: NDCG@10 tailor {t_test:.4f} (K {t_k}, {t_w}, shrink {t_s}) implicit {i_test:.4f} (K {i_k}, {i_kind})", flush=True)
    # Speed on the synthetic log at the same K, plain cosine for both.
    log = synthetic()
    d = os.path.join(WORK, "knn-3m")
    r = train(log, d, "itemknn", "--neighbors", 100, "--threads", a.threads, report=os.path.join(WORK, "knn-3m.json"))
    matrix, _, _ = tailor_matrix(d)
    _, i_seconds = implicit_cosine(matrix, 100, a.threads)
    out["fit_seconds_3m_k100"] = {"tailor": r["secondsFitting"], "implicit": i_seconds, "ratio": r["secondsFitting"] / i_seconds}
    print(f"  itemknn fit on 3M (K 100): tailor {r['secondsFitting']:.2f}s implicit {i_seconds:.2f}s", flush=True)


def synthetic():
    log = os.path.join(WORK, "synthetic-3m.csv")
    if not os.path.exists(log):
        run([TAILOR, "generate", "--users", "100000", "--items", "20000", "--interactions", "3000000", "--seed", "1", "--output", log])
    return log


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["bpr", "ease", "itemknn"])
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--speed-epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=5, help="BPR seeds per library at the best settings")
    p.add_argument("--no-build", action="store_true")
    a = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    if not a.no_build:
        build()
    import implicit
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "models_vs_anchors.json")
    results = load_json(out_path) if os.path.exists(out_path) else {}
    results.update({"date": time.strftime("%Y-%m-%d"), "implicit": implicit.__version__, "numpy": np.__version__})
    for name, fn in [("bpr", bpr), ("ease", ease), ("itemknn", itemknn)]:
        if a.only in (None, name):
            print(f"{name}:", flush=True)
            fn(a, results)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {os.path.relpath(out_path)}")


if __name__ == "__main__":
    main()
