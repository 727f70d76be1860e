#!/usr/bin/python3
"""Publishes like most foreign clients (and the seed documents' examples):
with pika, persistent, with a publisher confirm, and no message_id.

    pika_publish.py URI EXCHANGE ROUTING_KEY BODY [COUNT] [TYPE]

Publishes BODY COUNT times (default 1), content type application/json.
Exit codes: 0 all confirmed, 2 a message was unroutable or nacked.

Run with Debian's /usr/bin/python3 (python3-pika).
"""

import sys

import pika


def main(argv):
    if len(argv) not in (5, 6, 7):
        print(__doc__, file=sys.stderr)
        return 64
    uri, exchange, routing_key, body = argv[1:5]
    count = int(argv[5]) if len(argv) >= 6 else 1
    message_type = argv[6] if len(argv) == 7 else None
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(content_type="application/json",
                                          type=message_type, delivery_mode=2)
        for _ in range(count):
            try:
                channel.basic_publish(exchange=exchange,
                                      routing_key=routing_key, body=body,
                                      properties=properties, mandatory=True)
            except (pika.exceptions.UnroutableError,
                    pika.exceptions.NackError) as error:
                print("not confirmed: %r" % (error,), file=sys.stderr)
                return 2
    finally:
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
