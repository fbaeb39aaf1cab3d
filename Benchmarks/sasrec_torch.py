#!/usr/bin/env python3
"""SASRec: Tailor against the same network in PyTorch (CPU), side by side, same data and recipe.

  python3 Benchmarks/sasrec_torch.py [--no-build] [--data Beauty] [--epochs 20] [--seed 1] [--repeats 3]

Data: an S3-Rec sequence file from ../shared/data/seq-s3rec (`user item1 item2 …`, items in
time order; a repeated item counts at its latest position, as Tailor's reader merges it).
Leave-last-out: each user's last item is the test item, the rest is training. Full ranking
over every item, the user's training items excluded; HR@10 and NDCG@10 computed by the same
Python code for both sides from their user and item vectors (Tailor's also by `tailor
evaluate`, which must agree).

Both sides train the same network for the same number of epochs, no validation, no early
stopping, 2 threads (torch.set_num_threads(2)):
  item embedding (items + 1, d = 64, row 0 = padding) × √d + learned positions (50), dropout 0.2,
  padding positions zeroed; 2 pre-norm Transformer blocks (nn.TransformerEncoderLayer,
  norm_first=True, 1 head, feed-forward 64, ReLU, dropout 0.2 at the same four sites) with a
  causal mask and a key-padding mask, padding zeroed after each; a final LayerNorm. Each user
  is one training sequence: the latest 51 training items, left-padded, predicting each next
  item; loss: cross-entropy over all items (the item table, padding row excluded, is also the
  output layer) at every non-padding position. Adam (β 0.9/0.98, lr 0.001), 100 warm-up steps
  then cosine decay to 0.1× over all steps; batch 128 users, shuffled each epoch.
Tailor packs each batch's windows (attention, feed-forward and norms run on the real items
only, each at its own position: the same function, test `packedMatchesPadded`); PyTorch's
`nn.TransformerEncoderLayer` runs the left-padded [B, 50] batch with masks, as Tailor does with
`--set packed=false` (run both to see what packing buys and what the engine alone does).
Initial weights differ (each side's own seeded initializers), so losses and quality agree in
distribution, not digit for digit. Timed: Tailor's fitting seconds from its report (which
include building batches and, at the end, every user's vector); PyTorch's epoch loop alone
(batches built before the clock starts, which favours PyTorch). Each side runs --repeats
times, alternating (T P, P T, T P, …: the host's speed drifts by ±20 % within minutes), and
each side's fastest run counts. Reported: training sequences per second both sides and the
ratio Tailor ÷ PyTorch (above 1: Tailor faster), the ratio of each pair of runs, peak RSS, and
quality. Writes Benchmarks/results/sasrec_torch.json.
"""
import argparse, json, math, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, SHARED, run, load_json, build

DIM, BLOCKS, HEADS, LENGTH, DROPOUT, BATCH, LR = 64, 2, 1, 50, 0.2, 128, 0.001


def read_sequences(path):
    """{user: [items in time order]} with a repeated item kept at its latest position."""
    out = {}
    for line in open(path):
        parts = line.split()
        if len(parts) < 2:
            continue
        seq = out.setdefault(parts[0], [])
        seq.extend(parts[1:])
    for u, s in out.items():
        latest = {item: p for p, item in enumerate(s)}
        out[u] = [item for item, _ in sorted(latest.items(), key=lambda kv: kv[1])]
    return out


def split(seqs):
    """Leave-last-out: (train, test item or None) per user."""
    return {u: (s[:-1], s[-1]) if len(s) >= 2 else (s, None) for u, s in seqs.items()}


def metrics(user_vectors, item_vectors, users, items, parts, k=10):
    """HR@k and NDCG@k of each test item ranked among all items, training items excluded."""
    import numpy as np
    upos, ipos = {u: n for n, u in enumerate(users)}, {i: n for n, i in enumerate(items)}
    hits = ndcg = count = 0
    for u, (train, test) in parts.items():
        if test is None or test not in ipos or u not in upos:
            continue
        scores = item_vectors @ user_vectors[upos[u]]
        target = scores[ipos[test]]
        banned = np.array([ipos[i] for i in train if i in ipos and i != test], dtype=np.int64)
        above = int((scores > target).sum()) - (int((scores[banned] > target).sum()) if len(banned) else 0)
        count += 1
        if above < k:
            hits += 1
            ndcg += 1 / math.log2(above + 2)
    return {"hr@10": hits / count, "ndcg@10": ndcg / count, "users": count}


class Windows:
    """A sequence file as both sides' training windows: leave-last-out parts, items in id order,
    each user's training items as positions, and `[examples, LENGTH]` left-padded input rows
    (position + 1, 0 = padding) with next-item targets (−1 on padding). Seeds torch and numpy."""

    def __init__(self, data, seed):
        import numpy as np, torch
        torch.set_num_threads(2)
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.parts = split(read_sequences(data))
        self.users = list(self.parts)
        self.items = sorted({i for tr, te in self.parts.values() for i in tr + ([te] if te else [])}, key=int)
        ipos = {i: n for n, i in enumerate(self.items)}
        self.n_items = len(self.items)
        self.train = [[ipos[i] for i in self.parts[u][0]] for u in self.users]
        self.examples = [s for s in self.train if len(s) >= 2]
        self.rows = np.zeros((len(self.examples), LENGTH), dtype=np.int64)
        self.targets = np.full((len(self.examples), LENGTH), -1, dtype=np.int64)
        for b, s in enumerate(self.examples):
            recent = s[-(LENGTH + 1):]
            n = len(recent) - 1
            self.rows[b, LENGTH - n:] = np.array(recent[:-1]) + 1
            self.targets[b, LENGTH - n:] = np.array(recent[1:])


def train_and_score(w, model, table, epochs, batch, lr, dim, out):
    """Trains `model` (`[B, T] rows → [B, T, dim]`) with full cross-entropy against `table()`
    (the item rows of the tied embedding) at every non-padding position: Adam β 0.9/0.98 at `lr`,
    Tailor's warmupCosine(floor 0.1), `batch` windows shuffled each epoch. Times the epoch loop,
    then scores each user's last output against the table and writes the JSON `out`."""
    import numpy as np, torch, torch.nn as nn
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    batches = (len(w.examples) + batch - 1) // batch
    warmup, total = min(100, batches), max(batches + 1, epochs * batches)

    def multiplier(step):  # Tailor's warmupCosine(floor: 0.1), 1-based step
        step += 1
        if step <= warmup:
            return step / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    rows_t, targets_t = torch.from_numpy(w.rows), torch.from_numpy(w.targets)
    losses = []
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.from_numpy(w.rng.permutation(len(w.examples)))
        total_loss = 0.0
        for b in range(batches):
            idx = order[b * batch:(b + 1) * batch]
            seq, tgt = rows_t[idx], targets_t[idx]
            h = model(seq).reshape(-1, dim)
            keep = tgt.reshape(-1) >= 0
            logits = h[keep] @ table().T
            loss = nn.functional.cross_entropy(logits, tgt.reshape(-1)[keep])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item()
        losses.append(total_loss / batches)
    seconds = time.perf_counter() - start
    # User vectors: the last position's output for each user's training sequence.
    model.eval()
    vectors = np.zeros((len(w.users), dim), dtype=np.float32)
    with torch.no_grad():
        for s0 in range(0, len(w.users), 256):
            chunk = w.train[s0:s0 + 256]
            seq = np.zeros((len(chunk), LENGTH), dtype=np.int64)
            for r, s in enumerate(chunk):
                recent = s[-LENGTH:]
                if recent:
                    seq[r, LENGTH - len(recent):] = np.array(recent) + 1
            vectors[s0:s0 + len(chunk)] = model(torch.from_numpy(seq))[:, -1, :].numpy()
    quality = metrics(vectors, table().detach().numpy(), w.users, w.items, w.parts)
    with open(out, "w") as f:
        json.dump({"seconds": seconds, "sequences": len(w.examples), "epochs": epochs, "losses": losses, "quality": quality}, f)


def torch_worker(data, epochs, out, seed=1, variant="steps"):
    if variant != "steps":
        sys.exit(f"sasrec has one PyTorch variant, got {variant}")
    import torch, torch.nn as nn
    w = Windows(data, seed)
    n_items = w.n_items

    class SASRec(nn.Module):
        def __init__(self):
            super().__init__()
            self.item_embedding = nn.Embedding(n_items + 1, DIM, padding_idx=0)
            self.position_embedding = nn.Embedding(LENGTH, DIM)
            for e in (self.item_embedding, self.position_embedding):
                nn.init.normal_(e.weight, std=0.02)
            with torch.no_grad():
                self.item_embedding.weight[0].zero_()
            self.blocks = nn.ModuleList([nn.TransformerEncoderLayer(DIM, HEADS, dim_feedforward=DIM, dropout=DROPOUT, activation="relu",
                                                                    batch_first=True, norm_first=True) for _ in range(BLOCKS)])
            self.final_norm = nn.LayerNorm(DIM)
            self.dropout = nn.Dropout(DROPOUT)
            self.register_buffer("causal", torch.triu(torch.ones(LENGTH, LENGTH, dtype=torch.bool), diagonal=1))

        def forward(self, seq):
            padding = seq == 0
            keep = (~padding).unsqueeze(-1).float()
            x = self.item_embedding(seq) * DIM ** 0.5 + self.position_embedding.weight.unsqueeze(0)
            x = self.dropout(x) * keep
            mask = self.attention_mask(padding)
            for block in self.blocks:
                x = block(x, src_mask=mask) * keep
            return self.final_norm(x)

        def attention_mask(self, padding):
            """[B·heads, T, T], True = hidden: later keys and padding keys, as Tailor's causal and
            key-padding masks. A padding row would see no key at all (NaN in PyTorch's softmax;
            zeros in Tailor's), so it sees only itself; its output is zeroed either way."""
            m = self.causal.unsqueeze(0) | padding.unsqueeze(1)
            pad_rows = padding.unsqueeze(2)
            eye = torch.eye(LENGTH, dtype=torch.bool).unsqueeze(0)
            m = torch.where(pad_rows, ~eye, m)
            return m.repeat_interleave(HEADS, dim=0)

    model = SASRec()
    train_and_score(w, model, lambda: model.item_embedding.weight[1:], epochs, BATCH, LR, DIM, out)


def compare(a, kind, script, doc):
    """Both sides --repeats times, alternating; quality, speed and memory into
    Benchmarks/results/KIND_torch_DATA.json."""
    data = os.path.join(SHARED, "seq-s3rec", a.data + ".txt")
    if not os.path.exists(data):
        sys.exit(f"{data} not found")
    if not a.no_build:
        build()
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(WORK, f"{kind}-{a.data}")
    report = model + ".train.json"
    out = os.path.join(WORK, f"{kind}-{a.data}-torch.json")
    # The host's speed drifts by ±20 % within minutes, on both sides alike; runs alternate
    # (Tailor, PyTorch, PyTorch, Tailor, …) and each side's fastest run is compared.
    tailor_runs, torch_runs = [], []
    for r in range(a.repeats):
        for side in (["tailor", "torch"] if r % 2 == 0 else ["torch", "tailor"]):
            if side == "tailor":
                _, peak = run([TAILOR, "train", data, "--model", kind, "--holdout", "leave-last-out", "--threads", "2",
                               "--set", f"epochs={a.epochs}", "--set", "validationUsers=0", "--set", "patience=null", "--set", f"seed={a.seed}",
                               *[x for kv in a.set for x in ("--set", kv)],
                               "--progress", "none", "--output", model, "--report", report], timed=True)
                tailor_runs.append((load_json(report)["secondsFitting"], peak))
            else:
                _, peak = run([sys.executable, script, "--torch-worker", data, str(a.epochs), out, str(a.seed), a.torch_variant], timed=True)
                torch_result = load_json(out)
                torch_runs.append((torch_result["seconds"], peak))
            print(side, f"{(tailor_runs if side == 'tailor' else torch_runs)[-1][0]:.1f} s", flush=True)
    manifest = load_json(os.path.join(model, "manifest.json"))
    evaluation = model + ".eval.json"
    run([TAILOR, "evaluate", "--model", model, "--k", "10", "--threads", "2", "--json", evaluation, "--no-auc"])
    at10 = next(x for x in load_json(evaluation)["results"][kind]["atK"] if x["k"] == 10)["metrics"]
    import numpy as np
    from safetensors.numpy import load_file
    t = load_file(os.path.join(model, "embeddings.safetensors"))
    parts = split(read_sequences(data))
    tailor_quality = metrics(t["user_factors"], t["item_factors"], manifest["users"], manifest["items"], parts)
    sequences = torch_result["sequences"] * a.epochs
    tailor_best, torch_best = min(x[0] for x in tailor_runs), min(x[0] for x in torch_runs)
    result = {
        "protocol": doc.split("Writes")[0].strip(), "data": a.data, "epochs": a.epochs, "seed": a.seed, "tailorSettings": a.set, "torchVariant": a.torch_variant,
        "trainingSequencesPerEpoch": torch_result["sequences"], "repeats": a.repeats,
        "tailor": {"secondsFitting": tailor_best, "runs": [x[0] for x in tailor_runs], "sequencesPerSecond": sequences / tailor_best,
                   "peakRSSMiB": max(x[1] for x in tailor_runs), "losses": manifest["model"]["summary"]["losses"], "quality": tailor_quality,
                   "tailorEvaluate": {"hit_rate@10": at10["hit_rate"], "ndcg@10": at10["ndcg"]}},
        "pytorch": {"seconds": torch_best, "runs": [x[0] for x in torch_runs], "sequencesPerSecond": sequences / torch_best,
                    "peakRSSMiB": max(x[1] for x in torch_runs), "losses": torch_result["losses"], "quality": torch_result["quality"],
                    "version": __import__("torch").__version__},
    }
    result["ratio (Tailor ÷ PyTorch sequences/s)"] = result["tailor"]["sequencesPerSecond"] / result["pytorch"]["sequencesPerSecond"]
    result["ratio per pair of runs"] = [p / t for t, p in zip(result["tailor"]["runs"], result["pytorch"]["runs"])]
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    suffix = ("" if a.seed == 1 else f"_seed{a.seed}") + "".join("_" + kv.replace("=", "-") for kv in a.set) \
        + ("" if a.torch_variant == "steps" else f"_torch-{a.torch_variant}")
    with open(os.path.join(ROOT, "Benchmarks", "results", f"{kind}_torch_{a.data}{suffix}.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "protocol"}, indent=2))


def cli(kind, worker, doc, data="Beauty", epochs=20):
    """The command line of a side-by-side script: --torch-worker runs `worker` (the PyTorch side,
    in a process of its own for its peak RSS); otherwise ``compare``."""
    p = argparse.ArgumentParser()
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--data", default=data, help="an S3-Rec file name: Beauty, Sports_and_Outdoors, Toys_and_Games, LastFM")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--seed", type=int, default=1, help="both sides' seed (Tailor: --set seed=…)")
    p.add_argument("--repeats", type=int, default=3, help="runs per side, alternating; each side's fastest is compared")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a Tailor setting for this comparison (e.g. packed=false); named in the results file")
    p.add_argument("--torch-variant", default="steps", help="the PyTorch side's implementation, where a script has several (gru4rec: steps, fused)")
    p.add_argument("--torch-worker", nargs="+", metavar="DATA EPOCHS OUT [SEED]", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.torch_worker:
        w = a.torch_worker
        worker(w[0], int(w[1]), w[2], int(w[3]) if len(w) > 3 else 1, w[4] if len(w) > 4 else "steps")
        return
    compare(a, kind, os.path.abspath(sys.argv[0]), doc)


if __name__ == "__main__":
    cli("sasrec", torch_worker, __doc__)
