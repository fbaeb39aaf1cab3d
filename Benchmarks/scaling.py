#!/usr/bin/env python3
"""How each cost grows with the log, on this machine: ingest, ALS fit, recommend-all, evaluate,
peak memory, and the server's p99, at 1M, 3M, 10M and 30M events (synthetic typed events,
`tailor generate --events`), into the embedded SQLite store.

  python3 Benchmarks/scaling.py                      # 1M, 3M, 10M, 30M (~40 minutes)
  python3 Benchmarks/scaling.py --sizes 1e6,3e6      # some sizes only (merged into the results)

Per size: users = events / 30, items = 20,000 (a catalogue that stops growing, as real ones
do; the generator makes ~2.4 events per interaction). Each step is one `tailor` process under
/usr/bin/time (peak RSS): ingest into a new store; `train --store --holdout random` (ALS, 64
factors, 15 iterations, 2 threads; the report's fit seconds); `recommend --all-users --k 10`;
`evaluate` (the recorded hold-out, every test user, AUC off); then `serve --cache 0` with `wrk`
(4 connections, 15 s) for its p99. Writes Benchmarks/results/scaling.json.
"""
import argparse, json, os, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, run
from serve_latency import READ_LUA, Server, script, wrk


def timed(cmd):
    t0 = time.time()
    _, peak = run(cmd, timed=True)
    return time.time() - t0, peak


def one(n, seconds, port):
    log = os.path.join(WORK, f"scale-{n}.csv")
    users = max(1000, n // 30)
    if not os.path.exists(log):
        run([TAILOR, "generate", "--events", "--users", str(users), "--items", "20000", "--interactions", str(int(n / 2.4)), "--seed", "11", "--output", log])
    store = os.path.join(WORK, f"scale-{n}.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(store + suffix):
            os.remove(store + suffix)
    row = {"events_target": n}
    report = os.path.join(WORK, f"scale-{n}-ingest.json")
    row["ingest_seconds"], row["ingest_peak_mib"] = timed([TAILOR, "ingest", log, "--store", store, "--report", report])
    row["events"] = json.load(open(report))["totals"]["events"]
    model = os.path.join(WORK, f"scale-{n}-als")
    treport = os.path.join(WORK, f"scale-{n}-train.json")
    row["train_seconds"], row["train_peak_mib"] = timed([TAILOR, "train", "--store", store, "--holdout", "random", "--model", "als", "--threads", "2",
                                                         "--progress", "none", "--output", model, "--report", treport])
    t = json.load(open(treport))
    row.update({"fit_seconds": t["secondsFitting"], "users": t["users"], "items": t["items"], "interactions": t["interactions"]})
    recs = os.path.join(WORK, f"scale-{n}-recs.csv")
    row["recommend_all_seconds"], row["recommend_all_peak_mib"] = timed([TAILOR, "recommend", "--model", model, "--all-users", "--k", "10",
                                                                         "--threads", "2", "--output", recs])
    os.remove(recs)
    row["evaluate_seconds"], row["evaluate_peak_mib"] = timed([TAILOR, "evaluate", "--model", model, "--no-auc", "--no-baseline"])
    users_file = os.path.join(WORK, f"scale-{n}-users.txt")
    open(users_file, "w").write("\n".join(json.load(open(os.path.join(model, "manifest.json")))["users"]) + "\n")
    key = run([TAILOR, "keys", "create", "--store", store, "--name", "bench", "--scopes", "read"])[0].strip()
    s = Server(store, model, port, "--cache", "0")
    r = wrk(script(READ_LUA, users=users_file, key=key), port, 4, seconds)
    s.stop()
    row.update({"serve_requests_per_second": r["requests_per_second"], "serve_p99_ms": r["p99_ms"], "serve_errors": r["errors"] + r["non2xx"]})
    row["store_mib"] = os.path.getsize(store) / 2**20
    print(json.dumps(row), flush=True)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1e6,3e6,1e7,3e7")
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--port", type=int, default=18680)
    a = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    out = os.path.join(ROOT, "Benchmarks", "results", "scaling.json")
    results = json.load(open(out)) if os.path.exists(out) else {"rows": []}
    for n in [int(float(x)) for x in a.sizes.split(",")]:
        row = one(n, a.seconds, a.port)
        results["rows"] = sorted([r for r in results["rows"] if r["events_target"] != n] + [row], key=lambda r: r["events_target"])
        results["date"] = time.strftime("%Y-%m-%d")
        json.dump(results, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
