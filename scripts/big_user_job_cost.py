"""What a job costs for a user with a long memory against a new user (issue 19: ≤ 1.5×).
Gives one user FACTS facts and TURNS turns through ordinary jobs (20 turns a job, FACTS/JOBS of
them naming a new dog), then times JOBS_MEASURED jobs of the same shape as the load tool's
(a new dog and a line about the park) one at a time, alternating between that user and a user
seen for the first time: submit → `completed` by long poll, and the server's own
submitted → finished times. Prints p50 and p95 of both and the ratios.
  python3 scripts/big_user_job_cost.py URL KEY [--facts 5000] [--turns 20000] [--measured 100] [--likes]
--likes: the long memory's facts are things the user likes ("I like ripaw."), which all land in
the favourites summary, instead of dogs."""
import concurrent.futures
import http.client
import json
import sys
import time
import urllib.parse
import uuid
from datetime import datetime

url, key = sys.argv[1:3]


def option(name, default):
    args = sys.argv[3:]
    return int(args[args.index(name) + 1]) if name in args else default


FACTS, TURNS, MEASURED = option("--facts", 5000), option("--turns", 20000), option("--measured", 100)
TURNS_PER_JOB = 20
target = urllib.parse.urlparse(url)
headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
run = uuid.uuid4().hex[:8]


def call(conn, method, path, body=None):
    conn.request(method, path, None if body is None else json.dumps(body), headers)
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise SystemExit(f"{method} {path} answered {response.status}: {data[:300]!r}")
    return json.loads(data)


def name(n):
    letters = ""
    while True:
        letters = chr(ord("a") + n % 26) + letters
        n //= 26
        if n == 0:
            return "Ri" + letters


def submit_and_wait(conn, user, messages):
    started = time.perf_counter()
    job = call(conn, "POST", "/v1/extractions", {"user_id": user, "messages": messages})["job_id"]
    while True:
        status = call(conn, "GET", f"/v1/jobs/{job}?wait=30")
        if status["status"] not in ("queued", "running"):
            break
    elapsed = (time.perf_counter() - started) * 1000
    if status["status"] != "completed":
        raise SystemExit(f"job {job} ended {status['status']}: {status}")
    at = lambda field: datetime.fromisoformat(status[field].replace("Z", "+00:00"))
    server = (at("finished_at") - at("submitted_at")).total_seconds() * 1000
    return elapsed, server


LIKES = "--likes" in sys.argv[3:]


def fact_line(thing):
    return f"I like {thing.lower()}." if LIKES else f"I have a dog called {thing}."


big = f"big-{run}"
jobs = TURNS // TURNS_PER_JOB
dogs_per_job = FACTS // jobs


def seed_job(n):
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
    messages = [{"role": "user", "content": fact_line(name(n * dogs_per_job + d))}
                for d in range(dogs_per_job)]
    messages += [{"role": "user", "content": f"Today we played in the park, game {n}-{t}."}
                 for t in range(TURNS_PER_JOB - dogs_per_job)]
    submit_and_wait(conn, big, messages)


started = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(seed_job, range(jobs)))
conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
facts = call(conn, "GET", f"/v1/users/{big}/facts")
facts = facts.get("facts", facts) if isinstance(facts, dict) else facts
print(f"seeded {big}: {jobs} jobs, {jobs * TURNS_PER_JOB} turns, {len(facts)} live facts "
      f"in {time.perf_counter() - started:.1f} s")

timings = {"long memory": [], "new user": []}
for n in range(MEASURED):
    for label, user in (("long memory", big), ("new user", f"new-{run}-{n}")):
        messages = [{"role": "user", "content": f"I have a dog called {name(10_000_000 + 2 * n + (label == 'new user'))}."},
                    {"role": "user", "content": "Today we played in the park."}]
        timings[label].append(submit_and_wait(conn, user, messages))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


summary = {}
for label, samples in timings.items():
    client, server = [s[0] for s in samples], [s[1] for s in samples]
    summary[label] = (pct(client, 0.5), pct(client, 0.95), pct(server, 0.5), pct(server, 0.95))
    print(f"{label:11}: submit→completed p50 {summary[label][0]:.1f} p95 {summary[label][1]:.1f} ms; "
          f"server submitted→finished p50 {summary[label][2]:.1f} p95 {summary[label][3]:.1f} ms ({len(samples)} jobs)")
ratios = [a / b for a, b in zip(summary["long memory"], summary["new user"])]
print("ratio long/new: client p50 %.2f× p95 %.2f×; server p50 %.2f× p95 %.2f×" % tuple(ratios))
