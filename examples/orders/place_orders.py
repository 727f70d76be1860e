#!/usr/bin/python3
"""Places orders with the orders example's saga and prints their outcomes.

    place_orders.py [--uri URI] [--json]

Publishes one `saga.start` per order to the `orders.saga` actor (through
warren's `warren.actors` exchange, the way any AMQP client can), waits for
each saga to end, and prints what happened to it; then asks the
`orders.summary` projection for its read model. The saga ids are the order
ids: running the script again starts nothing new, it prints the same
outcomes. With --json, one JSON object per order and one for the summary.

Run with Debian's /usr/bin/python3 (python3-pika). URI: --uri, else
$WARREN_BROKER_URI, else amqp://guest:guest@localhost:5672/.
"""

import argparse
import json
import os
import sys
import time
import uuid

import pika

ORDERS = [
    # A plain order: completed.
    {"order_id": "o-1001", "customer": "alice", "sku": "pen", "quantity": 2,
     "total": 25.0},
    # Above 10,000: the payment service refuses it (the seed's rule), so the
    # stock reserved is released and the order cancelled.
    {"order_id": "o-1002", "customer": "bob", "sku": "book", "quantity": 1,
     "total": 12500.0},
    # More books than there are: out of stock, the order is cancelled.
    {"order_id": "o-1003", "customer": "carol", "sku": "book", "quantity": 10,
     "total": 150.0},
    # Completed: the book bob did not get is back in stock.
    {"order_id": "o-1004", "customer": "dave", "sku": "book", "quantity": 3,
     "total": 45.0},
]


class Client:
    """Requests to warren actors by name, replies on an exclusive queue."""

    def __init__(self, uri):
        self.connection = pika.BlockingConnection(pika.URLParameters(uri))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.replies = self.channel.queue_declare("", exclusive=True).method.queue

    def call(self, actor, message_type, body, timeout=10.0):
        correlation_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange="warren.actors", routing_key=actor,
            body=json.dumps(body),
            properties=pika.BasicProperties(
                content_type="application/json", type=message_type,
                message_id=correlation_id, correlation_id=correlation_id,
                reply_to=self.replies, delivery_mode=2),
            mandatory=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            method, props, reply = self.channel.basic_get(self.replies,
                                                          auto_ack=True)
            if method is None:
                self.connection.sleep(0.02)
                continue
            if props.correlation_id != correlation_id:
                continue  # a reply to an earlier call that gave up
            answer = json.loads(reply)
            if props.type == "warren.error":
                raise RuntimeError(f"{actor} {message_type}: "
                                   f"{answer['error']['message']}")
            return answer
        raise TimeoutError(f"{actor} did not answer {message_type} in {timeout} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default=os.environ.get(
        "WARREN_BROKER_URI", "amqp://guest:guest@localhost:5672/"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    client = Client(args.uri)
    for order in ORDERS:
        accepted = client.call("orders.saga", "saga.start",
                               {"saga": "place_order",
                                "saga_id": order["order_id"], "data": order})
        if not args.json:
            again = " (placed before)" if accepted["existing"] else ""
            print(f"placed {order['order_id']}{again}")
    ended = {}
    deadline = time.time() + args.timeout
    while len(ended) < len(ORDERS) and time.time() < deadline:
        for order in ORDERS:
            saga_id = order["order_id"]
            if saga_id in ended:
                continue
            try:
                saga = client.call("orders.saga", "saga.get",
                                   {"saga_id": saga_id})
            except RuntimeError:
                continue  # not committed yet
            if saga["status"] in ("completed", "compensated", "failed", "stuck"):
                ended[saga_id] = saga
        time.sleep(0.2)
    for order in ORDERS:
        saga = ended.get(order["order_id"])
        status = saga["status"] if saga else "unfinished"
        if args.json:
            print(json.dumps({"order_id": order["order_id"], "status": status,
                              "error": saga["error"] if saga else "",
                              "steps": {s["id"]: s["status"]
                                        for s in saga["steps"]} if saga else {}}))
            continue
        line = (f"{order['order_id']}  {status:<12} {order['customer']:<6} "
                f"{order['sku']} x{order['quantity']:<3} {order['total']:>10.2f}")
        if saga and saga["error"]:
            line += f"  ({saga['error']})"
        print(line)
    # The read model catches up with the events the sagas caused.
    summary = None
    for _ in range(100):
        summary = client.call("orders.summary", "projection.query",
                              {"query": "totals"})
        done = sum(r["orders"] for r in summary["rows"]
                   if r["status"] in ("confirmed", "cancelled"))
        if done >= len(ended):
            break
        time.sleep(0.1)
    if args.json:
        print(json.dumps({"summary": summary["rows"],
                          "position": summary["position"]}))
    else:
        print("read model (orders.summary):")
        for row in summary["rows"]:
            print(f"  {row['status']:<10} {row['orders']} orders, "
                  f"{row['total']:.2f}")
    return 0 if len(ended) == len(ORDERS) else 1


if __name__ == "__main__":
    sys.exit(main())
