#!/usr/bin/python3
"""Calls a warren service the way a foreign AMQP client would, with pika.

    pika_rpc_client.py URI SERVICE BODY [TYPE]

Declares its own exclusive, server-named reply queue, publishes BODY to the
`warren.actors` exchange with the service name as routing key, `reply_to` and
a fresh `correlation_id` (mandatory, with a publisher confirm), and waits up
to 10 s for the reply with that correlation id. Prints one JSON object:
{"correlation_id", "sent_correlation_id", "type", "body"}. Exit codes: 0 a
reply came, 1 no reply in time, 2 the request was unroutable.

Run with Debian's /usr/bin/python3 (python3-pika); a pyenv python3 on PATH
may not see it.
"""

import json
import sys
import time
import uuid

import pika


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 64
    uri, service, body = argv[1:4]
    message_type = argv[4] if len(argv) == 5 else None
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    try:
        channel = connection.channel()
        reply_queue = channel.queue_declare(
            queue="", exclusive=True, auto_delete=True).method.queue
        correlation_id = str(uuid.uuid4())
        replies = []

        def on_reply(_channel, _method, properties, reply_body):
            # Replies to anything else (there should be none) are ignored.
            if properties.correlation_id == correlation_id:
                replies.append((properties, reply_body))

        channel.basic_consume(queue=reply_queue, on_message_callback=on_reply,
                              auto_ack=True)
        channel.confirm_delivery()
        try:
            channel.basic_publish(
                exchange="warren.actors", routing_key=service, body=body,
                properties=pika.BasicProperties(
                    content_type="application/json", type=message_type,
                    reply_to=reply_queue, correlation_id=correlation_id,
                    message_id=str(uuid.uuid4()), delivery_mode=1),
                mandatory=True)
        except pika.exceptions.UnroutableError:
            print("no queue took the request", file=sys.stderr)
            return 2
        deadline = time.monotonic() + 10
        while not replies and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
        if not replies:
            print("no reply within 10 s", file=sys.stderr)
            return 1
        properties, reply_body = replies[0]
        json.dump({"correlation_id": properties.correlation_id,
                   "sent_correlation_id": correlation_id,
                   "type": properties.type,
                   "body": json.loads(reply_body)}, sys.stdout)
        return 0
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
