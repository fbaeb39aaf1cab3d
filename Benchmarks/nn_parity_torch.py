#!/usr/bin/env python3
"""Tailor's neural engine against PyTorch (CPU): the same networks, from the same initial
weights, on the same data and minibatch order, must give the same loss curves.

  python3 Benchmarks/nn_parity_torch.py [--epochs 8] [--rtol 1e-4] [--atol 1e-6]

`tailor-bench nn-parity` (release build) creates two seeded tasks, trains them with Tailor and
writes the initial weights (PyTorch state_dict names, safetensors), the data, the minibatch
order of every epoch, Tailor's loss after every step and its final weights. This script loads
the initial weights into the equivalent PyTorch modules, trains them in the same order and
compares:
  * mlp:         Linear 16→64, ReLU, BatchNorm1d, Linear 64→64, ReLU, BatchNorm1d, Linear 64→1;
                 BCE with logits (pos_weight 1.5); AdamW (lr 5e-3, weight decay 0.01);
                 gradient clipping at norm 1; then an eval-mode pass over all rows (running
                 statistics);
  * transformer: Embedding(40, 32, padding_idx 0, sparse gradients, SparseAdam lr 1e-2) →
                 TransformerEncoderLayer(32, 2 heads, 64, dropout 0, post-norm) with a key
                 padding mask → masked mean pooling → Linear 32→3; cross-entropy; Adam lr 3e-3;
  * gru:         GRU 8→16 over 12 steps → last hidden state → Linear 16→1; MSE; SGD with
                 momentum 0.9 and weight decay 1e-4, learning rate 0.05 warmed up over 10 steps
                 then cosine-decayed (the schedule is recomputed here and compared step by step).
A step agrees when |tailor − torch| ≤ atol + rtol·|torch|; the script exits 1 if any step, the
evaluation loss or a final weight (max |Δ| ≤ 1e-4; the attention key bias is left out, see
weight_delta) does not. Float32 sums are ordered
differently in the two engines, so curves agree to rounding that grows slowly with the steps,
not bit for bit. Writes Benchmarks/results/nn_parity_torch.json.
"""
import argparse, json, math, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT

BENCH = os.path.join(ROOT, ".build", "release", "tailor-bench")


def build():
    subprocess.run(["swift", "build", "-c", "release", "--product", "tailor-bench"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def mlp_torch(torch, d, state):
    nn = torch.nn
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.BatchNorm1d(64), nn.Linear(64, 64), nn.ReLU(), nn.BatchNorm1d(64),
                          nn.Linear(64, 1))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    x, y, order = d["x"], d["y"], d["order"].long()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.01)
    pos = torch.tensor([1.5])
    losses = []
    model.train()
    for epoch in range(order.shape[0]):
        for start in range(0, order.shape[1], 128):
            idx = order[epoch, start:start + 128]
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[idx]), y[idx], pos_weight=pos)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        eval_loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y, pos_weight=pos).item()
    return losses, eval_loss, model.state_dict()


def transformer_torch(torch, d, state):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(40, 32, padding_idx=0, sparse=True)
            self.block = nn.TransformerEncoderLayer(32, 2, 64, 0.0, batch_first=True)
            self.head = nn.Linear(32, 3)

        def forward(self, tokens):
            pad = tokens == 0
            h = self.block(self.embedding(tokens), src_key_padding_mask=pad)
            keep = (~pad).float().unsqueeze(-1)
            return self.head((h * keep).sum(1) / keep.sum(1))

    model = Net()
    model.load_state_dict(state)
    tokens, labels, order = d["tokens"].long(), d["labels"].long(), d["order"].long()
    rest = [p for n, p in model.named_parameters() if not n.startswith("embedding.")]
    dense, sparse = torch.optim.Adam(rest, lr=3e-3), torch.optim.SparseAdam(list(model.embedding.parameters()), lr=1e-2)
    losses = []
    model.train()
    for epoch in range(order.shape[0]):
        for start in range(0, order.shape[1], 32):
            idx = order[epoch, start:start + 32]
            dense.zero_grad(); sparse.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(tokens[idx]), labels[idx])
            loss.backward()
            dense.step(); sparse.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        eval_loss = torch.nn.functional.cross_entropy(model(tokens), labels).item()
    return losses, eval_loss, model.state_dict()


def gru_torch(torch, d, state):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(8, 16, batch_first=True)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            _, last = self.gru(x)
            return self.head(last[0])

    model = Net()
    model.load_state_dict(state)
    x, y, order = d["x"], d["y"], d["order"].long()
    total = order.shape[0] * (order.shape[1] // 32)

    def rate(step):  # warm-up over 10 steps, then cosine decay to 0 at the last step (1-based steps)
        if step <= 10:
            return 0.05 * step / 10
        return 0.05 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - 10) / (total - 10))))

    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    losses, rates = [], []
    for epoch in range(order.shape[0]):
        for start in range(0, order.shape[1], 32):
            idx = order[epoch, start:start + 32]
            for group in opt.param_groups:
                group["lr"] = rate(len(losses) + 1)
            rates.append(opt.param_groups[0]["lr"])
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
    with torch.no_grad():
        eval_loss = torch.nn.functional.mse_loss(model(x), y).item()
    return losses, eval_loss, model.state_dict(), rates


def weight_delta(name, ours, theirs):
    """|ours − theirs|, leaving out the key part of attention's input-projection bias: its gradient is
    zero in exact arithmetic (softmax ignores a shift shared by all keys of a query), so in float32 it
    is rounding noise of ~1e-10, which Adam normalizes into steps of ~lr/100 with an arbitrary sign
    in either engine. The loss does not depend on it."""
    delta = (ours - theirs).abs()
    if name.endswith("self_attn.in_proj_bias"):
        width = delta.numel() // 3
        delta[width:2 * width] = 0
    return delta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--atol", type=float, default=1e-6)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    try:
        import torch
        from safetensors.torch import load_file
    except ImportError:
        print("skipped: PyTorch and safetensors are needed (pip install torch safetensors)")
        return 0
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    if not args.no_build:
        build()
    work = tempfile.mkdtemp(prefix="tailor-parity-")
    subprocess.run([BENCH, "nn-parity", "--dir", work, "--epochs", str(args.epochs)], check=True, stdout=subprocess.DEVNULL)
    tailor = json.load(open(os.path.join(work, "tailor.json")))
    report, ok = {"torch": torch.__version__, "epochs": args.epochs, "rtol": args.rtol, "atol": args.atol}, True
    for name, run in (("mlp", mlp_torch), ("transformer", transformer_torch), ("gru", gru_torch)):
        data = load_file(os.path.join(work, f"{name}_data.safetensors"))
        init = load_file(os.path.join(work, f"{name}_init.safetensors"))
        losses, eval_loss, final, *extra = run(torch, data, init)
        rate_diff = max((abs(a - b) for a, b in zip(extra[0], tailor[name]["learning_rates"])), default=0.0) if extra else 0.0
        ours = tailor[name]["losses"]
        assert len(ours) == len(losses), (len(ours), len(losses))
        diffs = [abs(a - b) for a, b in zip(ours, losses)]
        rel = [dd / max(abs(b), 1e-12) for dd, b in zip(diffs, losses)]
        bad = [i for i, (a, b) in enumerate(zip(ours, losses)) if abs(a - b) > args.atol + args.rtol * abs(b)]
        eval_diff = abs(tailor[name]["eval_loss"] - eval_loss)
        ours_final = load_file(os.path.join(work, f"{name}_final.safetensors"))
        weight_diff = max(float(weight_delta(k, ours_final[k], final[k].float()).max()) for k in ours_final)
        passed = not bad and eval_diff <= args.atol + args.rtol * abs(eval_loss) and weight_diff <= 1e-4 and rate_diff <= 1e-7
        ok &= passed
        report[name] = {"steps": len(losses), "first_loss": [ours[0], losses[0]], "last_loss": [ours[-1], losses[-1]],
                        "max_abs_diff": max(diffs), "max_rel_diff": max(rel), "steps_outside_tolerance": bad[:10],
                        "eval_loss": [tailor[name]["eval_loss"], eval_loss], "final_weight_max_abs_diff": weight_diff,
                        "learning_rate_max_abs_diff": rate_diff,
                        "passed": passed}
        print(f"{name:12s} {len(losses):4d} steps  loss {ours[0]:.4f}→{ours[-1]:.4f} (torch {losses[0]:.4f}→{losses[-1]:.4f})  "
              f"max |Δloss| {max(diffs):.2e}  max rel {max(rel):.2e}  eval {tailor[name]['eval_loss']:.5f} vs {eval_loss:.5f}  "
              f"max |Δweight| {weight_diff:.2e}  {'ok' if passed else 'MISMATCH'}")
    out = os.path.join(ROOT, "Benchmarks", "results", "nn_parity_torch.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    json.dump(report, open(out, "w"), indent=2)
    print(f"\nwrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
