#!/usr/bin/python3
"""The client side of the cluster example (examples/cluster/README.md).

    deposits.py send COUNT [--from I] [--rate N] [--copies K]
                                                     publish deposits I (1)..COUNT
    deposits.py totals COUNT [--db FILE]...          check what the cluster holds
    deposits.py owners [--live N] [--gone NODE]      wait for `warren cluster status`
    deposits.py reset                                delete the example's queues

Deposit i is always the same message: id `dep-<i>` (`dep-0007`), account
`acct-<(i - 1) % 10 + 1>`, amount `i % 9 + 1`, appended as one `deposited`
event to the account's stream in the event store `accounts`. So `totals`
knows what every account must hold from COUNT alone, and sending a deposit
again (after a lost confirm, a reconnect, or on purpose with --copies) is
harmless: the shard owner's inbox knows its id.

The brokers come from $WARREN_BROKER_URI (comma-separated, tried in order),
else from node-a.json.
Uses python3 and Debian's python3-pika only.
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from urllib.parse import urlparse

import pika

HERE = os.path.dirname(os.path.abspath(__file__))
WARREN = os.environ.get("WARREN", os.path.join(HERE, "..", "..", "build", "cli", "warren"))
ACTOR = "accounts"
ACCOUNTS = 10


def deposit(i):
    """(message id, account, amount) of deposit i, 1-based."""
    return f"dep-{i:04d}", f"acct-{(i - 1) % ACCOUNTS + 1:02d}", i % 9 + 1


def expected(count):
    """account -> (deposits, amount) after deposits 1..count."""
    totals = {}
    for i in range(1, count + 1):
        _, account, amount = deposit(i)
        n, s = totals.get(account, (0, 0))
        totals[account] = (n + 1, s + amount)
    return totals


def uris():
    """$WARREN_BROKER_URI (comma-separated), else node-a.json's brokers."""
    value = os.environ.get("WARREN_BROKER_URI", "")
    if not value.strip():
        with open(os.path.join(HERE, "node-a.json")) as f:
            return json.load(f)["broker"]["uris"]
    return [u.strip() for u in value.split(",") if u.strip()]


def short(uri):
    u = urlparse(uri)
    return f"{u.hostname}:{u.port or 5672}"


def connect(start=0):
    """A connection to the first broker that answers, from uris()[start] on."""
    all_uris = uris()
    last = None
    for k in range(len(all_uris)):
        uri = all_uris[(start + k) % len(all_uris)]
        try:
            params = pika.URLParameters(uri)
            params.connection_attempts = 1
            params.socket_timeout = 5
            params.heartbeat = 10
            return pika.BlockingConnection(params), (start + k) % len(all_uris)
        except pika.exceptions.AMQPError as e:
            last = e
    raise SystemExit(f"deposits.py: no broker answers ({', '.join(all_uris)}): {last!r}")


def say(*args):
    print(*args, flush=True)


# --- send --------------------------------------------------------------------

def cmd_send(args):
    """Publishes deposits I..COUNT (with publisher confirms, to the actor's
    name) at about --rate a second, then --copies of the first ones again
    with the same ids, and waits a while for the replies (which say the
    shard; they are for show: what counts is in the state). A publish that
    is not confirmed (nack, lost connection) is sent again with the same
    id, on the next broker if the connection is gone."""
    pending = list(range(args.first, args.count + 1))
    first_copy = len(pending)  # index in `pending` where the copies start
    pending += list(range(args.first, args.first + args.copies))
    replies = {}  # message id -> reply body (dict)
    conn, at = None, 0
    sent = 0
    started = time.monotonic()

    def on_reply(ch, method, props, body):
        try:
            replies[props.correlation_id] = json.loads(body)
        except ValueError:
            replies[props.correlation_id] = {"error": body.decode("utf-8", "replace")}

    while sent < len(pending):
        try:
            if conn is None or conn.is_closed:
                conn, at = connect(at)
                ch = conn.channel()
                ch.confirm_delivery()
                reply_queue = ch.queue_declare("", exclusive=True).method.queue
                ch.basic_consume(reply_queue, on_reply, auto_ack=True)
                say(f"client: connected to {short(uris()[at])}")
            while sent < len(pending):
                if sent == first_copy:
                    say(f"client: sending deposits {args.first}..{args.first + args.copies - 1} "
                        f"again with the same "
                        f"message ids (copies: the cluster must apply none of them)")
                i = pending[sent]
                message_id, account, amount = deposit(i)
                body = {"stream": account,
                        "events": [{"type": "deposited",
                                    "data": {"account": account, "amount": amount}}]}
                ch.basic_publish(
                    exchange="warren.actors", routing_key=ACTOR,
                    body=json.dumps(body),
                    properties=pika.BasicProperties(
                        message_id=message_id, correlation_id=message_id,
                        reply_to=reply_queue, type="event_store.append",
                        content_type="application/json", delivery_mode=2),
                    mandatory=True)
                sent += 1
                if sent <= first_copy and sent % 50 == 0:
                    say(f"client: {sent}/{first_copy} deposits confirmed by the brokers, "
                        f"{len(replies)} answered")
                # Pace the load so that it spans the kill (and take replies).
                delay = started + sent / args.rate - time.monotonic()
                conn.process_data_events(time_limit=max(0.0, delay))
        except (pika.exceptions.NackError, pika.exceptions.UnroutableError) as e:
            say(f"client: deposit {pending[sent]} not taken ({e!r}); sending it again")
            time.sleep(0.5)
        except pika.exceptions.AMQPError as e:
            say(f"client: connection lost ({e!r}); sending again from deposit "
                f"{pending[sent]} on the next broker")
            conn, at = None, at + 1
            time.sleep(0.5)

    # The replies of the originals (copies are dropped by the inbox: no reply).
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline and len(replies) < first_copy:
        try:
            conn.process_data_events(time_limit=0.2)
        except pika.exceptions.AMQPError:
            break
    took = time.monotonic() - started
    by_shard = {}
    for body in replies.values():
        if "shard" in body:
            by_shard[body["shard"]] = by_shard.get(body["shard"], 0) + 1
    say(f"client: {first_copy} deposits and {args.copies} copies sent in {took:.1f} s; "
        f"{len(replies)} appends answered, per shard: "
        + ", ".join(f"s{s}: {n}" for s, n in sorted(by_shard.items())))
    try:
        conn.close()
    except pika.exceptions.AMQPError:
        pass


# --- totals ------------------------------------------------------------------

def call(ch, queue, type_, body, timeout=15):
    """A request to the actor's name; its reply body (dict)."""
    cid = str(uuid.uuid4())
    ch.basic_publish(exchange="warren.actors", routing_key=ACTOR, body=json.dumps(body),
                     properties=pika.BasicProperties(
                         message_id=cid, correlation_id=cid, reply_to=queue, type=type_,
                         content_type="application/json"),
                     mandatory=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, props, reply = ch.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.02)
            continue
        if props.correlation_id == cid:
            return json.loads(reply)
    raise SystemExit(f"deposits.py: no reply to {type_} {body} in {timeout} s")


def totals_from_cluster(count):
    """account -> (deposits, amount), read through the cluster: one
    event_store.read_stream per account, answered by its shard's owner."""
    conn, _ = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    queue = ch.queue_declare("", exclusive=True).method.queue
    found = {}
    for account in sorted(expected(count)):
        n = s = 0
        position = 1
        while True:
            reply = call(ch, queue, "event_store.read_stream",
                         {"stream": account, "from": position, "count": 1000})
            for event in reply.get("events", []):
                n += 1
                s += event["data"]["amount"]
            if reply.get("end", True):
                break
            position = reply["next"]
        found[account] = (n, s)
    conn.close()
    return found


def totals_from_file(path):
    """account -> (deposits, amount) in one node's SQLite file (read-only;
    safe while the node runs)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT stream, count(*), sum(json_extract(data, '$.amount')) "
            # A sharded store's rows name their shard: accounts.s0 .. s5.
            "FROM warren_events WHERE store = ?1 OR store GLOB ?1 || '.s[0-9]*' "
            "GROUP BY stream", (ACTOR,)).fetchall()
    except sqlite3.OperationalError:  # no table yet
        rows = []
    finally:
        db.close()
    return {stream: (n, s) for stream, n, s in rows}


def cmd_totals(args):
    """Prints every account's deposits and amount as the cluster answers
    them and as each node's file holds them, against what was sent; exits
    1 unless all agree. A file may be behind for a moment (a node that
    just started reads the changelog): it is read again until --wait."""
    want = expected(args.count)
    sources = {"cluster": totals_from_cluster(args.count)}
    deadline = time.monotonic() + args.wait
    for path in args.db:
        name = os.path.basename(os.path.dirname(path))
        while True:
            got = totals_from_file(path)
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        sources[name] = got
    names = list(sources)

    def cell(got, ok=True):
        return f"{got[0]:>4} {got[1]:>5}{' ' if ok else '!'}"

    say("deposits and amount per account: sent, answered by the cluster, held in each file")
    say(f"{'ACCOUNT':8} " + " ".join(f"{x:>10} " for x in ["sent"] + names))
    for account in sorted(want):
        row = [cell(want[account])]
        for n in names:
            got = sources[n].get(account, (0, 0))
            row.append(cell(got, got == want[account]))
        say(f"{account:8} " + " ".join(row))

    def total(t):
        return (sum(n for n, _ in t.values()), sum(s for _, s in t.values()))

    say(f"{'total':8} " + " ".join(cell(total(t), t == want)
                                   for t in [want] + [sources[n] for n in names]))
    bad = [n for n in names if sources[n] != want]
    if bad:
        say(f"MISMATCH in {', '.join(bad)} (cells marked !): deposits lost or applied twice")
        sys.exit(1)
    say(f"OK: {total(want)[0]} deposits, {total(want)[1]} in all, each applied exactly once, "
        f"the same in the cluster's answers and in {len(names) - 1} node files")


# --- owners ------------------------------------------------------------------

def status():
    # (-c: the brokers of the config, or of $WARREN_BROKER_URI when set,
    # which replaces the config's list.)
    out = subprocess.run([WARREN, "cluster", "status", "-c", os.path.join(HERE, "node-a.json"),
                          "--actor", ACTOR, "--json", "--since", "30"],
                         capture_output=True, text=True)
    if out.returncode not in (0, 1):
        return None
    try:
        return json.loads(out.stdout)
    except ValueError:
        return None


def cmd_owners(args):
    """Waits (at most --wait s) until at least --live nodes are live, every
    shard has a live owner, the live nodes own as many shards each (give or
    take one: what rebalancing aims at), and with --gone NODE, NODE is no
    longer live. Exit 1 on timeout."""
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        s = status()
        if s and s["actors"]:
            live = {n["node"] for n in s["nodes"] if n["live"]}
            owned = {n: 0 for n in live}
            shards = s["actors"][0]["shard"]
            for x in shards:
                if x["owner"] in owned:
                    owned[x["owner"]] += 1
            if (len(live) >= args.live and sum(owned.values()) == len(shards)
                    and max(owned.values()) - min(owned.values()) <= 1
                    and args.gone not in live):
                return
        time.sleep(0.5)
    say(f"deposits.py: timed out waiting for the shard owners ({vars(args)})")
    sys.exit(1)


# --- reset -------------------------------------------------------------------

def cmd_reset(args):
    """Deletes what an earlier run left in the brokers: the actor's queues,
    its shard queues, its changelog stream and the membership stream."""
    names = [ACTOR, f"{ACTOR}.dlq", f"{ACTOR}.log", "warren.cluster"]
    for i in range(args.shards):
        names += [f"{ACTOR}.s{i}", f"{ACTOR}.s{i}.dlq"]
    conn, _ = connect()
    deleted = 0
    for name in names:
        ch = conn.channel()
        try:
            ch.queue_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker:
            continue  # not there
        ch = conn.channel()
        ch.queue_delete(name)
        deleted += 1
    conn.close()
    if deleted:
        say(f"client: deleted {deleted} queues and streams of an earlier run")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("count", type=int, help="the last deposit")
    s.add_argument("--from", dest="first", type=int, default=1, help="the first deposit")
    s.add_argument("--rate", type=float, default=60.0, help="deposits a second")
    s.add_argument("--copies", type=int, default=0,
                   help="then send the first K deposits again, same ids")
    s.add_argument("--wait", type=float, default=30.0, help="s to wait for replies")
    t = sub.add_parser("totals")
    t.add_argument("count", type=int)
    t.add_argument("--db", action="append", default=[])
    t.add_argument("--wait", type=float, default=30.0)
    o = sub.add_parser("owners")
    o.add_argument("--gone")
    o.add_argument("--live", type=int, default=1, help="at least N live nodes")
    o.add_argument("--wait", type=float, default=30.0)
    r = sub.add_parser("reset")
    r.add_argument("--shards", type=int, default=6)
    args = p.parse_args()
    {"send": cmd_send, "totals": cmd_totals, "owners": cmd_owners, "reset": cmd_reset}[args.cmd](args)


if __name__ == "__main__":
    main()
