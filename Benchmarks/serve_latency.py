#!/usr/bin/env python3
"""`tailor serve` under load, on this machine, against 127.0.0.1 only.

  python3 Benchmarks/serve_latency.py              # ~5 minutes; writes Benchmarks/results/serve_latency.json
  python3 Benchmarks/serve_latency.py --soak 600   # adds a 10-minute soak (mixed reads and events, RSS sampled)

The model is an ALS model of 100,000 users × 20,000 items × 64 factors (bench_common.factor_model).
The load generator is `wrk` (Debian's package) with one thread, on the same two cores as the
server, so the figures include its cost. Closed loop: each of C connections sends its next
request when the last is answered; the throughput at a connection count is what the server
sustains at that concurrency, with the latency percentiles wrk records.

Runs, each `--seconds` long:
- recommendations (k 10, seen items excluded) for users drawn uniformly from all 100,000: cache
  off (`--cache 0`), exact ranking; then the same with the HNSW index (`--ann hnsw`);
- the per-request time limit's cost (a task group per request): exact without the cache and
  cache hits, at 4 connections, with the default limit (10 s) and with none (`--request-timeout 0`);
- exact, no cache, with a ranker (`--ranker`, a click model trained on 300,000 of the log's
  interactions with sampled negatives) re-ordering each request's top 100 (`--ranker-shortlist`);
- the same from a hot set of 2,000 users with the cache on, after one warm-up pass (cache hits);
- events: POST /v1/events in batches of 500 with unique ids (every event is stored);
- live updates: for 300 users, the time from sending an event (a purchase of their top item) to
  receiving a ranking without that item (one POST then one GET on a kept-alive connection).
- with --soak S: S seconds of recommendations (4 connections) while a second wrk posts batches of
  50 events (1 connection); the server's RSS every 10 s, its least-squares slope in MiB per
  minute after the first minute, and the error count.
"""
import argparse, http.client, json, os, random, re, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, WORK, TAILOR, run, factor_model

READ_LUA = r"""
local users = {}
for line in io.lines("%(users)s") do users[#users + 1] = line end
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  return wrk.format("GET", "/v1/users/" .. users[math.random(#users)] .. "/recommendations?k=10")
end
"""

EVENTS_LUA = r"""
local users, items = {}, {}
for line in io.lines("%(users)s") do users[#users + 1] = line end
for line in io.lines("%(items)s") do items[#items + 1] = line end
local counter = 0
local headers = {["Authorization"] = "Bearer %(key)s", ["Content-Type"] = "application/json"}
request = function()
  counter = counter + 1
  local parts = {}
  for i = 1, %(batch)d do
    parts[i] = string.format('{"id":"%(tag)s-%%d-%%d","user":"%%s","item":"%%s","type":"click"}', counter, i,
                             users[math.random(#users)], items[math.random(#items)])
  end
  return wrk.format("POST", "/v1/events", headers, '{"events":[' .. table.concat(parts, ",") .. ']}')
end
"""

DONE_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('JSON{"requests":%d,"seconds":%.3f,"errors":%d,"non2xx":%d,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def wrk(script, port, connections, seconds):
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", script, f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True).stdout
    m = re.search(r"JSON(\{.*\})", out)
    if not m:
        sys.exit("wrk failed:\n" + out)
    r = json.loads(m.group(1))
    r["connections"] = connections
    r["requests_per_second"] = r["requests"] / r["seconds"]
    return r


def rss_mib(pid, field="VmRSS"):
    """Resident memory in MiB: VmRSS (all), RssAnon (heap: the server's own data) or RssFile
    (file pages: the memory-mapped SQLite store, reclaimable by the kernel)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024


def slope(samples, after):
    """Least-squares slope of (seconds, MiB) samples taken at or after `after`, in MiB per minute."""
    late = [(t, m) for t, m in samples if t >= after]
    n = len(late)
    mt, mm = sum(t for t, _ in late) / n, sum(m for _, m in late) / n
    return sum((t - mt) * (m - mm) for t, m in late) / max(1e-9, sum((t - mt) ** 2 for t, _ in late)) * 60


class Server:
    def __init__(self, store, model, port, *options):
        self.port = port
        self.p = subprocess.Popen([TAILOR, "serve", "--store", store, "--model", model, "--port", str(port), "--log-level", "warning"] + list(options),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        sys.exit("the server did not become ready")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=30)


def script(text, **values):
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, dir=WORK)
    f.write(text % values + DONE_LUA)
    f.close()
    return f.name


def live_updates(port, key, users, n=300):
    c = http.client.HTTPConnection("127.0.0.1", port)
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    times, wrong = [], 0
    for i, u in enumerate(random.Random(3).sample(users, n)):
        c.request("GET", f"/v1/users/{u}/recommendations?k=10", headers=h)
        top = json.loads(c.getresponse().read())["items"][0]["item"]
        body = json.dumps({"events": [{"id": f"live-{time.time_ns()}-{i}", "user": u, "item": top, "type": "purchase"}]})
        t0 = time.perf_counter()
        c.request("POST", "/v1/events", body=body, headers=h)
        c.getresponse().read()
        c.request("GET", f"/v1/users/{u}/recommendations?k=10", headers=h)
        items = [x["item"] for x in json.loads(c.getresponse().read())["items"]]
        times.append((time.perf_counter() - t0) * 1e3)
        wrong += top in items
    times.sort()
    return {"users": n, "p50_ms": times[n // 2], "p99_ms": times[int(n * 0.99)], "max_ms": times[-1], "not_reflected": wrong}


def ranker_model():
    """A click model (deep & cross network, the ranker's defaults) trained on the first 300,000
    interactions of the serving model's log, 4 sampled negatives each, 2 epochs."""
    path = os.path.join(WORK, "serve-ranker")
    if os.path.exists(os.path.join(path, "manifest.json")):
        return path
    factor_model()
    log, part = os.path.join(WORK, "ann-log.csv"), os.path.join(WORK, "serve-ranker-log.csv")
    with open(log) as f, open(part, "w") as out:
        for n, line in enumerate(f):
            if n > 300_000:
                break
            out.write(line)
    run([TAILOR, "train", part, "--model", "ranker", "--set", "epochs=2", "--output", path, "--progress", "none"])
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--soak", type=int, default=0, help="seconds of soak (600 for the issue's 10 minutes)")
    p.add_argument("--port", type=int, default=18480)
    p.add_argument("--soak-only", action="store_true", help="only the soak, into the existing results file")
    p.add_argument("--time-limit-only", action="store_true", help="only the time limit's cost, replacing those runs in the existing results file")
    a = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    model = factor_model()
    manifest = json.load(open(os.path.join(model, "manifest.json")))
    users_file, items_file = os.path.join(WORK, "serve-users.txt"), os.path.join(WORK, "serve-items.txt")
    open(users_file, "w").write("\n".join(manifest["users"]) + "\n")
    open(items_file, "w").write("\n".join(manifest["items"]) + "\n")
    hot_file = os.path.join(WORK, "serve-hot-users.txt")
    open(hot_file, "w").write("\n".join(random.Random(1).sample(manifest["users"], 2000)) + "\n")
    store = os.path.join(WORK, "serve.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(store + suffix):
            os.remove(store + suffix)
    key = run([TAILOR, "keys", "create", "--store", store, "--name", "bench", "--scopes", "read,write"])[0].strip()
    results = {"users": len(manifest["users"]), "items": len(manifest["items"]), "factors": 64, "wrk_threads": 1, "cores": os.cpu_count(),
               "seconds_per_run": a.seconds, "runs": []}

    def record(name, r):
        r["run"] = name
        results["runs"].append(r)
        print(f"{name:34s} c={r['connections']:3d}  {r['requests_per_second']:8.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  max {r['max_ms']:.1f} ms  errors {r['errors'] + r['non2xx']}", flush=True)

    read_all = script(READ_LUA, users=users_file, key=key)
    read_hot = script(READ_LUA, users=hot_file, key=key)
    results_path = os.path.join(ROOT, "Benchmarks", "results", "serve_latency.json")
    if a.soak_only:
        previous = json.load(open(results_path))
        results = {**previous, "soak": None}
    if a.time_limit_only:
        previous = json.load(open(results_path))
        results = {**previous, "runs": [r for r in previous["runs"] if not r["run"].startswith("time limit")]}
    for label, options in ([] if a.soak_only or a.time_limit_only else (("exact, no cache", ["--cache", "0"]), ("hnsw, no cache", ["--cache", "0", "--ann", "hnsw"]))):
        s = Server(store, model, a.port, *options)
        results[f"rss_mib_{label.split(',')[0]}"] = rss_mib(s.p.pid)
        for c in (2, 4, 8, 32):
            record(f"recommendations, {label}", wrk(read_all, a.port, c, a.seconds))
        s.stop()
    if not a.soak_only:
        # The time limit's cost, side by side: the same runs with the default limit and without.
        for limit in ("10", "0"):
            s = Server(store, model, a.port, "--cache", "0", "--request-timeout", limit)
            record(f"time limit {limit} s: exact, no cache", wrk(read_all, a.port, 4, a.seconds))
            s.stop()
            s = Server(store, model, a.port, "--request-timeout", limit)
            wrk(read_hot, a.port, 4, 5)  # warm the cache
            record(f"time limit {limit} s: hot users, cache", wrk(read_hot, a.port, 4, a.seconds))
            s.stop()
    if not a.soak_only and not a.time_limit_only:
        ranker = ranker_model()
        s = Server(store, model, a.port, "--cache", "0", "--ranker", ranker, "--ranker-shortlist", "100")
        for c in (2, 4):
            record("recommendations, exact + ranker top 100", wrk(read_all, a.port, c, a.seconds))
        s.stop()
    s = Server(store, model, a.port)
    wrk(read_hot, a.port, 4, 5)  # warm the cache
    if a.time_limit_only:
        s.stop()
        results_done(results, results_path)
        return
    for c in ([] if a.soak_only else (4, 32)):
        record("recommendations, hot users, cache", wrk(read_hot, a.port, c, a.seconds))
    events = script(EVENTS_LUA, users=users_file, items=items_file, key=key, batch=500, tag=f"w{int(time.time())}")
    for c in ([] if a.soak_only else (1, 4)):
        r = wrk(events, a.port, c, a.seconds)
        r["events_per_second"] = r["requests_per_second"] * 500
        record("events, batches of 500", r)
        print(f"{'':34s} = {r['events_per_second']:.0f} events/s", flush=True)
    if not a.soak_only:
        results["live_update"] = live_updates(a.port, key, manifest["users"])
        print("live update (event sent → ranking without the item):", results["live_update"], flush=True)
    if a.soak:
        soak_events = script(EVENTS_LUA, users=users_file, items=items_file, key=key, batch=50, tag=f"soak{int(time.time())}")
        reader = subprocess.Popen(["wrk", "-t1", "-c4", f"-d{a.soak}s", "-s", read_all, f"http://127.0.0.1:{a.port}"], stdout=subprocess.PIPE, text=True)
        writer = subprocess.Popen(["wrk", "-t1", "-c1", f"-d{a.soak}s", "-s", soak_events, f"http://127.0.0.1:{a.port}"], stdout=subprocess.PIPE, text=True)
        samples, anon, files, t0 = [], [], [], time.time()
        while reader.poll() is None:
            t = time.time() - t0
            samples.append((t, rss_mib(s.p.pid))); anon.append((t, rss_mib(s.p.pid, "RssAnon"))); files.append((t, rss_mib(s.p.pid, "RssFile")))
            time.sleep(10)
        outs = [json.loads(re.search(r"JSON(\{.*\})", proc.communicate()[0]).group(1)) for proc in (reader, writer)]
        events_stored = outs[1]["requests"] * 50
        results["soak"] = {"seconds": a.soak, "reads": outs[0], "events": outs[1], "events_stored": events_stored,
                           "rss_mib": samples, "rss_anon_mib": anon, "rss_file_mib": files,
                           "rss_slope_mib_per_minute_after_1_min": slope(samples, 60),
                           "anon_slope_mib_per_minute_second_half": slope(anon, a.soak / 2),
                           "file_slope_mib_per_minute_second_half": slope(files, a.soak / 2),
                           "errors": sum(o["errors"] + o["non2xx"] for o in outs)}
        r = results["soak"]
        print(f"soak {a.soak}s: {outs[0]['requests']} reads, {events_stored} events, errors {r['errors']}; RSS {samples[0][1]:.0f} → {samples[-1][1]:.0f} MiB "
              f"(heap {anon[0][1]:.0f} → {anon[-1][1]:.0f}, file pages {files[0][1]:.0f} → {files[-1][1]:.0f}); second-half slopes: heap "
              f"{r['anon_slope_mib_per_minute_second_half']:.1f} MiB/min, file pages {r['file_slope_mib_per_minute_second_half']:.1f} MiB/min", flush=True)
    results["rss_mib_end"] = rss_mib(s.p.pid)
    s.stop()
    results_done(results, results_path)


def results_done(results, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
