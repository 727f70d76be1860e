#!/usr/bin/python3
"""Sends sensor readings to the `sensor_data` exchange, as devices would.

    examples/sensors/generator.py              # an hour of readings, 10-20 s
    examples/sensors/generator.py --batch 50   # the same in batched envelopes, ~1 s
    examples/sensors/generator.py --help

Event time is compressed: an hour of readings (one every 10 s per device,
about 3 250 messages, each published with a broker confirm) goes out in
seconds, so dozens of 5-minute windows close while you watch. The stream is what a real fleet sends:

  * out of order: each reading is delayed by 0 to 8 s (within the window's
    10 s bound of out-of-orderness), and 5% by 15 to 70 s (they update
    windows that already fired: allowed lateness is 60 s);
  * late: 1% are delayed by 8 to 20 minutes, past any window they belong to;
    the window sends them to the queue `sensors.late`;
  * malformed: every 150th reading is broken in one of four ways (not JSON,
    no device_id, a temperature that is a string, two failed quality checks);
    the validator (or, for the non-JSON body, the node) dead-letters it to
    `sensors.readings.dlq` with the reason;
  * mixed formats: devices 001-003 send ISO 8601 timestamps, 004-006 epoch
    seconds, 007-009 epoch milliseconds; 007 and 008 report Fahrenheit
    (`temperature_f`); 009 is missing from devices.csv (enriched as
    "unregistered").

At the end, one reading per device 10 minutes (event time) after the rest
moves the watermark past every window of the stream, so they all close.

Needs python3-pika (Debian package). Prints a summary of what it planted;
`--summary FILE` writes it as JSON.
"""

import argparse
import datetime
import json
import os
import random
import sys
import time
import uuid

import pika

DEVICES = [f"dev-{n:03d}" for n in range(1, 10)]
FAHRENHEIT = {"dev-007", "dev-008"}
STEP_MS = 10_000
CLOSING_GAP_MS = 600_000
# Where the event time of the last run's last reading is kept (see main).
LAST_END_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             ".state", "generator-end-ms")


def clock(ms):
    return datetime.datetime.fromtimestamp(
        ms / 1000, tz=datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")


def timestamp_as_sent(device, t_ms):
    """The reading's timestamp in the format its device uses."""
    n = int(device[-3:])
    if n <= 3:
        return datetime.datetime.fromtimestamp(
            t_ms / 1000, tz=datetime.timezone.utc
        ).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if n <= 6:
        return t_ms / 1000  # epoch seconds, with milliseconds
    return t_ms  # epoch milliseconds


def reading(rng, device, t_ms, step):
    """A well-formed reading: a daily-ish temperature curve plus noise."""
    celsius = 20 + 3 * ((step % 360) / 360) + rng.gauss(0, 0.8) + int(device[-1]) * 0.5
    body = {
        "device_id": device,
        "timestamp": timestamp_as_sent(device, t_ms),
        "humidity": round(rng.uniform(35, 60), 1),
        "battery": rng.randint(40, 100),
        "firmware": "2.4.1",
    }
    if device in FAHRENHEIT:
        body["temperature_f"] = round(celsius * 9 / 5 + 32, 2)
    else:
        body["temperature"] = round(celsius, 2)
    return body


MALFORMED_KINDS = ["not_json", "no_device_id", "temperature_string", "low_quality"]


def malformed(kind, body):
    """A broken copy of `body`: bytes to send instead of its JSON."""
    broken = dict(body)
    if kind == "not_json":
        return b'{"device_id": "' + body["device_id"].encode() + b'", "temperature": 2'
    if kind == "no_device_id":
        del broken["device_id"]
    elif kind == "temperature_string":
        broken.pop("temperature_f", None)
        broken["temperature"] = "21.5C"
    elif kind == "low_quality":
        # Fails "plausible temperature" and "humidity in 0-100": quality 0.5.
        broken.pop("temperature_f", None)
        broken["temperature"] = 999.0
        broken["humidity"] = -5
    return json.dumps(broken).encode()


def plan(args):
    """Every message to send, in sending order, and what was planted."""
    rng = random.Random(args.seed)
    steps = args.minutes * 60_000 // STEP_MS
    start = args.start_ms
    readings = []  # (send time, sequence, device, event time, step)
    seq = 0
    for step in range(steps):
        for device in DEVICES:
            t = start + step * STEP_MS + rng.randint(0, STEP_MS - 1)
            roll = rng.random()
            # Late ones only where the stream goes on long enough after
            # them to have closed all their windows when they arrive.
            if roll < args.late_share and step < steps - 130:
                delay = rng.randint(480_000, 1_200_000)
            elif roll < args.late_share + args.delayed_share:
                delay = rng.randint(15_000, 70_000)
            else:
                delay = rng.randint(0, 8_000)
            readings.append((t + delay, seq, device, t, step, delay))
            seq += 1
    readings.sort()
    summary = {"readings": 0, "malformed": {k: 0 for k in MALFORMED_KINDS},
               "late": 0, "delayed": 0, "closing": len(DEVICES),
               "devices": DEVICES, "start_ms": start}
    messages = []  # (message id, body bytes, is JSON)
    last_t = start
    for n, (_, seq, device, t, step, delay) in enumerate(readings):
        body = reading(rng, device, t, step)
        mid = f"{args.run}-{seq}"
        if args.malformed_every and n % args.malformed_every == args.malformed_every - 1:
            kind = MALFORMED_KINDS[(n // args.malformed_every) % len(MALFORMED_KINDS)]
            summary["malformed"][kind] += 1
            messages.append((mid, malformed(kind, body), kind != "not_json"))
            continue
        if delay >= 480_000:
            summary["late"] += 1
        elif delay >= 15_000:
            summary["delayed"] += 1
        summary["readings"] += 1
        last_t = max(last_t, t)
        messages.append((mid, json.dumps(body).encode(), True))
    # Closing readings: the watermark passes every window of the stream.
    closing = last_t + CLOSING_GAP_MS
    for device in DEVICES:
        body = reading(rng, device, closing, steps)
        messages.append((f"{args.run}-close-{device}", json.dumps(body).encode(), True))
    summary["end_ms"] = closing
    return messages, summary


def send(args, messages):
    params = pika.URLParameters(args.uri)
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.confirm_delivery()  # each publish waits for the broker's ack
    paced = args.rate > 0
    began = time.monotonic()
    sent = 0

    def publish(body, props, routing_key):
        # mandatory: a message no queue takes raises instead of vanishing.
        channel.basic_publish(args.exchange, routing_key, body, props, mandatory=True)

    def pace(count):
        nonlocal sent
        sent += count
        if paced:
            ahead = sent / args.rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)

    batch = []

    def flush_batch():
        if not batch:
            return
        entries = [{"id": mid, "type": "reading", "body": json.loads(body)}
                   for mid, body in batch]
        props = pika.BasicProperties(
            message_id=f"{batch[0][0]}..{batch[-1][0]}", type="reading",
            delivery_mode=2, content_type="application/json",
            headers={"x-warren-batch": len(entries)})
        publish(json.dumps(entries).encode(), props, "sensor.batch")
        pace(len(entries))
        batch.clear()

    for mid, body, is_json in messages:
        if args.batch > 1 and is_json:
            batch.append((mid, body))
            if len(batch) >= args.batch:
                flush_batch()
            continue
        flush_batch()  # keep the order: a single message goes after the batch
        props = pika.BasicProperties(message_id=mid, type="reading", delivery_mode=2,
                                     content_type="application/json")
        try:
            device = json.loads(body).get("device_id", "unknown")
        except ValueError:
            device = "unknown"
        publish(body, props, f"sensor.{device}")
        pace(1)
    flush_batch()
    connection.close()
    return time.monotonic() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", default=os.environ.get(
        "WARREN_BROKER_URI", "amqp://guest:guest@localhost:5672/"),
        help="broker URI (default: $WARREN_BROKER_URI or the local broker)")
    parser.add_argument("--exchange", default="sensor_data",
                        help="where to publish (default sensor_data)")
    parser.add_argument("--minutes", type=int, default=60,
                        help="minutes of event time to send (default 60)")
    parser.add_argument("--rate", type=float, default=0,
                        help="readings per second of wall time at most "
                             "(default 0: as fast as the broker confirms them)")
    parser.add_argument("--batch", type=int, default=0,
                        help="send readings in batched envelopes of N (default: "
                             "one message each)")
    parser.add_argument("--seed", type=int, default=1,
                        help="random seed of the readings and delays (default 1)")
    parser.add_argument("--run", default=uuid.uuid4().hex[:8],
                        help="prefix of the message ids (default: random)")
    parser.add_argument("--start-ms", type=int, default=None,
                        help="event time of the first reading in epoch ms "
                             "(default: --minutes + 15 minutes ago, or after the "
                             "last run's end if that is later)")
    parser.add_argument("--late-share", type=float, default=0.01,
                        help="share of readings delayed 8 to 20 minutes (default 0.01)")
    parser.add_argument("--delayed-share", type=float, default=0.05,
                        help="share delayed 15 to 70 s (default 0.05)")
    parser.add_argument("--malformed-every", type=int, default=150,
                        help="break every Nth message, 0: none (default 150)")
    parser.add_argument("--summary", help="write what was planted here (JSON)")
    args = parser.parse_args()
    if args.start_ms is None:
        now = int(time.time() * 1000)
        args.start_ms = (now - (args.minutes + 15) * 60_000) // 60_000 * 60_000
        # A second run goes on after the first: readings from before the
        # end of the last run would be behind the window's watermark, late.
        # The mark lives beside the node's state, and goes with it.
        try:
            with open(LAST_END_FILE) as f:
                args.start_ms = max(args.start_ms, int(f.read()) // 60_000 * 60_000 + 120_000)
        except (OSError, ValueError):
            pass
    messages, summary = plan(args)
    elapsed = send(args, messages)
    summary["messages"] = len(messages)
    summary["seconds"] = round(elapsed, 2)
    summary["run"] = args.run
    os.makedirs(os.path.dirname(LAST_END_FILE), exist_ok=True)
    with open(LAST_END_FILE, "w") as f:
        f.write(f"{summary['end_ms']}\n")
    text = json.dumps(summary)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(text + "\n")
    bad = sum(summary["malformed"].values())
    print(f"sent {len(messages)} messages in {elapsed:.1f} s: "
          f"{summary['readings']} readings ({summary['delayed']} delayed, "
          f"{summary['late']} late), {bad} malformed, {summary['closing']} "
          f"closing readings; event time {clock(args.start_ms)} to "
          f"{clock(summary['end_ms'])} UTC", file=sys.stderr)


if __name__ == "__main__":
    main()
