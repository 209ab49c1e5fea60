#!/usr/bin/python3
"""Example Python publisher with asyncio (grpc.aio): publishes several events concurrently.

Each --data is one event. All of them are published at once with unary Publish calls sharing
one channel (for an asyncio service: a web handler awaits `stub.Publish(...)` the same way).
Generate the stubs as explained at the top of publish.py, then, from the repository root:

    /usr/bin/python3 clients/python/publish_async.py --stubs /tmp/herald-py \
        --topic chat.room1 --content_type text/plain --data hello --data hi --data hey

Prints `<topic> <offset> <epoch>` for each event, in the order of the --data flags. The calls
run concurrently, so the gateway may order them differently: the offsets say in which order
subscribers receive them. A failed call prints its gRPC status on stderr instead.
Exit status: 0 all published, 1 a publish failed, 2 the stubs cannot be imported.
"""

import argparse
import asyncio
import sys

import herald_grpc


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Publish events to Herald concurrently over gRPC with asyncio.")
    parser.add_argument("--topic", required=True, help="topic to publish to")
    parser.add_argument("--data", required=True, action="append",
                        help="payload (UTF-8 text) of one event; give it once per event")
    parser.add_argument("--type", default="", help="application event type")
    parser.add_argument("--content_type", default="", help="e.g. application/json or text/plain")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline of each publish (s)")
    herald_grpc.add_connection_args(parser)
    return parser.parse_args(argv)


async def publish_all(args, grpc, event_pb2, publisher_pb2_grpc):
    metadata = herald_grpc.metadata(args)
    async with herald_grpc.open_aio_channel(grpc, args) as channel:
        stub = publisher_pb2_grpc.PublisherStub(channel)
        calls = [
            stub.Publish(event_pb2.PublishRequest(topic=args.topic, type=args.type,
                                                  data=data.encode("utf-8"),
                                                  content_type=args.content_type),
                         timeout=args.timeout, metadata=metadata)
            for data in args.data
        ]
        # Every call is in flight before the first answer is awaited.
        results = await asyncio.gather(*calls, return_exceptions=True)

    failed = False
    for result in results:
        if isinstance(result, grpc.RpcError):
            failed = True
            print(f"publish_async.py: {result.code().name}: {result.details()}", file=sys.stderr)
        elif isinstance(result, BaseException):
            raise result
        else:
            print(f"{result.topic} {result.offset} {result.epoch}")
    return 1 if failed else 0


def main(argv):
    args = parse_args(argv)
    modules = herald_grpc.import_grpc("publish_async.py", args)
    if modules is None:
        return 2
    grpc, event_pb2, publisher_pb2_grpc = modules
    return asyncio.run(publish_all(args, grpc, event_pb2, publisher_pb2_grpc))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
