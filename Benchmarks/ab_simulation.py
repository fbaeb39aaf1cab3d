#!/usr/bin/env python3
"""The A/B statistics validated by simulation (Tailor's own code, `tailor-bench abtest`):

  python3 Benchmarks/ab_simulation.py            # ~5 s; writes Benchmarks/results/ab_simulation.json

- A/A tests (5 % conversion, 10,000 users per arm, 10,000 experiments): the z-test's
  false-positive rate must be near 5 %; the sample-ratio check's false alarms near 0.1 %.
- Planted relative lifts of 5, 10 and 20 %: the share of experiments that find them against the
  power the normal approximation predicts.
- Peeking after each of 50 looks (400 users per arm per look): how often the z-test ever rejects
  an A/A test, against the always-valid sequential p-value; and with a 20 % lift, how often and
  how early the sequential test stops.
- The report's real shape (2,000 users, each shown 10 items; a fifth of them click 15 times as
  often as the rest): A/A rejection of the per-exposure z-test against the delta method over
  users (what the report uses) and its sequential test at 20 looks; with the candidate's items
  clicked 10 % and 20 % more often, the power of that A/B test against team-draft interleaving
  on the same number of users (sign test over users, and its always-valid p-value).
"""
import json, os, subprocess, sys
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

subprocess.run(["swift", "build", "-c", "release", "--product", "tailor-bench"], cwd=ROOT, check=True)
out = subprocess.run([os.path.join(ROOT, ".build", "release", "tailor-bench"), "abtest", "--runs", "10000"], cwd=ROOT,
                     capture_output=True, text=True, check=True).stdout
rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
for r in rows:
    print(json.dumps(r))
os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
with open(os.path.join(ROOT, "Benchmarks", "results", "ab_simulation.json"), "w") as f:
    json.dump(rows, f, indent=1)
