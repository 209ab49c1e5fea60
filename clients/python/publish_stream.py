#!/usr/bin/python3
"""Example Python publisher: publishes many events to Herald through one PublishStream.

Every line of stdin (without its newline) is one event; with --count N, N generated events
("event 1", "event 2", ...) are published instead. The gateway answers every item, in order,
and the stream goes on past a failed item. Generate the stubs as explained at the top of
publish.py, then, from the repository root:

    seq 1 5 | /usr/bin/python3 clients/python/publish_stream.py --stubs /tmp/herald-py \
        --topic prices.eurusd --content_type application/json

    /usr/bin/python3 clients/python/publish_stream.py --stubs /tmp/herald-py \
        --topic chat.room1 --count 100

Prints `<topic> <offset> <epoch>` on stdout for each published event, and
`error <code> <message>` on stderr for each refused one (code is the gRPC status code number).
Exit status: 0 all published, 1 an item or the call failed, 2 the stubs cannot be imported.
"""

import argparse
import sys

import herald_grpc


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Publish stdin lines (or --count generated events) to Herald over one "
                    "PublishStream.")
    parser.add_argument("--topic", required=True, help="topic to publish to")
    parser.add_argument("--count", type=int, default=None,
                        help="publish N generated events instead of reading stdin")
    parser.add_argument("--type", default="", help="application event type")
    parser.add_argument("--content_type", default="", help="e.g. application/json or text/plain")
    parser.add_argument("--idempotency_key", default="",
                        help="item N is sent with the key '<key>:<N>', so a re-run of the same "
                             "input does not publish twice")
    herald_grpc.add_connection_args(parser)
    args = parser.parse_args(argv)
    if args.count is not None and args.count < 0:
        parser.error("--count must be >= 0")
    return args


def payloads(args):
    """The data of each event, as bytes: generated with --count, else the lines of stdin."""
    if args.count is not None:
        return (f"event {n}".encode("utf-8") for n in range(1, args.count + 1))
    return (line.rstrip(b"\r\n") for line in sys.stdin.buffer)


def main(argv):
    args = parse_args(argv)
    modules = herald_grpc.import_grpc("publish_stream.py", args)
    if modules is None:
        return 2
    grpc, event_pb2, publisher_pb2_grpc = modules

    sent = 0

    def requests():
        # gRPC reads this generator on its own thread while the loop below reads the answers,
        # so a long input never waits for the answers (nor the answers for the input).
        nonlocal sent
        for n, data in enumerate(payloads(args), start=1):
            key = f"{args.idempotency_key}:{n}" if args.idempotency_key else ""
            sent = n
            yield event_pb2.PublishRequest(
                topic=args.topic, type=args.type, data=data, content_type=args.content_type,
                idempotency_key=key, request_id=str(n))

    answered = 0
    failed = False
    with herald_grpc.open_channel(grpc, args) as channel:
        stub = publisher_pb2_grpc.PublisherStub(channel)
        try:
            for response in stub.PublishStream(requests(), metadata=herald_grpc.metadata(args)):
                answered += 1
                if response.error.code != 0:
                    failed = True
                    print(f"error {response.error.code} {response.error.message}",
                          file=sys.stderr)
                else:
                    print(f"{response.topic} {response.offset} {response.epoch}", flush=True)
        except grpc.RpcError as error:
            print(f"publish_stream.py: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    if answered != sent:
        print(f"publish_stream.py: the stream ended after {answered} of {sent} answers",
              file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
