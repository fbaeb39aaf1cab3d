#!/usr/bin/env python3
"""Ingest speed of `tailor ingest` into the embedded SQLite store.

  python3 Benchmarks/ingest.py               # ~2.4M events, 3 runs, median reported
  python3 Benchmarks/ingest.py --events 1e6  # another size

Generates a synthetic event log (views, clicks, dwell, likes, shares, purchases with device,
platform and country; `tailor generate --events`), then times a fresh import into a new store
(the events/s `tailor ingest --report` measures: reading, parsing, keying, writing, committing)
and a repeated import of the same file into the filled store (idempotency: nothing is added).
Aim: ≥ 200,000 events/s on this machine. Writes Benchmarks/results/ingest.json.
"""
import argparse, json, os, statistics, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import WORK, TAILOR, build, run, load_json


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=float, default=2.4e6, help="approximate number of events")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-build", action="store_true")
    a = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    if not a.no_build:
        build()
    interactions = int(a.events / 2)  # the generator emits about two events per interaction
    log = os.path.join(WORK, f"events-{interactions}.csv")
    if not os.path.exists(log):
        run([TAILOR, "generate", "--events", "--users", str(max(1000, interactions // 30)), "--items", "20000",
             "--interactions", str(interactions), "--seed", "3", "--output", log])
    fresh, again = [], []
    for r in range(a.runs):
        store = os.path.join(WORK, "ingest-bench.db")
        for suffix in ["", "-wal", "-shm"]:
            if os.path.exists(store + suffix):
                os.remove(store + suffix)
        report = os.path.join(WORK, "ingest-report.json")
        run([TAILOR, "ingest", log, "--store", store, "--report", report])
        first = load_json(report)
        fresh.append(first["eventsPerSecond"])
        run([TAILOR, "ingest", log, "--store", store, "--report", report])
        second = load_json(report)
        again.append(second["eventsPerSecond"])
        assert second["totals"]["events"] == first["totals"]["events"], "re-import added events"
        print(f"  run {r + 1}: fresh {first['eventsPerSecond']:,.0f} events/s ({first['seconds']:.2f} s), "
              f"repeat {second['eventsPerSecond']:,.0f} events/s, {first['totals']['events']:,} events stored", flush=True)
    events = first["totals"]["events"]
    result = {"date": time.strftime("%Y-%m-%d"), "events_in_file": sum(s["rowsRead"] for s in first["sources"].values()),
              "events_stored": events, "fresh_events_per_second": {"median": statistics.median(fresh), "runs": fresh},
              "repeat_events_per_second": {"median": statistics.median(again), "runs": again}, "target": 200_000}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ingest.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"\ningest: median {statistics.median(fresh):,.0f} events/s into a new store, "
          f"{statistics.median(again):,.0f} events/s re-importing (target ≥ 200,000); wrote {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
