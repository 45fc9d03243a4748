"""Keep requests going through nginx until told to stop; count what failed.

    python3 load.py URL HOST CONNECTIONS STOPFILE

Each of CONNECTIONS threads sends GET URL (Host: HOST) over one keep-alive
connection, again and again, until STOPFILE exists. A request fails when
connecting, sending or reading fails, when it takes over 60 s, or when the
answer is not 2xx; the thread then reconnects. At the end it prints
`SENT FAILED` and, on stderr, the first few failures; with LOAD_FAILURE_TIMES
set to a file, the time of every failure (seconds since the epoch, one per
line) goes there too. (wrk cannot be stopped
on a signal with its summary, and a fixed duration may end before the
upgrade does.)
"""
import http.client
import os
import sys
import threading
import time
from urllib.parse import urlsplit

url, host, conns, stopfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
parts = urlsplit(url)
lock = threading.Lock()
sent = failed = 0
failures = []
failure_times = []


def worker():
    global sent, failed
    conn = None
    while not os.path.exists(stopfile):
        ok, why = False, ""
        try:
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
            conn.request("GET", parts.path, headers={"Host": host})
            resp = conn.getresponse()
            resp.read()
            ok = 200 <= resp.status < 300
            why = f"HTTP {resp.status}"
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            why = f"{type(e).__name__}: {e}"
            if conn is not None:
                conn.close()
            conn = None
        with lock:
            sent += 1
            if not ok:
                failed += 1
                failure_times.append(time.time())
                if len(failures) < 5:
                    failures.append(f"{time.strftime('%T')} {why}")


threads = [threading.Thread(target=worker) for _ in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sent, failed)
if os.environ.get("LOAD_FAILURE_TIMES"):
    with open(os.environ["LOAD_FAILURE_TIMES"], "w") as f:
        f.writelines(f"{t:.3f}\n" for t in failure_times)
for f in failures:
    print(f, file=sys.stderr)
