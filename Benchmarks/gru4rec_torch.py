#!/usr/bin/env python3
"""GRU4Rec: Tailor against the same network in PyTorch (CPU), side by side, same data and recipe.

  python3 Benchmarks/gru4rec_torch.py [--no-build] [--data LastFM] [--epochs 10] [--seed 1] [--repeats 3]

Data and protocol as Benchmarks/sasrec_torch.py (whose reader, split and metric this script
imports): an S3-Rec sequence file, leave-last-out, full ranking with the user's training items
excluded, HR@10 and NDCG@10 by the same Python code from both sides' vectors.

Both sides train Tailor's default GRU4Rec for the same epochs, no validation, 2 threads:
  item embedding (items + 1, d = 64, row 0 = padding, N(0, 0.02²)), dropout 0.3; one GRU layer
  (hidden 128, PyTorch's gate order and U(±1/√H) initialization) over the latest 51 training
  items but the last, left-padded, its state reset to zero after every padding step (so each
  sequence starts from zeros at its first item); a linear map from the state to d; loss:
  cross-entropy over all items (the item table, padding row excluded, is the output layer) at
  every non-padding position. Adam (β 0.9/0.98, lr 0.005), min(100, steps per epoch) warm-up
  steps then cosine decay to 0.1× over all steps; batch 16 users, shuffled each epoch.
The PyTorch side runs the recurrence as Tailor does, step by step with the reset mask (the
input projections of all steps in one product first): the same arithmetic. `nn.GRU`'s fused
kernel cannot reset its state mid-sequence, and packing right-padded sequences would skip the
padding steps Tailor computes, so it would not be the same work.

Timed: Tailor's fitting seconds from its report (building batches and, at the end, every user's
vector included); PyTorch's epoch loop alone (batches built before the clock starts). Each side
runs --repeats times, alternating, and each side's fastest run counts (the host's speed drifts).
Writes Benchmarks/results/gru4rec_torch_DATA.json.
"""
import argparse, json, math, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, SHARED, run, load_json, build
from sasrec_torch import read_sequences, split, metrics

DIM, HIDDEN, LENGTH, DROPOUT, BATCH, LR = 64, 128, 50, 0.3, 16, 0.005


def torch_worker(data, epochs, out, seed=1):
    import numpy as np, torch, torch.nn as nn
    torch.set_num_threads(2)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    parts = split(read_sequences(data))
    users = list(parts)
    items = sorted({i for tr, te in parts.values() for i in tr + ([te] if te else [])}, key=int)
    ipos = {i: n for n, i in enumerate(items)}
    n_items = len(items)
    train = [[ipos[i] for i in parts[u][0]] for u in users]
    examples = [s for s in train if len(s) >= 2]
    rows = np.zeros((len(examples), LENGTH), dtype=np.int64)
    targets = np.full((len(examples), LENGTH), -1, dtype=np.int64)
    for b, s in enumerate(examples):
        recent = s[-(LENGTH + 1):]
        n = len(recent) - 1
        rows[b, LENGTH - n:] = np.array(recent[:-1]) + 1
        targets[b, LENGTH - n:] = np.array(recent[1:])

    class GRU4Rec(nn.Module):
        def __init__(self):
            super().__init__()
            self.item_embedding = nn.Embedding(n_items + 1, DIM, padding_idx=0)
            nn.init.normal_(self.item_embedding.weight, std=0.02)
            with torch.no_grad():
                self.item_embedding.weight[0].zero_()
            self.gru = nn.GRU(DIM, HIDDEN, batch_first=True)
            self.output = nn.Linear(HIDDEN, DIM)
            self.dropout = nn.Dropout(DROPOUT)

        def forward(self, seq):
            b, t = seq.shape
            keep = (seq != 0).float()
            x = self.dropout(self.item_embedding(seq))
            gi = x @ self.gru.weight_ih_l0.T + self.gru.bias_ih_l0          # [B, T, 3H]
            whh, bhh = self.gru.weight_hh_l0, self.gru.bias_hh_l0
            h = x.new_zeros(b, HIDDEN)
            states = []
            for step in range(t):
                gh = h @ whh.T + bhh
                ir, iz, inn = gi[:, step].chunk(3, dim=1)
                hr, hz, hn = gh.chunk(3, dim=1)
                r = torch.sigmoid(ir + hr)
                z = torch.sigmoid(iz + hz)
                n = torch.tanh(inn + r * hn)
                h = n + z * (h - n)
                column = keep[:, step]
                if bool((column == 0).any()):
                    h = h * column.unsqueeze(1)
                states.append(h)
            return self.output(torch.stack(states, dim=1))

    model = GRU4Rec()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.98))
    batches = (len(examples) + BATCH - 1) // BATCH
    warmup, total = min(100, batches), max(batches + 1, epochs * batches)

    def multiplier(step):  # Tailor's warmupCosine(floor: 0.1), 1-based step
        step += 1
        if step <= warmup:
            return step / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    rows_t, targets_t = torch.from_numpy(rows), torch.from_numpy(targets)
    losses = []
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(examples)))
        total_loss = 0.0
        for b in range(batches):
            idx = order[b * BATCH:(b + 1) * BATCH]
            seq, tgt = rows_t[idx], targets_t[idx]
            h = model(seq).reshape(-1, DIM)
            keep = tgt.reshape(-1) >= 0
            logits = h[keep] @ model.item_embedding.weight[1:].T
            loss = nn.functional.cross_entropy(logits, tgt.reshape(-1)[keep])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item()
        losses.append(total_loss / batches)
    seconds = time.perf_counter() - start
    model.eval()
    vectors = np.zeros((len(users), DIM), dtype=np.float32)
    with torch.no_grad():
        for s0 in range(0, len(users), 256):
            chunk = train[s0:s0 + 256]
            seq = np.zeros((len(chunk), LENGTH), dtype=np.int64)
            for r, s in enumerate(chunk):
                recent = s[-LENGTH:]
                if recent:
                    seq[r, LENGTH - len(recent):] = np.array(recent) + 1
            vectors[s0:s0 + len(chunk)] = model(torch.from_numpy(seq))[:, -1, :].numpy()
    item_vectors = model.item_embedding.weight[1:].detach().numpy()
    quality = metrics(vectors, item_vectors, users, items, parts)
    with open(out, "w") as f:
        json.dump({"seconds": seconds, "sequences": len(examples), "epochs": epochs, "losses": losses, "quality": quality}, f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--data", default="LastFM", help="an S3-Rec file name: Beauty, Sports_and_Outdoors, Toys_and_Games, LastFM")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=1, help="both sides' seed (Tailor: --set seed=…)")
    p.add_argument("--repeats", type=int, default=3, help="runs per side, alternating; each side's fastest is compared")
    p.add_argument("--torch-worker", nargs="+", metavar="DATA EPOCHS OUT [SEED]", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.torch_worker:
        w = a.torch_worker
        torch_worker(w[0], int(w[1]), w[2], int(w[3]) if len(w) > 3 else 1)
        return
    data = os.path.join(SHARED, "seq-s3rec", a.data + ".txt")
    if not os.path.exists(data):
        sys.exit(f"{data} not found")
    if not a.no_build:
        build()
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(WORK, f"gru4rec-{a.data}")
    report = model + ".train.json"
    out = os.path.join(WORK, f"gru4rec-{a.data}-torch.json")
    tailor_runs, torch_runs = [], []
    for r in range(a.repeats):
        for side in (["tailor", "torch"] if r % 2 == 0 else ["torch", "tailor"]):
            if side == "tailor":
                _, peak = run([TAILOR, "train", data, "--model", "gru4rec", "--holdout", "leave-last-out", "--threads", "2",
                               "--set", f"epochs={a.epochs}", "--set", "validationUsers=0", "--set", "patience=null", "--set", f"seed={a.seed}",
                               "--progress", "none", "--output", model, "--report", report], timed=True)
                tailor_runs.append((load_json(report)["secondsFitting"], peak))
            else:
                _, peak = run([sys.executable, os.path.abspath(__file__), "--torch-worker", data, str(a.epochs), out, str(a.seed)], timed=True)
                torch_result = load_json(out)
                torch_runs.append((torch_result["seconds"], peak))
            print(side, f"{(tailor_runs if side == 'tailor' else torch_runs)[-1][0]:.1f} s", flush=True)
    manifest = load_json(os.path.join(model, "manifest.json"))
    evaluation = model + ".eval.json"
    run([TAILOR, "evaluate", "--model", model, "--k", "10", "--threads", "2", "--json", evaluation, "--no-auc"])
    at10 = next(x for x in load_json(evaluation)["results"]["gru4rec"]["atK"] if x["k"] == 10)["metrics"]
    from safetensors.numpy import load_file
    t = load_file(os.path.join(model, "embeddings.safetensors"))
    parts = split(read_sequences(data))
    tailor_quality = metrics(t["user_factors"], t["item_factors"], manifest["users"], manifest["items"], parts)
    sequences = torch_result["sequences"] * a.epochs
    tailor_best, torch_best = min(x[0] for x in tailor_runs), min(x[0] for x in torch_runs)
    result = {
        "protocol": __doc__.split("Writes")[0].strip(), "data": a.data, "epochs": a.epochs, "seed": a.seed,
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
    suffix = "" if a.seed == 1 else f"_seed{a.seed}"
    with open(os.path.join(ROOT, "Benchmarks", "results", f"gru4rec_torch_{a.data}{suffix}.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k not in ("protocol",)}, indent=2))


if __name__ == "__main__":
    main()
