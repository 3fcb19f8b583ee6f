"""Connection flood against a running `wangge serve`: N clients open a
connection and send half a request, never finishing their headers; the
script prints the server's resident memory and the time /healthz takes
before, during and after the flood.

    python3 benches/flood.py PID PORT N SETTLE_SECS

PID: the server's process id; SETTLE_SECS: wait this long first so the
start-up work (snapshot, tile cache) is done. N is capped by the open-file
limit of this shell.
"""
import resource
import socket
import sys
import time
import urllib.request

hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
pid, port, n, settle = (int(a) for a in sys.argv[1:5])


def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return None


def healthz_secs():
    t = time.time()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=60).read()
        return round(time.time() - t, 2)
    except Exception as e:  # the answer is the measurement
        return repr(e)


print("rss at start MiB", rss_mib())
time.sleep(settle)
print("rss before MiB", rss_mib(), "healthz s", healthz_secs())
socks, failed = [], 0
for _ in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.setblocking(False)
        try:
            s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            pass
        socks.append(s)
    except OSError:
        failed += 1
print("opened", len(socks), "failed", failed, "rss MiB", rss_mib(), "healthz during s", healthz_secs())
time.sleep(15)
print("after 15 s: rss MiB", rss_mib(), "healthz s", healthz_secs())
for s in socks:
    s.close()
time.sleep(15)
print("closed, after 15 s: rss MiB", rss_mib(), "healthz s", healthz_secs())
