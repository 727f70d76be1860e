#!/usr/bin/python3
"""Failover of a sharded stateful actor (issue 13), measured.

    bench/cluster_failover.py --rounds 3 > failover.json

Starts a private three-broker RabbitMQ cluster (scripts/broker.sh
cluster-start warren-fo, ports 5720..5722; WARREN_CLUSTER_PORT moves them)
and three `warren run` nodes sharing a sharded counter (the test plugin's
`test.counter`, `--shards` shards), publishes a paced load with publisher
confirms to the actor's name the whole time, and per round:

  kill9  `kill -9` of the node owning the most shards, restarted afterwards;
  stop   `kill -STOP` of the node owning the most shards, `kill -CONT` once
         its shards are taken over (or heartbeat + 10 s).

For every shard that moved: signal -> the survivor's "taking it over" (its
first delivery), -> "taken over in epoch E" (node logs, ms timestamps, UTC),
-> the first batch of epoch E in the changelog (a pika consumer tailing
`<actor>.log` on this machine: the new owner's first unit of work published
and confirmed), -> that batch in the new owner's own file (accepted: its
deliveries are acked next; the figure held against the target). Also: changelog records and bytes per input message (the
stream read from `first` at the end), each standby's lag behind the stream
(its file's `local_changelog.next_offset`, polled, against the time the
tail read each record), and at the end every key's count in every node's
file against what the broker confirmed (a mismatch exits 1).

One JSON document on stdout; progress on stderr. Uses only python3 and
Debian's python3-pika (run with /usr/bin/python3).
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

import pika

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def say(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


# --- the shard of a key (README.md, "The shard of a key") -----------------

M64 = (1 << 64) - 1


def stable_key_hash(key: bytes) -> int:
    h = 14695981039346656037
    for c in key:
        h ^= c
        h = (h * 1099511628211) & M64
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & M64
    return h ^ (h >> 31)


def jump_consistent_hash(k: int, buckets: int) -> int:
    b, j = -1, 0
    while j < buckets:
        b = j
        k = (k * 2862933555777941757 + 1) & M64
        j = int((b + 1) * (float(1 << 31) / float((k >> 33) + 1)))
    return b


assert stable_key_hash(b"acct-1") == 0xEEB4593C95E53E80
assert jump_consistent_hash(stable_key_hash(b"acct-1"), 16) == 13


# --- small helpers --------------------------------------------------------

def quantile(values, q):
    """Nearest-rank quantile of a list (None when empty)."""
    if not values:
        return None
    s = sorted(values)
    rank = max(1, int(-(-q * len(s) // 1)))  # ceil(q * n)
    return s[min(rank, len(s)) - 1]


def summary(values, digits=3):
    if not values:
        return None
    return {"n": len(values), "min": round(min(values), digits),
            "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}


def lag_summary(values, digits=1):
    if not values:
        return None
    return {"n": len(values), "p50": round(quantile(values, 0.5), digits),
            "p99": round(quantile(values, 0.99), digits),
            "max": round(max(values), digits)}


LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (\w+) ([^/:\s]+)(?:/(\S+?))?: (.*)$")
BROKER_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\+00:00 \[(\w+)\] (<[\d.]+>) (.*)$")


def utc_seconds(text, fmt):
    return datetime.datetime.strptime(text, fmt).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def machine():
    info = {"hostname": platform.node(), "kernel": platform.release(),
            "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_kb"] = int(f.readline().split()[1])
    except OSError:
        pass
    return info


def load_average():
    return list(os.getloadavg())


# --- brokers ----------------------------------------------------------------

class brokers:
    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.script = os.path.join(ROOT, "scripts", "broker.sh")

    def run(self, *args):
        env = dict(os.environ, WARREN_CLUSTER_PORT=str(self.port))
        return subprocess.run([self.script, *args], env=env, check=True,
                              capture_output=True, text=True).stdout

    def start(self):
        say("starting the broker cluster", self.name, "on ports",
            self.port, "..", self.port + 2)
        self.run("cluster-start", self.name)
        self.uris = self.run("cluster-uris", self.name).strip().split(",")

    def stop(self):
        say("stopping the broker cluster", self.name)
        self.run("cluster-stop", self.name)

    def log_events(self, since):
        """(time, member, text) of connections the brokers closed since."""
        out = []
        for i in (1, 2, 3):
            for path in glob.glob(os.path.join(
                    ROOT, ".state", "broker", f"{self.name}-{i}", "log",
                    f"{self.name}-{i}@localhost.log")):
                with open(path, errors="replace") as f:
                    for line in f:
                        m = BROKER_LINE.match(line)
                        if not m:
                            continue
                        text = m.group(4)
                        # The broker's heartbeat, a socket closed, or
                        # a node downing another (its reason says warren).
                        if ("missed heartbeats" not in text and
                                "unexpectedly closed TCP" not in text and
                                "downed" not in text):
                            continue
                        t = utc_seconds(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
                        if t >= since:
                            out.append((t, i, text.strip()))
        return sorted(out)


# --- warren nodes -----------------------------------------------------------

def cluster_section(args):
    """The nodes' `cluster` config: announce interval and downing."""
    out = {}
    if args.announce_ms:
        out["announce_interval_ms"] = args.announce_ms
    if args.down_after_ms:
        out["down_after_ms"] = args.down_after_ms
    return out


class node:
    def __init__(self, index, args, uris, actor, work):
        self.index = index
        self.name = f"fo-node-{index}"
        self.dir = os.path.join(work, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.db = os.path.join(self.dir, "state", "warren.db")
        self.log = os.path.join(self.dir, "stderr.log")
        self.config = os.path.join(self.dir, "node.json")
        # Each node starts on its own broker and fails over to the others.
        ordered = [uris[(index - 1 + k) % len(uris)] for k in range(len(uris))]
        cfg = {
            "node": self.name,
            "state_dir": os.path.join(self.dir, "state"),
            "broker": {"uris": ordered,
                       "heartbeat_seconds": args.heartbeat},
            "plugins": [args.plugin],
            "cluster": cluster_section(args),
            "actors": [{"name": actor, "kind": "test.counter",
                        "shards": args.shards,
                        "options": {"key_field": "counter"}}],
        }
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)
        self.warren = args.warren
        self.proc = None

    def start(self):
        offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        env = dict(os.environ, WARREN_BROKER_URI="")
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        err = open(self.log, "ab")
        self.proc = subprocess.Popen([self.warren, "run", self.config],
                                     stdout=out, stderr=err, env=env)
        out.close()
        err.close()
        deadline = time.time() + 60
        ready = f"node '{self.name}' ready"
        while time.time() < deadline:
            with open(self.log, errors="replace") as f:
                f.seek(offset)
                if ready in f.read():
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with "
                                   f"{self.proc.returncode}; see {self.log}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after 60 s; see {self.log}")

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait_dead(self):
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def events(self):
        """Parsed log lines: (time, level, node, actor, text)."""
        out = []
        if not os.path.exists(self.log):
            return out
        with open(self.log, errors="replace") as f:
            for line in f:
                m = LOG_LINE.match(line.rstrip("\n"))
                if m:
                    out.append((utc_seconds(m.group(1), "%Y-%m-%dT%H:%M:%S.%f"),
                                m.group(2), m.group(3), m.group(4) or "",
                                m.group(5)))
        return out

    def counts(self, actor):
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute(
                "SELECT key, state FROM actor_state WHERE actor = ?",
                (actor,)).fetchall()
        finally:
            db.close()
        return {k: json.loads(s)["count"] for k, s in rows}


# --- the load ----------------------------------------------------------------

class publisher(threading.Thread):
    """Publishes `rate` increments a second to the actor's name, each with a
    confirm (again, same id, until confirmed), keys over every shard."""

    def __init__(self, uri, actor, keys, rate):
        super().__init__(daemon=True)
        self.uri, self.actor, self.keys, self.rate = uri, actor, keys, rate
        self.confirmed = {}      # key -> count
        self.sent_at = {}        # message id -> time of its first publish
        self.sent = 0
        self.retries = 0
        self.behind_max = 0.0
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            self.loop()
        except Exception as e:  # reported in the result
            self.error = repr(e)
            say("publisher failed:", self.error)

    def connect(self):
        params = pika.URLParameters(self.uri)
        params.heartbeat = 30
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.confirm_delivery()
        return conn, ch

    def loop(self):
        conn, ch = self.connect()
        start = time.time()
        i = 0
        while not self.stopping.is_set():
            due = start + i / self.rate
            now = time.time()
            if due > now:
                time.sleep(due - now)
            else:
                self.behind_max = max(self.behind_max, now - due)
            key = self.keys[i % len(self.keys)]
            mid = f"{self.actor}-{i}"
            body = json.dumps({"counter": key, "by": 1})
            props = pika.BasicProperties(message_id=mid, type="increment",
                                         delivery_mode=2)
            self.sent_at[mid] = time.time()
            for attempt in range(60):
                try:
                    ch.basic_publish("warren.actors", self.actor, body, props,
                                     mandatory=True)
                    break
                except (pika.exceptions.NackError,
                        pika.exceptions.UnroutableError):
                    self.retries += 1
                    time.sleep(0.2)
                except pika.exceptions.AMQPError:
                    self.retries += 1
                    time.sleep(0.5)
                    try:
                        conn.close()
                    except Exception:
                        pass
                    conn, ch = self.connect()
            else:
                raise RuntimeError(f"{mid} not confirmed after 60 attempts")
            self.confirmed[key] = self.confirmed.get(key, 0) + 1
            self.sent = i + 1
            i += 1
        conn.close()


# --- the changelog, tailed ------------------------------------------------------

def as_int(v):
    return None if v is None else int(v)


class record:
    __slots__ = ("offset", "seen", "kind", "shard", "node", "epoch", "bytes",
                 "inputs", "mid")


class tail(threading.Thread):
    """Reads `<actor>.log` from its first record as it grows; notes when each
    record arrived here (the reference for the standbys' lag)."""

    def __init__(self, uri, actor, id_pattern):
        super().__init__(daemon=True)
        self.uri = uri
        self.stream = actor + ".log"
        self.ids = re.compile(id_pattern)
        self.records = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.error = None
        # When it first read everything there was (records read before came
        # out of a backlog: no reference for a lag).
        self.caught_up = None

    def run(self):
        try:
            conn = pika.BlockingConnection(pika.URLParameters(self.uri))
            ch = conn.channel()
            ch.basic_qos(prefetch_count=1000)
            for m, p, body in ch.consume(
                    self.stream, arguments={"x-stream-offset": "first"},
                    inactivity_timeout=0.2):
                if self.stopping.is_set():
                    break
                if m is None:
                    if self.caught_up is None:
                        self.caught_up = time.time()
                    continue
                now = time.time()
                h = p.headers or {}
                r = record()
                r.offset = as_int(h.get("x-stream-offset"))
                r.seen = now
                r.kind = h.get("x-warren-record")
                r.shard = as_int(h.get("x-warren-shard"))
                r.node = h.get("x-warren-node")
                r.epoch = as_int(h.get("x-warren-epoch"))
                r.mid = p.message_id or ""
                r.bytes = len(body)
                r.inputs = (sorted(set(self.ids.findall(body.decode(
                    "latin-1")))) if r.kind == "batch" else [])
                with self.lock:
                    self.records.append(r)
                ch.basic_ack(m.delivery_tag)
            conn.close()
        except Exception as e:
            self.error = repr(e)
            say("tail failed:", self.error)

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def owners(self):
        """shard -> (node, epoch) from the latest claim of each shard."""
        out = {}
        for r in self.snapshot():
            if r.kind == "claim":
                out[r.shard] = (r.node, r.offset)
        return out


def count_changelog(uri, stream, idle=3.0):
    """Every record of the stream from `first`, by kind: count and bytes."""
    conn = pika.BlockingConnection(pika.URLParameters(uri))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1000)
    kinds = {}
    last = -1
    for m, p, body in ch.consume(stream, arguments={"x-stream-offset": "first"},
                                 inactivity_timeout=idle):
        if m is None:
            break
        h = p.headers or {}
        k = h.get("x-warren-record", "?")
        c = kinds.setdefault(k, {"records": 0, "body_bytes": 0,
                                 "header_bytes": 0})
        c["records"] += 1
        c["body_bytes"] += len(body)
        # What the properties take on the wire, roughly: header names and
        # values, the message id and the type.
        c["header_bytes"] += sum(len(str(a)) + len(str(b))
                                 for a, b in h.items()) + len(
            p.message_id or "") + len(p.type or "")
        last = int(h.get("x-stream-offset", last))
        ch.basic_ack(m.delivery_tag)
    conn.close()
    return kinds, last


# --- the standbys' files, polled ------------------------------------------------

class poller(threading.Thread):
    """Notes when each node's file got past each changelog offset."""

    def __init__(self, nodes, actor, period):
        super().__init__(daemon=True)
        self.nodes, self.actor, self.period = nodes, actor, period
        self.progress = {n.name: [] for n in nodes}   # [(time, next_offset)]
        self.stopping = threading.Event()

    def run(self):
        conns = {}
        while not self.stopping.is_set():
            for n in self.nodes:
                try:
                    if n.name not in conns:
                        if not os.path.exists(n.db):
                            continue
                        conns[n.name] = sqlite3.connect(
                            f"file:{n.db}?mode=ro", uri=True, timeout=1)
                    row = conns[n.name].execute(
                        "SELECT next_offset FROM local_changelog WHERE "
                        "actor = ?", (self.actor,)).fetchone()
                except sqlite3.Error:
                    conns.pop(n.name, None)
                    continue
                if row is None:
                    continue
                p = self.progress[n.name]
                if not p or row[0] > p[-1][1]:
                    p.append((time.time(), row[0]))
            time.sleep(self.period)
        for c in conns.values():
            c.close()


def applied_at(files, name, offset):
    """When node `name`'s file got past changelog offset `offset`."""
    for t, next_offset in list(files.progress[name]):
        if next_offset > offset:
            return t
    return None


# --- one fault -------------------------------------------------------------------

def fault_round(kind, rnd, nodes, the_tail, files, the_brokers, args, actor):
    owners = the_tail.owners()
    per_node = {n.name: [s for s, (o, _) in owners.items() if o == n.name]
                for n in nodes}
    victim = max(nodes, key=lambda n: len(per_node[n.name]))
    shards = sorted(per_node[victim.name])
    say(f"{kind} round {rnd}: {victim.name} owns shards {shards} "
        f"(owners: { {k: v for k, v in per_node.items()} })")
    sig = signal.SIGKILL if kind == "kill9" else signal.SIGSTOP
    t0 = time.time()
    victim.signal(sig)
    resumed_at = None
    deadline = t0 + (60 if kind == "kill9" else args.heartbeat + 10)
    # Until every shard it owned is claimed again and has a batch in its new
    # epoch (the first unit of work of the new owner).
    moved = {}
    while time.time() < deadline:
        recs = [r for r in the_tail.snapshot() if r.seen >= t0 - 0.001]
        for r in recs:
            if (r.kind == "claim" and r.shard in shards and
                    r.node != victim.name and r.shard not in moved):
                moved[r.shard] = {"node": r.node, "epoch": r.offset,
                                  "claim_seen": r.seen}
        for r in recs:
            if r.kind == "batch" and r.shard in moved:
                m = moved[r.shard]
                if r.epoch == m["epoch"] and "batch_seen" not in m:
                    m["batch_seen"] = r.seen
                    m["batch_offset"] = r.offset
        if len(moved) == len(shards) and all(
                "batch_seen" in m and applied_at(files, m["node"],
                                                 m["batch_offset"])
                for m in moved.values()):
            break
        time.sleep(0.05)
    if kind == "stop":
        victim.signal(signal.SIGCONT)
        resumed_at = time.time()
        say(f"  {victim.name} resumed after {resumed_at - t0:.2f} s")
    else:
        victim.wait_dead()
    time.sleep(1.0)  # the logs catch up
    # The survivors' log lines for each moved shard, after the signal.
    result_shards = []
    for s in shards:
        m = moved.get(s)
        entry = {"shard": s}
        if m is None:
            entry["moved"] = False
            result_shards.append(entry)
            continue
        owner = next(n for n in nodes if n.name == m["node"])
        taking = taken = None
        for (t, _lvl, _nd, _act, text) in owner.events():
            if t < t0 - 0.001:
                continue
            if taking is None and text == f"shard {s}: taking it over":
                taking = t
            if taken is None and text == (f"shard {s}: taken over in epoch "
                                          f"{m['epoch']}"):
                taken = t
        entry.update({
            "moved": True, "to": m["node"], "epoch": m["epoch"],
            "first_delivery_s": None if taking is None else round(taking - t0, 3),
            "claim_in_stream_s": round(m["claim_seen"] - t0, 3),
            "taken_over_s": None if taken is None else round(taken - t0, 3),
            "first_batch_s": (round(m["batch_seen"] - t0, 3)
                              if "batch_seen" in m else None),
        })
        # Its first batch accepted: the new owner's own file holds it (it
        # acks the batch's deliveries next).
        if "batch_offset" in m:
            t = applied_at(files, m["node"], m["batch_offset"])
            entry["first_batch_applied_s"] = (None if t is None
                                              else round(t - t0, 3))
        # The 'shards' record its new owner published first (before the
        # claim), for the breakdown.
        for r in the_tail.snapshot():
            if (r.kind == "shards" and r.seen >= t0 - 0.001 and
                    f"/shards/{args.shards}/{s}/{m['node']}/" in r.mid):
                entry["shards_record_in_stream_s"] = round(r.seen - t0, 3)
                break
        result_shards.append(entry)
    # What the paused node said once it woke up.
    fenced = [text for (t, _l, _n, _a, text) in victim.events()
              if t >= t0 and ("gives the shard up" in text or
                              "fenced" in text or
                              "takes the shard over anew" in text)]
    closed = the_brokers.log_events(t0 - 0.5)
    broker_noticed = [round(t - t0, 3) for (t, _i, _x) in closed
                      if t < t0 + 60]
    out = {"fault": kind, "round": rnd, "victim": victim.name,
           "signal_utc": datetime.datetime.fromtimestamp(
               t0, datetime.timezone.utc).isoformat(timespec="milliseconds"),
           "shards": result_shards,
           "broker_closed_connections_s": (
               [min(broker_noticed), max(broker_noticed), len(broker_noticed)]
               if broker_noticed else None),
           "broker_reasons": sorted({x for (_t, _i, x) in closed}),
           "victim_fenced_lines": len(fenced),
           "load_average": load_average()}
    if resumed_at is not None:
        out["resumed_s"] = round(resumed_at - t0, 3)
    worst = [e for e in result_shards if e.get("moved")]
    for field in ("first_delivery_s", "shards_record_in_stream_s",
                  "claim_in_stream_s", "taken_over_s", "first_batch_s",
                  "first_batch_applied_s"):
        vals = [e[field] for e in worst if e.get(field) is not None]
        out["worst_" + field] = max(vals) if vals and len(vals) == len(
            result_shards) else None
    say(f"  moved {len(worst)}/{len(shards)}: worst first delivery "
        f"{out['worst_first_delivery_s']} s, taken over "
        f"{out['worst_taken_over_s']} s, first batch "
        f"{out['worst_first_batch_s']} s, applied "
        f"{out['worst_first_batch_applied_s']} s; brokers closed its "
        f"connections at "
        f"{out['broker_closed_connections_s']}")
    if kind == "kill9":
        victim.start()
        say(f"  {victim.name} restarted")
    out["down_until"] = time.time()
    return out


# --- main ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warren", default=os.path.join(ROOT, "build", "cli",
                                                     "warren"))
    ap.add_argument("--plugin", default=os.path.join(
        ROOT, "build", "tests", "libwarren-test-plugin.so"),
        help="the test plugin (test.counter); build it with "
             "-DWARREN_BUILD_TESTS=ON -DWARREN_BUILD_EXAMPLES=ON, target "
             "warren-test-plugin")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=400, help="messages/s")
    ap.add_argument("--shards", type=int, default=6)
    ap.add_argument("--keys", type=int, default=60)
    ap.add_argument("--heartbeat", type=int, default=2)
    ap.add_argument("--announce-ms", type=int, default=0,
                    help="the nodes' cluster.announce_interval_ms (0: theirs)")
    ap.add_argument("--down-after-ms", type=int, default=0,
                    help="the nodes' cluster.down_after_ms (0: no downing)")
    ap.add_argument("--settle", type=float, default=8,
                    help="seconds of load between rounds")
    ap.add_argument("--warmup", type=float, default=15,
                    help="seconds of load before the first fault")
    ap.add_argument("--poll-ms", type=float, default=5,
                    help="how often the nodes' files are polled")
    ap.add_argument("--faults", default="kill9,stop")
    ap.add_argument("--cluster", default="warren-fo")
    ap.add_argument("--port", type=int,
                    default=int(os.environ.get("WARREN_CLUSTER_PORT", 5720)))
    ap.add_argument("--work", default="/tmp/fo-bench")
    ap.add_argument("--keep-brokers", action="store_true")
    args = ap.parse_args()

    for path in (args.warren, args.plugin):
        if not os.path.exists(path):
            sys.exit(f"cluster_failover: {path} does not exist (see --help)")
    started = time.time()
    result = {
        "bench": "cluster_failover",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "machine": machine(),
        "load_average_start": load_average(),
        "parameters": {k: v for k, v in vars(args).items()},
    }
    try:
        result["git"] = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True).stdout.strip()
    except OSError:
        pass

    actor = f"fo-ctr-{int(started)}"
    work = os.path.join(args.work, actor)
    os.makedirs(work, exist_ok=True)
    keys = [f"k{i:03d}" for i in range(args.keys)]
    key_shards = {k: jump_consistent_hash(stable_key_hash(k.encode()),
                                          args.shards) for k in keys}
    missing = set(range(args.shards)) - set(key_shards.values())
    if missing:
        sys.exit(f"cluster_failover: no key of {args.keys} falls in shards "
                 f"{sorted(missing)}; give more --keys")

    the_brokers = brokers(args.cluster, args.port)
    the_brokers.start()
    nodes = []
    threads = []
    failed = False
    try:
        nodes = [node(i, args, the_brokers.uris, actor, work)
                 for i in (1, 2, 3)]
        for n in nodes:
            n.start()
        say("nodes ready; actor", actor, "work dir", work)
        # Declared queues survive a broker's death only ~2 s after declaring
        # (no broker is killed here, but the nodes' topology settles).
        time.sleep(3)
        # The load and the tail go through member 3 (no broker is killed).
        load = publisher(the_brokers.uris[2], actor, keys, args.rate)
        the_tail = tail(the_brokers.uris[2], actor,
                        re.escape(actor) + r"-\d+")
        files = poller(nodes, actor, args.poll_ms / 1000.0)
        threads = [load, the_tail, files]
        load.start()
        time.sleep(1)
        the_tail.start()
        files.start()
        say(f"load at {args.rate:g} msg/s; warming up {args.warmup:g} s")
        time.sleep(args.warmup)
        faults = []
        down = {n.name: [] for n in nodes}   # (from, until) per node
        for kind in args.faults.split(","):
            for rnd in range(1, args.rounds + 1):
                f = fault_round(kind, rnd, nodes, the_tail, files,
                                the_brokers, args, actor)
                t0 = datetime.datetime.fromisoformat(
                    f["signal_utc"]).timestamp()
                down[f["victim"]].append((t0, f["down_until"] + 5))
                faults.append(f)
                time.sleep(args.settle)
        load.stopping.set()
        load.join(120)
        say(f"load stopped: {load.sent} messages sent and confirmed "
            f"({load.retries} publishes again)")
        result["load"] = {"sent": load.sent, "publishes_again": load.retries,
                          "publisher_behind_max_s": round(load.behind_max, 3),
                          "publisher_error": load.error,
                          "seconds": round(time.time() - started, 1)}

        # Correctness: every node's file against what was confirmed.
        expected = dict(load.confirmed)
        verdicts = {}
        deadline = time.time() + 120
        for n in nodes:
            while True:
                counts = n.counts(actor)
                if counts == expected or time.time() > deadline:
                    break
                time.sleep(0.5)
            bad = {k: {"expected": expected.get(k, 0), "found": counts.get(k)}
                   for k in set(expected) | set(counts)
                   if counts.get(k) != expected.get(k)}
            verdicts[n.name] = {"keys": len(counts),
                                "sum": sum(counts.values()),
                                "mismatches": bad}
            if bad:
                failed = True
                say(f"MISMATCH in {n.name}: {len(bad)} keys, e.g. "
                    f"{dict(list(bad.items())[:5])}")
            else:
                say(f"{n.name}: every one of {len(counts)} keys exact "
                    f"(sum {sum(counts.values())})")
        result["correctness"] = {"expected_sum": sum(expected.values()),
                                 "nodes": verdicts, "ok": not failed}
        time.sleep(2)
        the_tail.stopping.set()
        files.stopping.set()
        the_tail.join(10)
        files.join(10)

        # Changelog records per input.
        kinds, last = count_changelog(the_brokers.uris[2], actor + ".log")
        sent = max(load.sent, 1)
        total = sum(k["records"] for k in kinds.values())
        result["changelog"] = {
            "records": total, "last_offset": last, "by_kind": kinds,
            "records_per_input": round(total / sent, 4),
            "per_input_by_kind": {k: round(v["records"] / sent, 4)
                                  for k, v in kinds.items()},
            "body_bytes_per_input": round(sum(
                v["body_bytes"] for v in kinds.values()) / sent, 1),
            "bytes_per_input_with_properties": round(sum(
                v["body_bytes"] + v["header_bytes"]
                for v in kinds.values()) / sent, 1),
        }
        recs = the_tail.snapshot()
        batches = [r for r in recs if r.kind == "batch"]
        if batches:
            sizes = [len(r.inputs) for r in batches]
            result["changelog"]["inputs_per_batch"] = {
                "mean": round(statistics.mean(sizes), 2),
                "p50": quantile(sizes, 0.5), "max": max(sizes)}
        say(f"changelog: {total} records for {load.sent} inputs "
            f"({result['changelog']['records_per_input']} per input; "
            f"{ {k: v['records'] for k, v in kinds.items()} })")

        # Latencies: publish -> its batch in the stream; the stream -> each
        # standby's file.
        first_batch = {}
        for r in batches:
            for mid in r.inputs:
                first_batch.setdefault(mid, r.seen)
        in_fault = []
        for f in faults:
            t0 = datetime.datetime.fromisoformat(f["signal_utc"]).timestamp()
            in_fault.append((t0, f["down_until"] + 5))

        def calm(t):
            return not any(a <= t <= b for a, b in in_fault)

        to_batch = [1000 * (first_batch[m] - t) for m, t in load.sent_at.items()
                    if m in first_batch and calm(t)]
        result["commit_latency_ms"] = {
            "what": "input published (pika, before basic_publish) -> the batch "
                    "holding it read from the changelog by the bench's tail, "
                    "outside fault windows",
            **(lag_summary(to_batch) or {})}
        lag = {}
        all_lag = []
        for n in nodes:
            prog = files.progress[n.name]
            times = [t for t, _ in prog]
            offs = [o for _, o in prog]
            vals = []
            j = 0
            for r in sorted(recs, key=lambda r: r.offset):
                if (r.node == n.name or not calm(r.seen) or
                        the_tail.caught_up is None or
                        r.seen < the_tail.caught_up + 1):
                    continue    # its own record (the read-back), or a fault
                if any(a <= r.seen <= b for a, b in down[n.name]):
                    continue
                while j < len(offs) and offs[j] <= r.offset:
                    j += 1
                if j == len(offs):
                    break
                vals.append(1000 * (times[j] - r.seen))
            lag[n.name] = lag_summary(vals)
            all_lag += vals
        result["standby_lag_ms"] = {
            "what": "a record read by the bench's tail (a pika consumer on "
                    "this machine) -> the standby's file past its offset "
                    f"(polled every {args.poll_ms:g} ms), records of other "
                    "nodes only, outside fault windows",
            "all": lag_summary(all_lag), "per_node": lag}

        # Faults.
        result["faults"] = faults
        targets = {"kill9": 2.0, "stop": args.heartbeat + 2.0}
        summ = {}
        for kind in targets:
            fs = [f for f in faults if f["fault"] == kind]
            if not fs:
                continue
            entry = {"target_s": targets[kind]}
            entry["broker_closed_first_s"] = summary(
                [f["broker_closed_connections_s"][0] for f in fs
                 if f["broker_closed_connections_s"]])
            for field in ("worst_first_delivery_s",
                          "worst_shards_record_in_stream_s",
                          "worst_claim_in_stream_s", "worst_taken_over_s",
                          "worst_first_batch_s",
                          "worst_first_batch_applied_s"):
                vals = [f[field] for f in fs if f[field] is not None]
                entry[field] = summary(vals)
                entry[field + "_rounds"] = [f[field] for f in fs]
            ok = [f["worst_first_batch_applied_s"] is not None and
                  f["worst_first_batch_applied_s"] <= targets[kind]
                  for f in fs]
            entry["met_in_rounds"] = sum(ok)
            entry["met"] = all(ok)
            summ[kind] = entry
        result["summary"] = summ
        result["load_average_end"] = load_average()
        result["uptime"] = subprocess.run(["uptime"], capture_output=True,
                                          text=True).stdout.strip()
        tails = [t for t in (the_tail, load) if t.error]
        if tails:
            failed = True
    finally:
        for t in threads:
            if hasattr(t, "stopping"):
                t.stopping.set()
        for n in nodes:
            n.stop()
        if not args.keep_brokers:
            the_brokers.stop()
    json.dump(result, sys.stdout, indent=1)
    print()
    for kind, e in result.get("summary", {}).items():
        say(f"{kind}: worst shard to its first batch applied "
            f"{e['worst_first_batch_applied_s']} s (target {e['target_s']} s): "
            f"{'met' if e['met'] else 'NOT met'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
