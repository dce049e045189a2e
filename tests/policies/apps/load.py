"""Send bounded HTTP requests from inside a task (its outbound TCP goes through the task's Envoy).

argv[1]: JSON {"url", "host", "count", "concurrency", "timeout", "headers"?}. Prints a JSON
list, one entry per request in sending order: status (0 = no HTTP answer), elapsed seconds,
and the response headers the tests read (x-envoy-overloaded, server).
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse

plan = json.loads(sys.argv[1])
url = urllib.parse.urlsplit(plan["url"])
results = [None] * int(plan["count"])
next_index = [0]
lock = threading.Lock()


def one(index):
    started = time.monotonic()
    entry = {"index": index, "status": 0, "headers": {}}
    try:
        connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=float(plan["timeout"]))
        headers = {"Host": plan["host"], "Connection": "close", **plan.get("headers", {})}
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        response.read()
        entry["status"] = response.status
        entry["headers"] = {
            k.lower(): v for k, v in response.getheaders() if k.lower() in ("x-envoy-overloaded", "server", "x-backend")
        }
        connection.close()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        entry["error"] = repr(exc)
    entry["elapsed"] = round(time.monotonic() - started, 3)
    results[index] = entry


def worker():
    while True:
        with lock:
            index = next_index[0]
            if index >= len(results):
                return
            next_index[0] += 1
        one(index)


threads = [threading.Thread(target=worker) for _ in range(max(1, int(plan.get("concurrency", 1))))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(results))
