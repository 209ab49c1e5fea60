#!/usr/bin/python3
"""Example Python consumer: follows topics over gRPC (Subscriber.Subscribe), resuming from where
it left off, and says whether what it missed was replayed.

Stubs as for publish.py (see its top). For example:

    /usr/bin/python3 clients/python/subscribe.py --stubs /tmp/herald-py --topic orders \
        --since orders=3f9a1c0b7d2e:41

First prints one line per topic, `subscribed <topic> <epoch> <offset> <recovered|not-recovered|live>`,
from the call's `herald-connected-bin` metadata: `not-recovered` means history no longer held
every event after the `--since` position (nothing was replayed; re-read that topic's state),
`live` that no position was given. Then one line per event, `<topic> <epoch> <offset> <data>`,
until --count events (0: until interrupted). Keep the last epoch and offset of each topic to
resume from them. A stream that ends with UNAVAILABLE (the gateway restarting, or its node
losing events) is worth subscribing again with `--since`.
"""

import argparse
import sys

import herald_grpc


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Follow Herald topics over gRPC.")
    parser.add_argument("--topic", action="append", required=True, help="topic (repeatable)")
    parser.add_argument("--since", action="append", default=[],
                        help="TOPIC=EPOCH:OFFSET to resume a topic from (repeatable)")
    parser.add_argument("--count", type=int, default=0, help="stop after this many events")
    herald_grpc.add_connection_args(parser)
    return parser.parse_args(argv)


def parse_since(text):
    """TOPIC=EPOCH:OFFSET as (topic, epoch, offset), or None."""
    topic, _, position = text.partition("=")
    epoch, _, offset = position.rpartition(":")
    if not topic or not offset.isdigit():
        return None
    return topic, epoch, int(offset)


def main(argv):
    args = parse_args(argv)
    modules = herald_grpc.import_grpc("subscribe.py", args)
    if modules is None:
        return 2
    grpc, event_pb2, _ = modules
    # pylint: disable=import-outside-toplevel
    from herald.v1 import subscriber_pb2, subscriber_pb2_grpc, websocket_pb2

    request = subscriber_pb2.SubscribeRequest(topics=args.topic)
    for text in args.since:
        since = parse_since(text)
        if since is None:
            print(f"subscribe.py: --since {text!r} is not TOPIC=EPOCH:OFFSET", file=sys.stderr)
            return 2
        request.since.append(
            event_pb2.StreamPosition(topic=since[0], epoch=since[1], offset=since[2]))
    asked = {position.topic for position in request.since}

    with herald_grpc.open_channel(grpc, args) as channel:
        stub = subscriber_pb2_grpc.SubscriberStub(channel)
        call = stub.Subscribe(request, metadata=herald_grpc.metadata(args))
        try:
            connected = websocket_pb2.Connected()
            for key, value in call.initial_metadata():
                if key == "herald-connected-bin":
                    connected.ParseFromString(value)
            for result in connected.subscriptions:
                state = "live"
                if result.topic in asked:
                    state = "recovered" if result.recovered else "not-recovered"
                print(f"subscribed {result.topic} {result.epoch} {result.offset} {state}",
                      flush=True)
            epochs = {result.topic: result.epoch for result in connected.subscriptions}
            received = 0
            for event in call:
                # An event names its epoch whole on this stream; kept for the resume position.
                epochs[event.topic] = event.epoch or epochs.get(event.topic, "")
                data = event.data.decode("utf-8", errors="replace")
                print(f"{event.topic} {epochs[event.topic]} {event.offset} {data}", flush=True)
                received += 1
                if args.count and received >= args.count:
                    call.cancel()
                    break
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                print(f"subscribe.py: {error.code().name}: {error.details()}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
