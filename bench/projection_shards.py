#!/usr/bin/python3
"""A sharded projection (issue 13, README.md "Sharded projections"), measured.

    bench/projection_shards.py --events 5000 --shards 0,1,4,16 > proj.json

Starts a private RabbitMQ node (scripts/broker.sh start warren-pb, port
5750; --port moves it, --uri uses a running broker instead) and, for each
shard count N, one `warren run` node with an `event_store` of N shards and a
live `projection` of it with N shards (N = 0: both unsharded, the
baseline), then:

  live     `--events` appends (one Deposited event each, streams acct-0 ..
           acct-<accounts - 1>, published with confirms to the store's name)
           until the model counts them all: events applied per second;
  queries  `--queries` answered one after another through the projection's
           name (request/reply): `one`, an account's row (a primary-key
           lookup), and `total`, a sum over every account (over the union of
           the N shards' tables); and `total` published straight to the
           shard queues in turn (N > 0); p50/p99 milliseconds;
  rebuild  `warren projection rebuild NAME --wait`: seconds, events/s;
  log      the projection's changelog `<view>.log` (N > 0) read from
           `first` after the live phase and after the rebuild: records and
           bytes (bodies and header values) per event, and the store's
           `<store>.log` for comparison.

Every model is checked against what was sent (exit 1 on a difference). One
JSON document on stdout; progress on stderr. Uses python3 and Debian's
python3-pika (run with /usr/bin/python3).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pika

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from cluster_failover import ROOT, load_average, machine, quantile, say  # noqa: E402

# The read model: balances per account, and a query over all of them.
OPTIONS = {
    "source": {"store": "@STORE@", "shards": 0, "live": True, "page": 500},
    "tables": {"accounts": "CREATE TABLE {accounts} (account TEXT NOT NULL "
                           "PRIMARY KEY, total INTEGER NOT NULL, deposits "
                           "INTEGER NOT NULL)"},
    "on": {"Deposited": [{
        "sql": "INSERT INTO {accounts} VALUES (:s, :n, 1) ON CONFLICT "
               "(account) DO UPDATE SET total = total + excluded.total, "
               "deposits = deposits + 1",
        "params": {"s": "stream", "n": "data.amount"}}]},
    "queries": {
        "one": {"sql": "SELECT total, deposits FROM {accounts} "
                       "WHERE account = :a"},
        "total": {"sql": "SELECT count(*) AS accounts, sum(total) AS total, "
                         "sum(deposits) AS deposits FROM {accounts}"}}}


class rpc:
    """Requests to an actor's name, replies on an exclusive queue. Appends
    are sent without confirms (a local broker; a lost one would show as a
    model that never completes, an error)."""

    def __init__(self, uri):
        self.conn = pika.BlockingConnection(pika.URLParameters(uri))
        self.ch = self.conn.channel()
        self.reply_to = self.ch.queue_declare(
            "", exclusive=True).method.queue
        self.answers = {}
        self.ch.basic_consume(self.reply_to, self._on_reply, auto_ack=True)

    def _on_reply(self, _ch, _method, props, body):
        self.answers[props.correlation_id] = (props.type, json.loads(body))

    def send(self, actor, kind, body, message_id):
        self.ch.basic_publish(
            "warren.actors", actor, json.dumps(body),
            pika.BasicProperties(type=kind, message_id=message_id,
                                 delivery_mode=2,
                                 content_type="application/json"))

    def call(self, actor, kind, body, timeout=30, queue=None):
        """A request to `actor`'s name, or straight to `queue`."""
        corr = uuid.uuid4().hex
        self.ch.basic_publish(
            "" if queue else "warren.actors", queue or actor, json.dumps(body),
            pika.BasicProperties(type=kind, message_id=corr,
                                 correlation_id=corr, reply_to=self.reply_to,
                                 content_type="application/json"))
        deadline = time.time() + timeout
        while corr not in self.answers:
            if time.time() > deadline:
                raise RuntimeError(f"no answer to {kind} within {timeout} s")
            self.conn.process_data_events(time_limit=0.05)
        return self.answers.pop(corr)

    def close(self):
        self.conn.close()


def read_stream(uri, stream):
    """(records, body bytes, header bytes) of a stream, read from first."""
    conn = pika.BlockingConnection(pika.URLParameters(uri))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1000)
    counts = [0, 0, 0]

    def on_message(_ch, method, props, body):
        counts[0] += 1
        counts[1] += len(body)
        for k, v in (props.headers or {}).items():
            counts[2] += len(k) + len(str(v))
        ch.basic_ack(method.delivery_tag)

    ch.basic_consume(stream, on_message,
                     arguments={"x-stream-offset": "first"})
    last, seen = time.time(), -1
    while time.time() - last < 1.5:
        conn.process_data_events(time_limit=0.2)
        if counts[0] != seen:
            seen, last = counts[0], time.time()
    conn.close()
    return counts


def per_event(counts, events):
    return {"records": counts[0], "body_bytes": counts[1],
            "header_bytes": counts[2],
            "records_per_event": round(counts[0] / events, 3),
            "bytes_per_event": round((counts[1] + counts[2]) / events, 1)}


def latency(values):
    return {"n": len(values), "p50_ms": round(quantile(values, 0.5), 2),
            "p99_ms": round(quantile(values, 0.99), 2),
            "max_ms": round(max(values), 2)}


def run_one(args, uri, shards, stamp):
    store = f"pb-store-{shards}-{stamp}"
    view = f"pb-view-{shards}-{stamp}"
    exchange = f"pb-events-{shards}-{stamp}"
    work = os.path.join(args.work, f"n{shards}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    options = json.loads(json.dumps(OPTIONS).replace("@STORE@", store))
    options["source"]["shards"] = shards
    cfg = {
        "node": f"pb-node-{shards}",
        "state_dir": os.path.join(work, "state"),
        "broker": {"uri": uri},
        "topology": {
            "exchanges": [{"name": exchange, "type": "topic"}],
            "bindings": [{"exchange": exchange, "queue": view,
                          "routing_key": "#"}]},
        "actors": [
            {"name": store, "kind": "event_store",
             "options": {"publish": {"exchange": exchange}}},
            {"name": view, "kind": "projection", "options": options}]}
    if shards > 0:
        for actor in cfg["actors"]:
            actor["shards"] = shards
    path = os.path.join(work, "node.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    log = open(os.path.join(work, "stderr.log"), "w+")
    env = dict(os.environ, WARREN_BROKER_URI="")
    node = subprocess.Popen([args.warren, "run", path], stdout=subprocess.DEVNULL,
                            stderr=log, env=env)
    result = {"shards": shards}
    try:
        deadline = time.time() + 60
        while "ready" not in open(log.name).read():
            if time.time() > deadline or node.poll() is not None:
                raise RuntimeError(f"node for {shards} shards did not start: "
                                   + open(log.name).read()[-2000:])
            time.sleep(0.2)
        client = rpc(uri)
        expected_total = 0
        start = time.time()
        for i in range(args.events):
            amount = 1 + i % 7
            expected_total += amount
            client.send(store, "event_store.append",
                        {"stream": f"acct-{i % args.accounts}",
                         "events": [{"type": "Deposited",
                                     "data": {"amount": amount}}]},
                        f"{store}-a{i}")
        sent = time.time()
        while True:
            _, answer = client.call(view, "projection.query",
                                    {"query": "total"})
            rows = answer.get("rows") or [{}]
            if rows[0].get("deposits") == args.events:
                break
            if time.time() - start > 300:
                raise RuntimeError(f"the model holds {rows} after 300 s")
            time.sleep(0.05)
        done = time.time()
        ok = (rows[0].get("total") == expected_total and
              rows[0].get("accounts") == args.accounts)
        result["live"] = {
            "appends_sent_s": round(sent - start, 2),
            "all_applied_s": round(done - start, 2),
            "events_per_s": round(args.events / (done - start), 1),
            "exact": ok}
        say(f"{shards} shards: {args.events} events applied live in "
            f"{done - start:.2f} s; exact: {ok}")
        if shards > 0:
            result["view_log_live"] = per_event(
                read_stream(uri, view + ".log"), args.events)
            result["store_log"] = per_event(
                read_stream(uri, store + ".log"), args.events)
        one, total = [], []
        for q in range(args.queries):
            t = time.perf_counter()
            kind, answer = client.call(view, "projection.query", {
                "query": "one",
                "params": {"a": f"acct-{q % args.accounts}"}})
            one.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            client.call(view, "projection.query", {"query": "total"})
            total.append(1000 * (time.perf_counter() - t))
        result["query_one"] = latency(one)
        result["query_total"] = latency(total)
        if shards > 0:
            # Any shard's owner answers a query from its file: straight to
            # a shard queue, without the projection's queue and router.
            direct = []
            for q in range(args.queries):
                t = time.perf_counter()
                kind, answer = client.call(
                    view, "projection.query", {"query": "total"},
                    queue=f"{view}.s{q % shards}")
                direct.append(1000 * (time.perf_counter() - t))
                if (answer.get("rows") or [{}])[0].get("total") != \
                        expected_total:
                    raise RuntimeError(f"a query straight to a shard: {kind} "
                                       f"{answer}")
            result["query_total_to_shards"] = latency(direct)
        say(f"{shards} shards: queries one p50 {quantile(one, 0.5):.2f} ms, "
            f"total p50 {quantile(total, 0.5):.2f} ms")
        t = time.time()
        rebuilt = subprocess.run(
            [args.warren, "projection", "rebuild", "-u", uri, view, "--wait"],
            capture_output=True, text=True, env=env, timeout=600)
        seconds = time.time() - t
        if rebuilt.returncode != 0:
            raise RuntimeError("rebuild: " + rebuilt.stderr[-2000:])
        _, answer = client.call(view, "projection.query", {"query": "total"})
        rows = answer.get("rows") or [{}]
        rebuilt_ok = (rows[0].get("total") == expected_total and
                      rows[0].get("deposits") == args.events)
        result["rebuild"] = {"seconds": round(seconds, 2),
                             "events_per_s": round(args.events / seconds, 1),
                             "exact": rebuilt_ok}
        say(f"{shards} shards: rebuilt in {seconds:.2f} s; exact: "
            f"{rebuilt_ok}")
        if shards > 0:
            after = read_stream(uri, view + ".log")
            live = result["view_log_live"]
            result["view_log_rebuild"] = per_event(
                [after[0] - live["records"], after[1] - live["body_bytes"],
                 after[2] - live["header_bytes"]], args.events)
        result["exact"] = ok and rebuilt_ok
        client.close()
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
        log.close()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warren", default=os.path.join(ROOT, "build", "cli",
                                                     "warren"))
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--shards", default="0,1,4,16")
    ap.add_argument("--uri", default="")
    ap.add_argument("--port", type=int, default=5750)
    ap.add_argument("--work", default="/tmp/pb-bench")
    args = ap.parse_args()
    script = os.path.join(ROOT, "scripts", "broker.sh")
    uri = args.uri
    if not uri:
        env = dict(os.environ, WARREN_BROKER_PORT=str(args.port))
        say("starting the broker warren-pb on port", args.port)
        subprocess.run([script, "start", "warren-pb"], env=env, check=True,
                       capture_output=True)
        uri = subprocess.run([script, "uri", "warren-pb"], env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
    out = {"bench": "projection_shards", "command": " ".join(sys.argv),
           "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": machine(), "load_average_start": load_average(),
           "git": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                                  "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
           "parameters": vars(args), "runs": []}
    stamp = str(int(time.time()))
    try:
        for shards in [int(s) for s in args.shards.split(",")]:
            out["runs"].append(run_one(args, uri, shards, stamp))
    finally:
        if not args.uri:
            say("stopping the broker warren-pb")
            subprocess.run([script, "stop", "warren-pb"], capture_output=True)
    out["load_average_end"] = load_average()
    json.dump(out, sys.stdout, indent=1)
    print()
    sys.exit(0 if all(r.get("exact") for r in out["runs"]) else 1)


if __name__ == "__main__":
    main()
