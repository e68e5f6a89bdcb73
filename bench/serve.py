"""Serving benchmark: simulated raters (join, then next -> submit loops) against gunicorn + PostgreSQL.

Measures, in one run and against the same server process, twice:
  * saturated (clients send the next request as soon as the last one answered): the rater
    loop's judgments/s and requests/s, p50/p99 of GET next and POST judgment, and the same
    for a bare endpoint of the same app (GET /healthz: one SELECT 1 and a broker ping) at the
    same concurrency; the ratio of the two throughputs is the figure to compare;
  * paced (each rater reads for ``--think`` seconds, +-50%, between items, and raters arrive
    spread over the first ``--think`` seconds; people take far longer): latency at that
    concurrency, for raters and for the bare endpoint.

    .venv/bin/python bench/serve.py --raters 64 --seconds 20

It creates (and drops first) its own database, ``eval_bench_serve`` by default. Clients run
in several processes (threads in one Python process would measure the client's GIL, not the
server); each process keeps one HTTP/1.1 connection per simulated rater.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def server_env(db_url: str) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13"),
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/13"),
        "THROTTLE_JOIN": "100000/minute", "THROTTLE_SUBMIT": "100000/minute",
        "DB_CONN_MAX_AGE": "600", "LOG_LEVEL": "ERROR", "DJANGO_SETTINGS_MODULE": "evalplatform.settings",
    })
    env.pop("SECRET_KEY", None)  # plain HTTP on localhost: no production redirects
    return env


def prepare(db_url: str, dbname: str, briefs: int, target: int) -> None:
    admin = "postgres://postgres@127.0.0.1:5432/postgres"
    for sql in (f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)', f'CREATE DATABASE "{dbname}"'):
        subprocess.run(["psql", admin, "-qc", sql], check=True)
    env = server_env(db_url)
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup = f"""
from annotations.models import Candidate, Condition, Brief
from annotations.services.studies import study_create, panel_create
from annotations.services.pairing import study_open
s = study_create(slug="bench", task="pairwise", criteria=["overall"], target_per_item={target},
                 attention_check_rate=0.1, min_seconds=0)
conds = [Condition.objects.create(study=s, name=n, kind=k) for n, k in
         (("base", "base"), ("tuned", "fine_tuned"), ("steered", "steered"))]
for b in range({briefs}):
    brief = Brief.objects.create(study=s, external_id=f"b{{b}}", text=f"Write a headline for product {{b}}.")
    Candidate.objects.bulk_create([Candidate(study=s, brief=brief, condition=c, sample_index=i,
                                             text=f"Headline {{i}} for product {{b}}, a fresh take {{c.pk * 31 + i}}")
                                   for c in conds for i in range(3)])
print(study_open(study=s))
panel_create(study=s, name="crowd", kind="crowd", completion_code="BENCH")
"""
    subprocess.run([PY, "manage.py", "shell", "-c", setup], cwd=ROOT, env=env, check=True)
    # Planner statistics for the freshly loaded tables, as autovacuum would gather soon after.
    subprocess.run(["psql", db_url, "-qc", "ANALYZE"], check=True)


class Conn:
    """One keep-alive HTTP connection with a cookie jar (session + CSRF)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body=None) -> tuple[int, bytes, float]:
        headers = {"Host": "127.0.0.1"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            if "csrftoken" in self.cookies:
                headers["X-CSRFToken"] = self.cookies["csrftoken"]
        start = time.perf_counter()
        for attempt in range(2):
            try:
                self.http.request(method, path, body=data, headers=headers)
                response = self.http.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.http.close()
                self.http = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        elapsed = time.perf_counter() - start
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, payload, elapsed


def pause(think: float) -> None:
    if think:
        time.sleep(think * random.uniform(0.5, 1.5))


def rater_loop(port: int, deadline: float, prefix: str, out: dict, think: float = 0.0) -> None:
    if think:
        time.sleep(random.uniform(0, think))  # people arrive over time, not all in the same millisecond
    while time.time() < deadline:
        conn = Conn(port)
        status, body, _ = conn.request("POST", "/api/rate/bench/join/",
                                       {"external_id": f"{prefix}-{uuid.uuid4().hex[:8]}", "consent": True})
        if status not in (200, 201):
            out["errors"].append(f"join {status} {body[:100]!r}")
            return
        while time.time() < deadline:
            status, body, t = conn.request("GET", "/api/rate/bench/next/")
            out["next"].append(t)
            if status == 204:
                break
            if status != 200:
                out["errors"].append(f"next {status} {body[:100]!r}")
                continue
            item = json.loads(body)
            status, body, t = conn.request("POST", f"/api/rate/assignments/{item['assignment']}/judgments/",
                                           {"client_key": uuid.uuid4().hex, "choices": {"overall": "left"},
                                            "seconds": 5})
            out["submit"].append(t)
            if status == 201:
                out["judgments"] += 1
            else:
                out["errors"].append(f"submit {status} {body[:100]!r}")
            pause(think)


def bare_loop(port: int, deadline: float, path: str, out: dict, think: float = 0.0) -> None:
    if think:
        time.sleep(random.uniform(0, think))
    conn = Conn(port)
    while time.time() < deadline:
        status, body, t = conn.request("GET", path)
        out["bare"].append(t)
        if status != 200:
            out["errors"].append(f"bare {status} {body[:100]!r}")
        pause(think / 2)  # a rater makes two requests per item


def client_process(kind: str, port: int, n: int, start_at: float, seconds: float, index: int, path: str, queue,
                   think: float):
    outs = []
    threads = []
    while time.time() < start_at:
        time.sleep(0.005)
    deadline = start_at + seconds
    for k in range(n):
        out = {"next": [], "submit": [], "bare": [], "judgments": 0, "errors": []}
        outs.append(out)
        target = (rater_loop, (port, deadline, f"p{index}t{k}", out, think)) if kind == "rater" else \
            (bare_loop, (port, deadline, path, out, think))
        threads.append(threading.Thread(target=target[0], args=target[1]))
    [t.start() for t in threads]
    [t.join() for t in threads]
    merged = {"next": [], "submit": [], "bare": [], "judgments": 0, "errors": []}
    for out in outs:
        for key in ("next", "submit", "bare", "errors"):
            merged[key] += out[key]
        merged["judgments"] += out["judgments"]
    queue.put(merged)


def run(kind: str, port: int, concurrency: int, processes: int, seconds: float, path: str = "/healthz",
        think: float = 0.0) -> dict:
    queue = mp.Queue()
    start_at = time.time() + 1.0
    per = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    procs = [mp.Process(target=client_process, args=(kind, port, n, start_at, seconds, i, path, queue, think))
             for i, n in enumerate(per) if n]
    [p.start() for p in procs]
    results = [queue.get() for _ in procs]
    [p.join() for p in procs]
    total = {"next": [], "submit": [], "bare": [], "judgments": 0, "errors": []}
    for r in results:
        for key in ("next", "submit", "bare", "errors"):
            total[key] += r[key]
        total["judgments"] += r["judgments"]
    total["seconds"] = seconds
    return total


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raters", type=int, default=64, help="Concurrent simulated raters (and bare clients).")
    parser.add_argument("--seconds", type=float, default=20.0, help="Duration of each measurement.")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes.")
    parser.add_argument("--threads", type=int, default=8, help="Threads per gunicorn worker (gthread).")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--briefs", type=int, default=60)
    parser.add_argument("--target", type=int, default=10, help="Judgments per item per panel.")
    parser.add_argument("--db", default="eval_bench_serve")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--bare-path", default="/healthz")
    parser.add_argument("--think", type=float, default=2.0,
                        help="Paced phase: seconds a rater reads each item (+-50%%); 0 skips the phase.")
    args = parser.parse_args()

    db_url = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    print(f"preparing database {args.db} ...", flush=True)
    prepare(db_url, args.db, args.briefs, args.target)
    server = subprocess.Popen(
        [str(Path(PY).parent / "gunicorn"), "evalplatform.wsgi:application", "--bind", f"127.0.0.1:{args.port}",
         "--workers", str(args.workers), "--threads", str(args.threads), "--worker-class", "gthread",
         "--keep-alive", "30", "--log-level", "warning"],
        cwd=ROOT, env=server_env(db_url), start_new_session=True)
    try:
        for _ in range(100):
            try:
                if Conn(args.port).request("GET", args.bare_path)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        run("bare", args.port, 8, 2, 2.0, args.bare_path)  # warm-up: imports, connections
        run("rater", args.port, 8, 2, 2.0)
        bare = run("bare", args.port, args.raters, args.client_processes, args.seconds, args.bare_path)
        rater = run("rater", args.port, args.raters, args.client_processes, args.seconds)
        paced = paced_bare = None
        if args.think:
            paced_bare = run("bare", args.port, args.raters, args.client_processes, args.seconds, args.bare_path,
                             think=args.think)
            paced = run("rater", args.port, args.raters, args.client_processes, args.seconds, think=args.think)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    loop = rater["next"] + rater["submit"]
    bare_rps = len(bare["bare"]) / bare["seconds"]
    rater_rps = len(loop) / rater["seconds"]
    jps = rater["judgments"] / rater["seconds"]
    print(f"\n{args.raters} concurrent clients, {args.seconds:.0f} s per phase, gunicorn {args.workers}x{args.threads} "
          f"gthread, PostgreSQL; {os.cpu_count()} CPUs shared by server, database and clients "
          f"(load average {os.getloadavg()[0]:.1f} at the end)")
    print("saturated (no pause between requests):")
    report_line(f"bare {args.bare_path}", bare["bare"], bare_rps)
    report_line("rater loop (next+submit)", loop, rater_rps)
    report_line("  GET next", rater["next"])
    report_line("  POST judgment", rater["submit"])
    print(f"  judgments/s {jps:.1f}")
    ratio = rater_rps / bare_rps
    print(f"  ratio rater requests/s : bare requests/s = {ratio:.2f}   (judgments/s : bare requests/s = "
          f"{jps / bare_rps:.2f})")
    p99 = pct(loop, 99)
    if paced:
        paced_loop = paced["next"] + paced["submit"]
        print(f"paced (each rater reads {args.think:g} s +-50% per item):")
        report_line(f"bare {args.bare_path}", paced_bare["bare"], len(paced_bare["bare"]) / args.seconds)
        report_line("rater loop (next+submit)", paced_loop, len(paced_loop) / args.seconds)
        report_line("  GET next", paced["next"])
        report_line("  POST judgment", paced["submit"])
        print(f"  judgments/s {paced['judgments'] / args.seconds:.1f}")
        p99 = pct(paced_loop, 99)
    errors = bare["errors"] + rater["errors"] + (paced["errors"] + paced_bare["errors"] if paced else [])
    print(f"errors: {len(errors)}" + (f"  e.g. {errors[:3]}" if errors else ""))
    print(f"targets: rater p99 < 100 ms ({'paced' if paced else 'saturated'}): {'met' if p99 < 100 else 'NOT met'} "
          f"({p99:.0f} ms); >= 40% of bare throughput: {'met' if ratio >= 0.4 else 'NOT met'} ({ratio:.0%})")


def report_line(label: str, samples: list, rps: float | None = None) -> None:
    rate = f"{rps:8.1f} req/s" if rps is not None else " " * 14
    print(f"  {label:<28} {rate}   p50 {pct(samples, 50):7.1f} ms   p99 {pct(samples, 99):7.1f} ms   n={len(samples)}")

if __name__ == "__main__":
    main()
