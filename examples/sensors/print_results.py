#!/usr/bin/python3
"""Prints the window results the sensor pipeline publishes to `sensors.results`.

    examples/sensors/print_results.py            # until Ctrl-C
    examples/sensors/print_results.py --idle 5   # stop after 5 quiet seconds
    examples/sensors/print_results.py --json     # one JSON line per message

Each result is one device's 5-minute window (sliding every minute) with its
temperature statistics, enriched with the device's location:

    dev-004  oslo/North fl.3  10:05-10:10  n=30  avg 22.61 C  min 21.02  max 24.13  median 22.58  sd 0.79  hum 47.3%
    dev-002  lyon/B1 fl.2     10:03-10:08  n=31  avg 21.98 C  ...  update r1

"update rN" marks a result revised by readings that came late but within the
allowed lateness: it replaces the earlier result of the same window (same
device, start and end). Messages are taken off the queue (acked) as they are
printed. Needs python3-pika (Debian package).
"""

import argparse
import datetime
import json
import os
import sys

import pika


def clock(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc).strftime("%H:%M")


def number(value, fmt="{:.2f}"):
    return "-" if value is None else fmt.format(value)


def line_of(body):
    key = body.get("key", {})
    where = body.get("location", {})
    place = where.get("site", "?")
    if "building" in where:
        place += f"/{where['building']} fl.{where.get('floor', '?')}"
    t = body.get("fields", {}).get("temperature", {})
    h = body.get("fields", {}).get("humidity", {})
    text = (f"{key.get('device_id', '?'):8} {place:17} "
            f"{clock(body['start'])}-{clock(body['end'])}  n={body.get('count'):<3} "
            f"avg {number(t.get('avg'))} C  min {number(t.get('min'))}  "
            f"max {number(t.get('max'))}  median {number(t.get('median'))}  "
            f"sd {number(t.get('stddev'))}  hum {number(h.get('avg'), '{:.1f}')}%")
    if body.get("update"):
        text += f"  update r{body.get('revision')}"
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", default=os.environ.get(
        "WARREN_BROKER_URI", "amqp://guest:guest@localhost:5672/"),
        help="broker URI (default: $WARREN_BROKER_URI or the local broker)")
    parser.add_argument("--queue", default="sensors.results")
    parser.add_argument("--json", action="store_true",
                        help='print {"id", "routing_key", "type", "headers", "body"} per message')
    parser.add_argument("--idle", type=float, default=0,
                        help="exit after this many seconds without a message "
                             "(default: run until interrupted)")
    args = parser.parse_args()
    connection = pika.BlockingConnection(pika.URLParameters(args.uri))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=500)
    count = 0
    try:
        for method, props, body in channel.consume(
                args.queue, inactivity_timeout=args.idle or None):
            if method is None:  # --idle seconds without a message
                break
            if args.json:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = body.decode("utf-8", "replace")
                headers = {k: v if isinstance(v, (int, float, str)) else str(v)
                           for k, v in (props.headers or {}).items()}
                print(json.dumps({"id": props.message_id, "routing_key": method.routing_key,
                                  "type": props.type, "headers": headers,
                                  "body": parsed}))
            else:
                print(line_of(json.loads(body)))
            sys.stdout.flush()
            channel.basic_ack(method.delivery_tag)
            count += 1
    except KeyboardInterrupt:
        pass
    finally:
        channel.cancel()
        connection.close()
    print(f"{count} messages from {args.queue}", file=sys.stderr)


if __name__ == "__main__":
    main()
