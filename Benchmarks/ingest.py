#!/usr/bin/env python3
"""Ingest speed of `tailor ingest` into the embedded SQLite store, and into PostgreSQL.

  python3 Benchmarks/ingest.py               # ~2.4M events, 3 runs, median reported
  python3 Benchmarks/ingest.py --events 1e6  # another size
  python3 Benchmarks/ingest.py --postgres    # also into PostgreSQL, same file, same runs

With --postgres the same file goes, in the same run, into a fresh PostgreSQL schema on a
throw-away local cluster (`scripts/postgres-cluster`, fsync on, default settings; or the server
in TAILOR_TEST_POSTGRES), so the two stores do identical work on the same machine; the ratio is
PostgreSQL's events/s over SQLite's. Both keep every event idempotent by its key and commit one
transaction per 50,000-event batch.

Generates a synthetic event log (views, clicks, dwell, likes, shares, purchases with device,
platform and country; `tailor generate --events`), then times a fresh import into a new store
(the events/s `tailor ingest --report` measures: reading, parsing, keying, writing, committing)
and a repeated import of the same file into the filled store (idempotency: nothing is added).
Aim: ≥ 200,000 events/s on this machine. Writes Benchmarks/results/ingest.json.
"""
import argparse, json, os, statistics, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, build, run, load_json


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=float, default=2.4e6, help="approximate number of events")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--postgres", action="store_true", help="also ingest into PostgreSQL")
    a = p.parse_args()
    cluster = None
    pg_url = os.environ.get("TAILOR_TEST_POSTGRES")
    if a.postgres and not pg_url:
        out = subprocess.run([os.path.join(ROOT, "scripts", "postgres-cluster"), "start"], capture_output=True, text=True, check=True).stdout
        env = dict(part.split("=", 1) for part in out.replace("export ", "").split())
        pg_url, cluster = env["TAILOR_TEST_POSTGRES"], env["TAILOR_PG_DIR"]
    os.makedirs(WORK, exist_ok=True)
    if not a.no_build:
        build()
    interactions = int(a.events / 2)  # the generator emits about two events per interaction
    log = os.path.join(WORK, f"events-{interactions}.csv")
    if not os.path.exists(log):
        run([TAILOR, "generate", "--events", "--users", str(max(1000, interactions // 30)), "--items", "20000",
             "--interactions", str(interactions), "--seed", "3", "--output", log])
    fresh, again, pg_fresh, pg_again = [], [], [], []
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
        if pg_url:
            url = f"{pg_url}?schema=ingest_bench_{os.getpid()}_{r}&sslmode=disable"  # loopback: plain, as the numbers recorded
            run([TAILOR, "ingest", log, "--store", url, "--report", report])
            pg_first = load_json(report)
            run([TAILOR, "ingest", log, "--store", url, "--report", report])
            pg_second = load_json(report)
            assert pg_first["totals"] == first["totals"], f"PostgreSQL stored {pg_first['totals']}, SQLite {first['totals']}"
            assert pg_second["totals"]["events"] == pg_first["totals"]["events"], "re-import into PostgreSQL added events"
            pg_fresh.append(pg_first["eventsPerSecond"])
            pg_again.append(pg_second["eventsPerSecond"])
            print(f"         PostgreSQL: fresh {pg_first['eventsPerSecond']:,.0f} events/s ({pg_first['seconds']:.2f} s), "
                  f"repeat {pg_second['eventsPerSecond']:,.0f} events/s", flush=True)
    events = first["totals"]["events"]
    result = {"date": time.strftime("%Y-%m-%d"), "events_in_file": sum(s["rowsRead"] for s in first["sources"].values()),
              "events_stored": events, "fresh_events_per_second": {"median": statistics.median(fresh), "runs": fresh},
              "repeat_events_per_second": {"median": statistics.median(again), "runs": again}, "target": 200_000}
    if pg_fresh:
        result["postgres"] = {"fresh_events_per_second": {"median": statistics.median(pg_fresh), "runs": pg_fresh},
                              "repeat_events_per_second": {"median": statistics.median(pg_again), "runs": pg_again},
                              "fresh_ratio_to_sqlite": statistics.median(pg_fresh) / statistics.median(fresh),
                              "server": subprocess.run(["psql", pg_url, "-Atc", "show server_version"], capture_output=True, text=True).stdout.strip()}
    name = "ingest-postgres.json" if pg_fresh else "ingest.json"
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"\ningest: median {statistics.median(fresh):,.0f} events/s into a new store, "
          f"{statistics.median(again):,.0f} events/s re-importing (target ≥ 200,000); wrote {os.path.relpath(out)}")
    if pg_fresh:
        print(f"PostgreSQL: median {statistics.median(pg_fresh):,.0f} events/s fresh, {statistics.median(pg_again):,.0f} re-importing; "
              f"{result['postgres']['fresh_ratio_to_sqlite']:.2f}× SQLite's fresh rate")
    if cluster:
        subprocess.run([os.path.join(ROOT, "scripts", "postgres-cluster"), "stop", cluster])


if __name__ == "__main__":
    main()
