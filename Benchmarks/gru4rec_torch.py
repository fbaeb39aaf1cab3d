#!/usr/bin/env python3
"""GRU4Rec: Tailor against the same network in PyTorch (CPU), side by side, same data and recipe.

  python3 Benchmarks/gru4rec_torch.py [--no-build] [--data LastFM] [--epochs 10] [--seed 1] [--repeats 3] [--torch-variant steps|fused]

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
The PyTorch side runs the recurrence step by step with the reset mask (the input projections
of all steps in one product first; `--torch-variant steps`, the default), or with
`--torch-variant fused` through `nn.GRU`'s own loop over packed sequences (each sequence's real
items only, from a zero state: the same function, PyTorch's fastest way to it). Tailor runs the
recurrence as one fused op (`gruSequence`: the loop through time inside, padding steps skipped,
batch rows split between the two threads, the weight gradient one product over all steps).

Timed: Tailor's fitting seconds from its report (building batches and, at the end, every user's
vector included); PyTorch's epoch loop alone (batches built before the clock starts). Each side
runs --repeats times, alternating, and each side's fastest run counts (the host's speed drifts).
Writes Benchmarks/results/gru4rec_torch_DATA.json.
"""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sasrec_torch import Windows, train_and_score, cli

DIM, HIDDEN, DROPOUT, BATCH, LR = 64, 128, 0.3, 16, 0.005


def torch_worker(data, epochs, out, seed=1, variant="steps"):
    if variant not in ("steps", "fused"):
        sys.exit(f"--torch-variant must be steps or fused, got {variant}")
    import torch, torch.nn as nn
    w = Windows(data, seed)

    class GRU4Rec(nn.Module):
        def __init__(self):
            super().__init__()
            self.item_embedding = nn.Embedding(w.n_items + 1, DIM, padding_idx=0)
            nn.init.normal_(self.item_embedding.weight, std=0.02)
            with torch.no_grad():
                self.item_embedding.weight[0].zero_()
            self.gru = nn.GRU(DIM, HIDDEN, batch_first=True)
            self.output = nn.Linear(HIDDEN, DIM)
            self.dropout = nn.Dropout(DROPOUT)

        def forward(self, seq):
            return self.fused(seq) if variant == "fused" else self.steps(seq)

        def fused(self, seq):
            """nn.GRU's own loop over each sequence's real items (packed, so from zeros at the
            first item, as the reset gives): left-padded rows turned right-padded, packed, and
            the states put back at their columns, zeros at padding."""
            b, t = seq.shape
            lengths = (seq != 0).sum(1)
            shift = (t - lengths).unsqueeze(1)
            columns = torch.arange(t).unsqueeze(0)
            right = seq.gather(1, (columns + shift) % t)
            x = self.dropout(self.item_embedding(right))
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
            out, _ = self.gru(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)
            states = out.gather(1, ((columns - shift) % t).unsqueeze(-1).expand(-1, -1, HIDDEN))
            return self.output(states * (seq != 0).unsqueeze(-1).float())

        def steps(self, seq):
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
    train_and_score(w, model, lambda: model.item_embedding.weight[1:], epochs, BATCH, LR, DIM, out)


if __name__ == "__main__":
    cli("gru4rec", torch_worker, __doc__, data="LastFM", epochs=10)
