"""One client's search latency on LOCOMO users already ingested by score_locomo.py --tag TAG:
each question, prefixed so no cache holds it, searched once over one kept-alive connection.
  python3 scripts/locomo_search_latency.py URL KEY LOCOMO_JSON TAG [--again]
--again repeats the same texts afterwards (answers the caches hold)."""
import http.client
import json
import re
import sys
import time
import urllib.parse

url, key, path, tag = sys.argv[1:5]
passes = 2 if "--again" in sys.argv[5:] else 1
data = json.load(open(path))
target = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(target.hostname, target.port)
headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
for label in ["new query text", "the same text again"][:passes]:
    latencies = []
    for conv in data:
        user = re.sub(r"[^A-Za-z0-9_-]", "-", f"locomo-{tag}-{conv['sample_id']}")
        for qa in conv["qa"]:
            body = json.dumps({"user_id": user, "query": "tell me again: " + qa["question"], "limit": 20})
            started = time.perf_counter()
            conn.request("POST", "/v1/search", body, headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
            latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    at = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]
    print(f"1 client, {len(latencies)} searches, {label}: p50 {at(0.5):.2f} p95 {at(0.95):.2f} p99 {at(0.99):.2f} ms")
