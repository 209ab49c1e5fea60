#!/usr/bin/python3
"""End-to-end test of the Python publishing path: generated stubs -> real gateway -> SSE.

Run by CTest (python_publish) with Debian's /usr/bin/python3 (it has python3-grpcio). Needs:
  HERALD_BIN         path of the built gateway (build/bin/herald)
  HERALD_SOURCE_DIR  repository root (for proto/)
Stubs are generated at test time with Debian's protoc and /usr/bin/grpc_python_plugin.
"""

import glob
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from collections import deque

STARTUP_TIMEOUT_S = 20.0
EVENT_TIMEOUT_S = 10.0
RPC_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 15.0

LISTENING_RE = re.compile(r"herald listening http=(\S+):(\d+) grpc=(\S+):(\d+)")

grpc = None
event_pb2 = None
publisher_pb2_grpc = None


def generate_stubs(source_dir, out_dir):
    """Generates herald/v1/*_pb2.py and *_pb2_grpc.py into out_dir and imports them."""
    global grpc, event_pb2, publisher_pb2_grpc
    proto_dir = os.path.join(source_dir, "proto")
    protos = sorted(glob.glob(os.path.join(proto_dir, "herald", "v1", "*.proto")))
    if not protos:
        raise RuntimeError(f"no .proto files under {proto_dir}")
    protoc = shutil.which("protoc") or "/usr/bin/protoc"
    subprocess.run(
        [protoc, "-I", proto_dir, f"--python_out={out_dir}", f"--grpc_out={out_dir}",
         "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", *protos],
        check=True, timeout=60)
    sys.path.insert(0, out_dir)
    import grpc as grpc_module
    from herald.v1 import event_pb2 as event_module
    from herald.v1 import publisher_pb2_grpc as publisher_grpc_module
    grpc, event_pb2, publisher_pb2_grpc = grpc_module, event_module, publisher_grpc_module


class Gateway:
    """The real herald binary on ephemeral ports; its output is drained by threads."""

    def __init__(self, binary, *flags):
        self.output = deque(maxlen=200)  # Last lines of stdout+stderr, for failure messages.
        self._lines = queue.Queue()
        self.process = subprocess.Popen(
            [binary, "--http_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0", *flags],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._threads = [
            threading.Thread(target=self._drain, args=(self.process.stderr, True), daemon=True),
            threading.Thread(target=self._drain, args=(self.process.stdout, False), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _drain(self, stream, watch):
        # Keeps reading for the whole life of the process so the gateway never blocks on a pipe.
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.output.append(line)
            if watch:
                self._lines.put(line)
        if watch:
            self._lines.put(None)

    def wait_listening(self, timeout):
        """Returns (http_port, grpc_port) once the gateway prints its listening line."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"gateway did not report listening within {timeout}s:\n"
                                     + self.log())
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.process.wait(timeout=5)
                raise AssertionError(f"gateway exited with {self.process.returncode} before "
                                     "listening:\n" + self.log())
            match = LISTENING_RE.search(line)
            if match:
                return int(match.group(2)), int(match.group(4))

    def stop(self, timeout):
        """SIGTERM, then waits; returns the exit code (None if it had to be killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            return None
        finally:
            for thread in self._threads:
                thread.join(timeout=5)

    def log(self):
        return "\n".join(self.output)


class SseStream:
    """Reads GET /sse raw (chunked text/event-stream) in a thread; events go to a queue."""

    def __init__(self, port, path, headers=None):
        self.events = queue.Queue()
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.connection.request("GET", path,
                                headers={"Accept": "text/event-stream", **(headers or {})})
        self.sock = self.connection.sock  # getresponse() may drop it (Connection: close).
        self.response = self.connection.getresponse()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        fields = {}
        data_lines = []
        try:
            while True:
                raw = self.response.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:  # A blank line ends an event.
                    if data_lines or fields:
                        self.events.put({"id": fields.get("id"),
                                         "event": fields.get("event", "message"),
                                         "data": "\n".join(data_lines)})
                    fields, data_lines = {}, []
                    continue
                if line.startswith(":"):  # Comment (": ping").
                    continue
                name, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if name == "data":
                    data_lines.append(value)
                else:
                    fields[name] = value
        except Exception:  # pylint: disable=broad-except
            pass  # Connection reset or closed by close(): the stream is over either way.
        self.events.put(None)  # End of stream.

    def next_event(self, timeout, predicate=lambda event: True):
        """The next event matching predicate; fails on timeout or end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching SSE event within {timeout}s")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event is None:
                raise AssertionError("SSE stream ended")
            if predicate(event):
                return event

    def close(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # Unblocks the reader thread.
            except OSError:
                pass
        self.thread.join(timeout=5)
        self.response.close()
        self.connection.close()


def is_app_event(event):
    return not event["event"].startswith("herald.")


class GatewayTestCase(unittest.TestCase):
    """Base of the tests against one real gateway: generates the stubs into cls.stubs_dir and
    starts the gateway (cls.http_port, cls.grpc_port, cls.stub) once for the whole class."""

    gateway = None

    @classmethod
    def setUpClass(cls):
        binary = os.environ.get("HERALD_BIN")
        source_dir = os.environ.get("HERALD_SOURCE_DIR")
        if not binary or not source_dir:
            raise RuntimeError("set HERALD_BIN (build/bin/herald) and HERALD_SOURCE_DIR")
        cls.source_dir = source_dir
        cls.stubs_dir = tempfile.mkdtemp(prefix="herald-py-stubs-")
        try:
            generate_stubs(source_dir, cls.stubs_dir)
            cls.gateway = Gateway(binary)
            cls.http_port, cls.grpc_port = cls.gateway.wait_listening(STARTUP_TIMEOUT_S)
            cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.grpc_port}")
            grpc.channel_ready_future(cls.channel).result(timeout=RPC_TIMEOUT_S)
        except BaseException:
            # tearDownClass does not run when setUpClass fails.
            if cls.gateway is not None:
                cls.gateway.stop(SHUTDOWN_TIMEOUT_S)
            shutil.rmtree(cls.stubs_dir, ignore_errors=True)
            raise
        cls.stub = publisher_pb2_grpc.PublisherStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        shutil.rmtree(cls.stubs_dir, ignore_errors=True)
        code = cls.gateway.stop(SHUTDOWN_TIMEOUT_S)
        if code != 0:
            raise AssertionError(f"gateway exit code after SIGTERM: {code} (None = did not exit "
                                 f"within {SHUTDOWN_TIMEOUT_S}s)\n" + cls.gateway.log())


class PublishTest(GatewayTestCase):
    def test_unary_publish_reaches_sse(self):
        sse = SseStream(self.http_port, "/sse?topic=py.test")
        self.addCleanup(sse.close)
        self.assertEqual(sse.response.status, 200, self.gateway.log())
        self.assertTrue(
            sse.response.getheader("Content-Type", "").startswith("text/event-stream"))
        # Subscribed once the gateway says so: publish only after that.
        connected = sse.next_event(EVENT_TIMEOUT_S,
                                   lambda event: event["event"] == "herald.connected")
        epoch = json.loads(connected["data"])["subscriptions"][0]["epoch"]

        request = event_pb2.PublishRequest(
            topic="py.test", data=b'{"n":1}', content_type="application/json")
        response = self.stub.Publish(request, timeout=RPC_TIMEOUT_S)
        self.assertEqual(response.offset, 1)
        self.assertNotEqual(response.epoch, "")
        self.assertEqual(response.topic, "py.test")

        event = sse.next_event(EVENT_TIMEOUT_S, is_app_event)
        payload = json.loads(event["data"])
        self.assertEqual(payload["topic"], "py.test")
        self.assertEqual(payload["offset"], 1)
        # The subscriber was told the epoch at connect: the event leaves it out.
        self.assertEqual(epoch, response.epoch)
        self.assertNotIn("epoch", payload)
        self.assertEqual(event["id"], f"{response.epoch}-1")
        self.assertEqual(payload["data"], {"n": 1})
        self.assertEqual(payload["content_type"], "application/json")
        self.assertIsInstance(payload["time_unix_ms"], int)
        self.assertTrue(event["id"], "events kept in history carry an id")

    def test_stream_answers_each_item_in_order(self):
        requests = [
            event_pb2.PublishRequest(topic="py.stream", data=b"first", request_id="r1"),
            event_pb2.PublishRequest(topic="bad topic!", data=b"bad", request_id="r2"),
            event_pb2.PublishRequest(topic="py.stream", data=b"third", request_id="r3"),
        ]
        responses = list(self.stub.PublishStream(iter(requests), timeout=RPC_TIMEOUT_S))
        self.assertEqual(len(responses), 3)
        self.assertEqual([r.request_id for r in responses], ["r1", "r2", "r3"])
        first, bad, third = responses
        self.assertEqual(bad.error.code, 3)  # INVALID_ARGUMENT
        for good in (first, third):
            self.assertEqual(good.error.code, 0, good.error.message)
            self.assertNotEqual(good.epoch, "")
        self.assertGreaterEqual(first.offset, 1)
        self.assertEqual(third.offset, first.offset + 1)

    def test_unary_invalid_topic_is_invalid_argument(self):
        request = event_pb2.PublishRequest(topic="bad topic!", data=b"x")
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.Publish(request, timeout=RPC_TIMEOUT_S)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)


if __name__ == "__main__":
    unittest.main(verbosity=2)
