#!/usr/bin/env python3
"""Two-tower training speed: Tailor against the same network in PyTorch (CPU), side by side.

  python3 Benchmarks/two_tower_torch.py [--no-build] [--epochs 5] [--history defaults|mean]

Data: MovieLens 100K as a log with an item catalogue (genres, year) and user profiles (age,
gender, occupation), 100,000 (user, item) examples per epoch.

Tailor: `tailor train … --model two-tower` with its defaults except a fixed number of epochs
(no validation users, no early stopping) and no brand-new-user examples (`coldUserFraction=0`,
`newUserEvents=0`, which the twin does not draw), 2 threads; `--history mean` also pins the
network before attention and gapped histories (`history=mean historyGap=null`). PyTorch
(torch.set_num_threads(2)) runs the same network with the same names and shapes, built from the Tailor model's own encoded
inputs (user_codes, user_numbers, item categories, item_numbers in its safetensors file) and
the same histories, so the work is identical:
  user tower: user_id embedding (65 → 64, id dropout 0.1) ‖ one 16-wide embedding per
              categorical attribute ‖ numeric attributes ‖ the item_id rows of the user's
              latest 50 items pooled by attention (a learned query's score plus log recency,
              half-life 20, softmax per user), for 65 % of the examples the events before the
              target ending a random gap of 0…10 % of the user's events earlier, for the rest
              every other item (`--history mean`: their mean, every other item always);
              history dropout 0.05; attribute dropout 0.05
              → Linear 128, ReLU, Dropout 0.1, Linear 64 → L2 normalize;
  item tower: item_id embedding (id dropout 0.3) ‖ genres embedding bag (mean, 16) ‖ year
              → Linear 128, ReLU, Dropout 0.1, Linear 64 → L2 normalize;
  loss:       in-batch softmax over the batch's items, temperature 0.05, log-Q correction,
              duplicates of the positive masked; Adam (lr 0.003) with 100 warm-up steps and a
              cosine decay to 0.1×; batch 512, shuffled each epoch.
Timed: Tailor's fitting seconds from its report (which also include building its batches and,
at the end, every user and item vector); PyTorch's epochs loop (its batches are sliced from
arrays prepared before the clock starts, which favours PyTorch; the gapped histories' draws
and slices are numpy work inside its loop, as Tailor's batch building is inside its). Peak memory is each
process's peak RSS (/usr/bin/time). Reported: examples/s both sides and the ratio Tailor ÷
PyTorch (above 1: Tailor faster). Writes Benchmarks/results/two_tower_torch.json (--history mean:
two_tower_torch_mean.json).
"""
import argparse, json, os, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, run, load_json, build, ml100k_files


def torch_worker(model_dir, log, epochs, out):
    """Trains the PyTorch twin for `epochs` epochs; writes seconds, examples and losses to `out`."""
    import numpy as np, torch
    from safetensors.numpy import load_file
    torch.set_num_threads(2)
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    manifest = load_json(os.path.join(model_dir, "manifest.json"))
    t = load_file(os.path.join(model_dir, "embeddings.safetensors"))
    c, shapes = manifest["model"]["configuration"], manifest["model"]["shapes"]
    users, items = manifest["users"], manifest["items"]
    upos, ipos = {u: n for n, u in enumerate(users)}, {i: n for n, i in enumerate(items)}
    # Sequences: each user's items by time (ties in log order), each item at its latest position.
    rows = [l.strip().split(",") for l in open(log)][1:]
    order = sorted(range(len(rows)), key=lambda r: (upos[rows[r][0]], int(rows[r][3]), r))
    seqs = [[] for _ in users]
    for r in order:
        seqs[upos[rows[r][0]]].append(ipos[rows[r][1]])
    def distinct_latest(s):
        seen, out = set(), []
        for i in reversed(s):
            if i not in seen:
                seen.add(i); out.append(i)
        return out[::-1]
    seqs = [distinct_latest(s) for s in seqs]
    # Gapped histories (historyGap): the latest 50 of the events before the target ending a random
    # 0…⌊gap × count⌋ earlier, newest first, read as slices of the reversed concatenated sequences.
    assert c["history"] in ("mean", "attention"), "the twin pools by mean or attention"
    gap, share, attention = c.get("historyGap"), c.get("historyGapShare", 1), c["history"] == "attention"
    seq_off = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    rev_flat = np.concatenate([np.array(s, dtype=np.int64) for s in seqs])[::-1] + 1
    # Examples (user, position) and their histories (latest 50 other items, newest first).
    ex_user, ex_item, ex_pos, h_flat, h_off = [], [], [], [], [0]
    counts = np.zeros(len(items))
    for u, s in enumerate(seqs):
        for p, i in enumerate(s):
            ex_user.append(u); ex_item.append(i); ex_pos.append(p); counts[i] += 1
            h = [s[q] for q in range(len(s) - 1, -1, -1) if q != p][:c["historyLength"]]
            h_flat.extend(h); h_off.append(len(h_flat))
    ex_user, ex_item, ex_pos = np.array(ex_user), np.array(ex_item), np.array(ex_pos)
    h_flat, h_off = np.array(h_flat, dtype=np.int64) + 1, np.array(h_off)
    pool = np.concatenate([h_flat, rev_flat])
    seq_len = seq_off[1:] - seq_off[:-1]
    decay = -np.log(2) / c["halfLife"]
    logq = torch.tensor(np.log(np.maximum(counts, 0.5) / counts.sum()), dtype=torch.float32)
    codes = t["user_codes"].astype(np.int64).reshape(len(users), -1)
    unums = t["user_numbers"].reshape(len(users), -1)
    inums = t["item_numbers"].reshape(len(items), -1)
    cat_off, cat_val = t["item_category_offsets"].astype(np.int64), t["item_categories"].astype(np.int64)
    D, ID, FD, H = c["dimension"], c["idDimension"], c["featureDimension"], c["hidden"]

    def mlp(width):
        layers, sizes = [], [width] + H + [D]
        for n in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[n], sizes[n + 1]))
            if n < len(sizes) - 2:
                layers += [torch.nn.ReLU(), torch.nn.Dropout(c["dropout"])]
        return torch.nn.Sequential(*layers)

    class TwoTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.user_id = torch.nn.Embedding(len(users) + 1, ID)
            self.item_id = torch.nn.Embedding(len(items) + 1, ID)
            self.user_attributes = torch.nn.ModuleList([torch.nn.Embedding(v, FD) for v in shapes["userVocabularies"]])
            self.item_categories = torch.nn.EmbeddingBag(shapes["categoryVocabulary"], FD, mode="mean")
            for e in [self.user_id, self.item_id, *self.user_attributes, self.item_categories]:
                torch.nn.init.normal_(e.weight, std=0.05)
            if attention:
                self.attention_query = torch.nn.Parameter(torch.zeros(ID, 1))
            self.user_mlp = mlp(ID + len(shapes["userVocabularies"]) * FD + shapes["userNumeric"] + ID)
            self.item_mlp = mlp(ID + FD + shapes["itemNumeric"])

    net = TwoTower()
    net.train()
    batch, n = c["batchSize"], len(ex_user)
    steps_per_epoch = (n + batch - 1) // batch
    total = max(c["warmupSteps"] + 1, epochs * steps_per_epoch)
    def multiplier(step):  # 1-based step, as Tailor's warmupCosine
        step += 1
        if step <= c["warmupSteps"]:
            return step / max(1, c["warmupSteps"])
        progress = min(1.0, (step - c["warmupSteps"]) / max(1, total - c["warmupSteps"]))
        return 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress))
    opt = torch.optim.Adam(net.parameters(), lr=c["learningRate"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, multiplier)

    def ragged(offsets, values, rows):
        lengths = offsets[rows + 1] - offsets[rows]
        starts = np.repeat(offsets[rows] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        flat = values[starts + np.arange(lengths.sum())]
        return torch.from_numpy(flat), torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)[:-1]]))

    losses = []
    start = time.perf_counter()
    for epoch in range(epochs):
        perm = rng.permutation(n)
        total_loss = 0.0
        for b0 in range(0, n, batch):
            ex = perm[b0:b0 + batch]
            m = len(ex)
            u, i = ex_user[ex], ex_item[ex]
            drop_id, drop_hist, drop_attr = rng.random(m) < c["userIDDropout"], rng.random(m) < c["historyDropout"], rng.random(m) < c["attributeDropout"]
            uid = torch.from_numpy(np.where(drop_id, 0, u + 1))
            ucodes = np.where(drop_attr[:, None], 0, codes[u])
            unum = torch.from_numpy(np.where(drop_attr[:, None], 0, unums[u]).astype(np.float32))
            lengths, begin = h_off[ex + 1] - h_off[ex], h_off[ex]
            if gap is not None:
                gapped = ~drop_id & (rng.random(m) < share)
                widest = np.floor(gap * seq_len[u]).astype(np.int64)
                end = np.maximum(0, ex_pos[ex] - rng.integers(0, widest + 1))
                lengths = np.where(gapped, np.minimum(end, c["historyLength"]), lengths)
                begin = np.where(gapped, len(h_flat) + len(rev_flat) - seq_off[u] - end, begin)
            lengths = np.where(drop_hist, 0, lengths)
            first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            hist = torch.from_numpy(pool[np.repeat(begin - first, lengths) + np.arange(lengths.sum())])
            hoff = torch.from_numpy(first)
            hw = torch.from_numpy(np.repeat(1.0 / np.maximum(lengths, 1), lengths).astype(np.float32))
            iid = torch.from_numpy(np.where(rng.random(m) < c["itemIDDropout"], 0, i + 1))
            cats, coff = ragged(cat_off, cat_val, i)
            inum = torch.from_numpy(inums[i].astype(np.float32))

            parts = [net.user_id(uid)] + [e(torch.from_numpy(ucodes[:, j])) for j, e in enumerate(net.user_attributes)] + [unum]
            if attention:
                # A learned query scores each item, plus its log recency weight; softmax per user
                # over a padded [batch, longest] grid, empty histories pooling to zero.
                rows = net.item_id.weight[hist]
                row = torch.from_numpy(np.repeat(np.arange(m), lengths))
                k = torch.from_numpy(np.arange(lengths.sum()) - np.repeat(first, lengths))
                grid = torch.full((m, max(1, int(lengths.max(initial=0)))), -1e9)
                grid = grid.index_put((row, k), (rows @ net.attention_query).squeeze(1) + k.to(torch.float32) * decay)
                mask = torch.zeros_like(grid).index_put((row, k), torch.ones(len(row)))
                w = torch.softmax(grid, 1) * mask
                parts.append(torch.zeros(m, ID).index_add(0, row, rows * w[row, k][:, None]))
            else:
                parts.append(torch.nn.functional.embedding_bag(hist, net.item_id.weight, hoff, mode="sum", per_sample_weights=hw))
            q = torch.nn.functional.normalize(net.user_mlp(torch.cat(parts, 1)), dim=1)
            v = torch.nn.functional.normalize(net.item_mlp(torch.cat([net.item_id(iid), net.item_categories(cats, coff), inum], 1)), dim=1)
            ids = torch.from_numpy(i)
            logits = q @ v.T / c["temperature"] - logq[ids][None, :]
            dup = (ids[:, None] == ids[None, :]) & ~torch.eye(m, dtype=torch.bool)
            logits = logits.masked_fill(dup, float("-inf"))
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(m))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * m
        losses.append(total_loss / n)
    seconds = time.perf_counter() - start
    with open(out, "w") as f:
        json.dump({"seconds": seconds, "examples": n, "epochs": epochs, "losses": losses}, f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--history", choices=["defaults", "mean"], default="defaults",
                   help="defaults: attention over gapped histories (65 %% of examples); mean: the mean of every other item")
    p.add_argument("--torch-worker", nargs=4, metavar=("MODEL", "LOG", "EPOCHS", "OUT"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.torch_worker:
        torch_worker(a.torch_worker[0], a.torch_worker[1], int(a.torch_worker[2]), a.torch_worker[3])
        return
    if not a.no_build:
        build()
    log, items, users = ml100k_files("tts")
    model = os.path.join(WORK, "tts-two-tower")
    report = model + ".train.json"
    _, tailor_peak = run([TAILOR, "train", log, "--items", items, "--users", users, "--model", "two-tower", "--threads", "2",
                          "--set", f"epochs={a.epochs}", "--set", "validationUsers=0", "--set", "patience=null", "--seed", "1",
                          # The PyTorch twin draws the id, history and attribute drops only.
                          "--set", "coldUserFraction=0", "--set", "newUserEvents=0",
                          # --history mean: the network before attention and gapped histories.
                          *(["--set", "history=mean", "--set", "historyGap=null"] if a.history == "mean" else []),
                          "--progress", "none", "--output", model, "--report", report], timed=True)
    tailor = load_json(report)
    summary = load_json(os.path.join(model, "manifest.json"))["model"]["summary"]
    out = os.path.join(WORK, "tts-torch.json")
    _, torch_peak = run([sys.executable, os.path.abspath(__file__), "--torch-worker", model, log, str(a.epochs), out], timed=True)
    torch_result = load_json(out)
    examples = torch_result["examples"] * a.epochs
    result = {
        "protocol": __doc__.split("Writes")[0].strip(),
        "history": a.history, "epochs": a.epochs, "examplesPerEpoch": torch_result["examples"],
        "tailor": {"secondsFitting": tailor["secondsFitting"], "examplesPerSecond": examples / tailor["secondsFitting"],
                   "peakRSSMiB": tailor_peak, "losses": summary["losses"]},
        "pytorch": {"seconds": torch_result["seconds"], "examplesPerSecond": examples / torch_result["seconds"],
                    "peakRSSMiB": torch_peak, "losses": torch_result["losses"], "version": __import__("torch").__version__},
    }
    result["ratio (Tailor ÷ PyTorch examples/s)"] = result["tailor"]["examplesPerSecond"] / result["pytorch"]["examplesPerSecond"]
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    name = "two_tower_torch.json" if a.history == "defaults" else "two_tower_torch_mean.json"
    with open(os.path.join(ROOT, "Benchmarks", "results", name), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "protocol"}, indent=2))


if __name__ == "__main__":
    main()
