#!/usr/bin/python3
"""Example backend for Herald's --authorizer: a herald.v1.Authorizer service (grpc.aio) that lets
browsers in by the session cookie your site already sets, so no JWT has to be minted.

Stubs as for publish.py (see its top). Run it next to the gateway:

    /usr/bin/python3 clients/python/authorizer.py --stubs /tmp/herald-py \\
        --listen 127.0.0.1:50061 --session 4f1c9e=ada --session 77ab02=bob
    build/bin/herald --authorizer=127.0.0.1:50061

Then a browser holding the cookie `session=4f1c9e` gets ada's grant when it opens
`/ws?topic=chat.lobby` or `/sse?topic=user.ada`: it may follow `chat.*` and its own `user.ada`,
and publish on `chat.*`, for an hour. Without a known session the gateway answers 401; a user
named by `--suspended` gets 403. Prints `authorizer listening <host>:<port>` once it serves (port 0
picks a free one).

The sessions here come from the command line; in your backend, look the cookie up where your
web framework keeps its sessions.
"""

import argparse
import asyncio
import os
import sys
import time

import herald_grpc

GRANT_SECONDS = 3600


def parse_args(argv):
    parser = argparse.ArgumentParser(description="A Herald Authorizer checking session cookies.")
    parser.add_argument("--listen", default="127.0.0.1:50061", help="address to serve on")
    parser.add_argument("--session", action="append", default=[],
                        help="SESSION_ID=USER: a logged-in session (repeatable)")
    parser.add_argument("--suspended", action="append", default=[],
                        help="a user who may not connect (403)")
    parser.add_argument("--cookie", default="session", help="name of the session cookie")
    parser.add_argument("--stubs", default=os.environ.get("HERALD_PY_STUBS", ""),
                        help="directory of the generated stubs (default: $HERALD_PY_STUBS)")
    return parser.parse_args(argv)


def cookie_value(header, name):
    """The value of cookie `name` in a Cookie header ("a=1; b=2"), or ""."""
    for pair in header.split(";"):
        key, _, value = pair.strip().partition("=")
        if key == name:
            return value.strip().strip('"')
    return ""


def make_servicer(grpc, authorizer_pb2, authorizer_pb2_grpc, sessions, suspended, cookie):
    class CookieAuthorizer(authorizer_pb2_grpc.AuthorizerServicer):
        """Connect: who the session cookie names, and what that user may do."""

        async def Connect(self, request, context):  # pylint: disable=invalid-name
            session = cookie_value(request.headers.get("cookie", ""), cookie)
            user = sessions.get(session)
            if user is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "log in first")
            if user in suspended:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "this account is suspended")
            return authorizer_pb2.AuthorizerConnectResponse(
                user=user,
                subscribe=["chat.*", f"user.{user}"],
                publish=["chat.*"],
                expire_unix_s=int(time.time()) + GRANT_SECONDS,
            )

    return CookieAuthorizer()


async def serve(args, grpc, authorizer_pb2, authorizer_pb2_grpc):
    sessions = {}
    for text in args.session:
        session, _, user = text.partition("=")
        if not session or not user:
            print(f"authorizer.py: --session {text!r} is not SESSION_ID=USER", file=sys.stderr)
            return 2
        sessions[session] = user
    # Without SO_REUSEPORT a second backend on a taken port fails, instead of sharing it.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    authorizer_pb2_grpc.add_AuthorizerServicer_to_server(
        make_servicer(grpc, authorizer_pb2, authorizer_pb2_grpc, sessions, set(args.suspended),
                      args.cookie), server)
    try:
        port = server.add_insecure_port(args.listen)
    except RuntimeError:
        port = 0
    if port == 0:
        print(f"authorizer.py: cannot listen on {args.listen}", file=sys.stderr)
        return 1
    await server.start()
    host = args.listen.rpartition(":")[0]
    print(f"authorizer listening {host}:{port}", flush=True)
    await server.wait_for_termination()
    return 0


def main(argv):
    args = parse_args(argv)
    modules = herald_grpc.import_grpc("authorizer.py", args)
    if modules is None:
        return 2
    grpc = modules[0]
    # pylint: disable=import-outside-toplevel
    from herald.v1 import authorizer_pb2, authorizer_pb2_grpc
    try:
        return asyncio.run(serve(args, grpc, authorizer_pb2, authorizer_pb2_grpc))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
