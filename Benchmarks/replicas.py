#!/usr/bin/env python3
"""Two `tailor serve` replicas on one PostgreSQL store against one, on this machine (127.0.0.1).

  python3 Benchmarks/replicas.py        # ~3 minutes; writes Benchmarks/results/replicas.json

The model is serve_latency.py's ALS model (100,000 users × 20,000 items × 64 factors); the store
a fresh schema on a throw-away local PostgreSQL (`scripts/postgres-cluster`; or the server in
TAILOR_TEST_POSTGRES). Load is `wrk` (one thread per instance) on the same two cores as the
servers and PostgreSQL, so two replicas share the cores one had: the runs show what replication
costs and what it buys here, not scaling across machines.

Runs, each `--seconds` long, 4 connections in all:
- recommendations (exact, no cache) from one replica, then from two (two wrk, 2 connections each,
  one per replica; throughput summed, the worse p99 reported);
- events (POST /v1/events, batches of 500) into one replica, then into two;
- propagation: for 100 users, the time from POSTing a purchase of their top item to replica 1
  until replica 2 serves a ranking without it (polled every 5 ms).
"""
import argparse, http.client, json, os, random, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, run, factor_model
from serve_latency import READ_LUA, EVENTS_LUA, Server, script, wrk


def propagation(port_a, port_b, key, users, n=100):
    a, b = http.client.HTTPConnection("127.0.0.1", port_a), http.client.HTTPConnection("127.0.0.1", port_b)
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    times, lost = [], 0
    for i, u in enumerate(random.Random(5).sample(users, n)):
        b.request("GET", f"/v1/users/{u}/recommendations?k=10", headers=h)
        top = json.loads(b.getresponse().read())["items"][0]["item"]
        body = json.dumps({"events": [{"id": f"rep-{time.time_ns()}-{i}", "user": u, "item": top, "type": "purchase"}]})
        t0 = time.perf_counter()
        a.request("POST", "/v1/events", body=body, headers=h)
        a.getresponse().read()
        while True:
            b.request("GET", f"/v1/users/{u}/recommendations?k=10", headers=h)
            items = [x["item"] for x in json.loads(b.getresponse().read())["items"]]
            elapsed = time.perf_counter() - t0
            if top not in items or elapsed > 5:
                break
            time.sleep(0.005)
        if top in items:
            lost += 1
        times.append(elapsed * 1e3)
    times.sort()
    return {"users": n, "p50_ms": times[n // 2], "p99_ms": times[int(n * 0.99)], "max_ms": times[-1], "not_seen_within_5s": lost}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--port", type=int, default=18580)
    a = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    cluster, url = None, os.environ.get("TAILOR_TEST_POSTGRES")
    if not url:
        out = subprocess.run([os.path.join(ROOT, "scripts", "postgres-cluster"), "start"], capture_output=True, text=True, check=True).stdout
        env = dict(part.split("=", 1) for part in out.replace("export ", "").split())
        url, cluster = env["TAILOR_TEST_POSTGRES"], env["TAILOR_PG_DIR"]
    store = f"{url}?schema=replicas_{os.getpid()}&sslmode=disable"  # loopback: plain, as the numbers recorded
    try:
        model = factor_model()
        manifest = json.load(open(os.path.join(model, "manifest.json")))
        users_file, items_file = os.path.join(WORK, "serve-users.txt"), os.path.join(WORK, "serve-items.txt")
        open(users_file, "w").write("\n".join(manifest["users"]) + "\n")
        open(items_file, "w").write("\n".join(manifest["items"]) + "\n")
        key = run([TAILOR, "keys", "create", "--store", store, "--name", "bench", "--scopes", "read,write"])[0].strip()
        read = script(READ_LUA, users=users_file, key=key)
        events = [script(EVENTS_LUA, users=users_file, items=items_file, key=key, batch=500, tag=f"r{n}") for n in range(2)]
        results = {"users": len(manifest["users"]), "items": len(manifest["items"]), "cores": os.cpu_count(), "seconds_per_run": a.seconds,
                   "postgres": subprocess.run(["psql", url, "-Atc", "show server_version"], capture_output=True, text=True).stdout.strip(), "runs": []}

        def both(scripts_ports, connections):
            out = [None] * len(scripts_ports)
            def go(i, s, port): out[i] = wrk(s, port, connections, a.seconds)
            threads = [threading.Thread(target=go, args=(i, s, port)) for i, (s, port) in enumerate(scripts_ports)]
            for t in threads: t.start()
            for t in threads: t.join()
            return {"requests_per_second": sum(r["requests_per_second"] for r in out), "p50_ms": max(r["p50_ms"] for r in out),
                    "p99_ms": max(r["p99_ms"] for r in out), "errors": sum(r["errors"] + r["non2xx"] for r in out), "connections": connections * len(out)}

        def record(name, r, unit="req/s"):
            r["run"] = name
            results["runs"].append(r)
            print(f"{name:40s} {r['requests_per_second']:9.0f} {unit}  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  errors {r['errors']}", flush=True)

        one = Server(store, model, a.port, "--cache", "0")
        record("recommendations, one replica", both([(read, a.port)], 4))
        r = both([(events[0], a.port)], 4); r["events_per_second"] = r["requests_per_second"] * 500
        record("events (batches of 500), one replica", r)
        two = Server(store, model, a.port + 1, "--cache", "0")
        record("recommendations, two replicas", both([(read, a.port), (read, a.port + 1)], 2))
        r = both([(events[0], a.port), (events[1], a.port + 1)], 2); r["events_per_second"] = r["requests_per_second"] * 500
        record("events (batches of 500), two replicas", r)
        results["propagation"] = propagation(a.port, a.port + 1, key, manifest["users"])
        pr = results["propagation"]
        print(f"event on replica 1 → ranking on replica 2: p50 {pr['p50_ms']:.1f} ms, p99 {pr['p99_ms']:.1f} ms, max {pr['max_ms']:.1f} ms, "
              f"not seen within 5 s: {pr['not_seen_within_5s']}", flush=True)
        one.stop(); two.stop()
        out = os.path.join(ROOT, "Benchmarks", "results", "replicas.json")
        json.dump(results, open(out, "w"), indent=1)
    finally:
        if cluster:
            subprocess.run([os.path.join(ROOT, "scripts", "postgres-cluster"), "stop", cluster])


if __name__ == "__main__":
    main()
