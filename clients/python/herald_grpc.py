"""What Herald's example Python publishers share: the connection flags, the imports (with an
error that says which part is missing) and the channel (plaintext, or TLS with --tls_ca)."""

import os
import sys


def add_connection_args(parser):
    """--target, --token, --tls, --tls_ca and --stubs."""
    parser.add_argument("--target", default="127.0.0.1:50051", help="gRPC address of the gateway")
    parser.add_argument("--token", default="", help="sent as 'authorization: Bearer <token>'")
    parser.add_argument("--tls", action="store_true",
                        help="speak TLS, trusting the system's CAs (a gateway with a certificate "
                             "on its gRPC port, as in the README's production set-up)")
    parser.add_argument("--tls_ca", default="",
                        help="speak TLS, trusting this PEM CA file (implies --tls)")
    parser.add_argument("--stubs", default=os.environ.get("HERALD_PY_STUBS", ""),
                        help="directory of the generated stubs (default: $HERALD_PY_STUBS)")


def import_grpc(script, args):
    """(grpc, event_pb2, publisher_pb2_grpc), or None after saying on stderr what is missing."""
    try:
        import grpc  # pylint: disable=import-outside-toplevel
        import grpc.aio  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError as error:
        print(f"{script}: cannot import grpc ({error}): install python3-grpcio and "
              "python3-protobuf (Debian), or grpcio and protobuf (pip)", file=sys.stderr)
        return None
    if args.stubs:
        sys.path.insert(0, args.stubs)
    try:
        from herald.v1 import event_pb2, publisher_pb2_grpc  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        print(f"{script}: cannot import the stubs ({error}); generate them and pass --stubs "
              "(see the top of clients/python/publish.py)", file=sys.stderr)
        return None
    return grpc, event_pb2, publisher_pb2_grpc


def credentials(grpc, args):
    """TLS channel credentials for --tls / --tls_ca, or None for a plaintext channel."""
    if not args.tls and not args.tls_ca:
        return None
    root = None
    if args.tls_ca:
        with open(args.tls_ca, "rb") as ca_file:
            root = ca_file.read()
    return grpc.ssl_channel_credentials(root_certificates=root)


def open_channel(grpc, args):
    tls = credentials(grpc, args)
    return grpc.secure_channel(args.target, tls) if tls else grpc.insecure_channel(args.target)


def open_aio_channel(grpc, args):
    tls = credentials(grpc, args)
    if tls:
        return grpc.aio.secure_channel(args.target, tls)
    return grpc.aio.insecure_channel(args.target)


def metadata(args):
    return (("authorization", f"Bearer {args.token}"),) if args.token else None
