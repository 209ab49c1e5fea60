#!/usr/bin/python3
"""Runs the Python publisher examples (clients/python/*.py) as users do, against the real gateway,
and checks over SSE that their events arrive in order with the offsets they printed.

Run by CTest (python_examples) with Debian's /usr/bin/python3, with the environment of
test_publish.py (HERALD_BIN, HERALD_SOURCE_DIR), whose gateway and SSE helpers it uses.
"""

import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import sys
import unittest

import test_publish as common

EXAMPLE_TIMEOUT_S = 60.0
PRINTED_RE = re.compile(r"^(\S+) (\d+) (\S+)$")


class ExampleChecks(common.GatewayTestCase):
    """What the example tests share: reading what an example printed, and SSE subscribers."""

    def run_example(self, script, *args, stdin=None, stubs_from_env=False):
        """Runs clients/python/<script> against the gateway; returns the CompletedProcess."""
        path = os.path.join(self.source_dir, "clients", "python", script)
        env = dict(os.environ)
        env.pop("HERALD_PY_STUBS", None)
        command = [sys.executable, path, f"--target=127.0.0.1:{self.grpc_port}", *args]
        if stubs_from_env:
            env["HERALD_PY_STUBS"] = self.stubs_dir
        else:
            command.append(f"--stubs={self.stubs_dir}")
        return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env,
                              timeout=EXAMPLE_TIMEOUT_S, check=False)

    def printed(self, result, topic):
        """The `<topic> <offset> <epoch>` lines of an example's stdout, as (offset, epoch)."""
        positions = []
        for line in result.stdout.splitlines():
            match = PRINTED_RE.match(line)
            self.assertIsNotNone(match, f"unexpected output line {line!r}\n{result.stderr}")
            self.assertEqual(match.group(1), topic)
            positions.append((int(match.group(2)), match.group(3)))
        return positions

    def subscribe(self, topic):
        """An SSE stream on topic, live (its herald.connected event seen)."""
        sse = common.SseStream(self.http_port, f"/sse?topic={topic}")
        self.addCleanup(sse.close)
        self.assertEqual(sse.response.status, 200, self.gateway.log())
        connected = sse.next_event(common.EVENT_TIMEOUT_S,
                                   lambda event: event["event"] == "herald.connected")
        # Events name their epoch only when it is news: this one until one does.
        sse.epoch = json.loads(connected["data"])["subscriptions"][0]["epoch"]
        return sse

    def received(self, sse, count):
        """The JSON of the next count application events of sse, checked to be in offset order."""
        events = []
        for _ in range(count):
            event = sse.next_event(common.EVENT_TIMEOUT_S, common.is_app_event)
            self.assertTrue(event["id"], "events kept in history carry an id")
            payload = json.loads(event["data"])
            sse.epoch = payload.setdefault("epoch", sse.epoch)
            events.append(payload)
        offsets = [event["offset"] for event in events]
        self.assertEqual(offsets, sorted(offsets), "SSE events out of offset order")
        return events



class ExamplesTest(ExampleChecks):
    """The Python examples."""

    def test_publish_prints_the_offset_subscribers_see(self):
        sse = self.subscribe("pyex.unary")
        result = self.run_example("publish.py", "--topic=pyex.unary", '--data={"n":1}',
                                  "--content_type=application/json", "--type=tick")
        self.assertEqual(result.returncode, 0, result.stderr)
        [(offset, epoch)] = self.printed(result, "pyex.unary")
        self.assertEqual(offset, 1)
        [event] = self.received(sse, 1)
        self.assertEqual((event["offset"], event["epoch"]), (offset, epoch))
        self.assertEqual(event["type"], "tick")
        self.assertEqual(event["data"], {"n": 1})

    def test_publish_stream_sends_stdin_lines_in_order(self):
        sse = self.subscribe("pyex.lines")
        lines = [json.dumps({"n": n}) for n in range(1, 21)]
        result = self.run_example("publish_stream.py", "--topic=pyex.lines",
                                  "--content_type=application/json",
                                  stdin="".join(line + "\n" for line in lines))
        self.assertEqual(result.returncode, 0, result.stderr)
        printed = self.printed(result, "pyex.lines")
        self.assertEqual([offset for offset, _ in printed], list(range(1, 21)))
        self.assertEqual(len({epoch for _, epoch in printed}), 1, printed)
        events = self.received(sse, 20)
        self.assertEqual([(event["offset"], event["epoch"]) for event in events], printed)
        self.assertEqual([event["data"] for event in events], [{"n": n} for n in range(1, 21)])

    def test_publish_stream_count_generates_events(self):
        sse = self.subscribe("pyex.count")
        result = self.run_example("publish_stream.py", "--topic=pyex.count", "--count=200",
                                  stubs_from_env=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        printed = self.printed(result, "pyex.count")
        self.assertEqual([offset for offset, _ in printed], list(range(1, 201)))
        events = self.received(sse, 200)
        self.assertEqual([(event["offset"], event["epoch"]) for event in events], printed)
        self.assertEqual([event["data"] for event in events],
                         [f"event {n}" for n in range(1, 201)])

    def test_publish_stream_reports_a_bad_item_and_goes_on(self):
        sse = self.subscribe("pyex.bad_item")
        result = self.run_example("publish_stream.py", "--topic=pyex.bad_item",
                                  "--content_type=application/json",
                                  stdin='{"n":1}\nnot json\n{"n":3}\n')
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertRegex(result.stderr, r"(?m)^error 3 .*JSON")
        printed = self.printed(result, "pyex.bad_item")
        self.assertEqual([offset for offset, _ in printed], [1, 2])
        events = self.received(sse, 2)
        self.assertEqual([(event["offset"], event["epoch"]) for event in events], printed)
        self.assertEqual([event["data"] for event in events], [{"n": 1}, {"n": 3}])

    def test_publish_async_publishes_concurrently(self):
        sse = self.subscribe("pyex.async")
        payloads = [f"message {n}" for n in range(1, 11)]
        result = self.run_example("publish_async.py", "--topic=pyex.async",
                                  "--content_type=text/plain",
                                  *[f"--data={payload}" for payload in payloads])
        self.assertEqual(result.returncode, 0, result.stderr)
        printed = self.printed(result, "pyex.async")
        self.assertEqual(len(printed), len(payloads))
        # Concurrent calls may be accepted in any order, but each gets its own offset.
        self.assertEqual(sorted(offset for offset, _ in printed), list(range(1, 11)))
        self.assertEqual(len({epoch for _, epoch in printed}), 1, printed)
        offset_of = {payload: offset for payload, (offset, _) in zip(payloads, printed)}
        events = self.received(sse, len(payloads))
        self.assertEqual([event["offset"] for event in events], list(range(1, 11)))
        for event in events:
            self.assertEqual(event["offset"], offset_of[event["data"]], event)

    def test_publish_async_invalid_topic_fails(self):
        result = self.run_example("publish_async.py", "--topic=bad topic!", "--data=x")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("INVALID_ARGUMENT", result.stderr)
        self.assertEqual(result.stdout, "")

    def test_publish_speaks_tls_to_a_gateway_with_a_certificate(self):
        """The README's production set-up has TLS on the gRPC port: --tls_ca reaches it, and a
        plaintext channel is refused (the gateway's log says why)."""
        pki = tempfile.mkdtemp(prefix="herald-py-tls-")
        self.addCleanup(shutil.rmtree, pki, True)
        cert, key = os.path.join(pki, "cert.pem"), os.path.join(pki, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=herald",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        gateway = common.Gateway(os.environ["HERALD_BIN"], f"--tls_cert_file={cert}",
                                 f"--tls_key_file={key}")
        self.addCleanup(gateway.stop, common.SHUTDOWN_TIMEOUT_S)
        _, grpc_port = gateway.wait_listening(common.STARTUP_TIMEOUT_S)
        target = f"--target=127.0.0.1:{grpc_port}"
        result = self.run_example("publish.py", target, f"--tls_ca={cert}", "--topic=pyex.tls",
                                  "--data=secure", "--timeout=10")
        self.assertEqual(result.returncode, 0, result.stderr + gateway.log())
        self.assertEqual(self.printed(result, "pyex.tls")[0][0], 1)
        plain = self.run_example("publish.py", target, "--topic=pyex.tls", "--data=plain",
                                 "--timeout=3")
        self.assertEqual(plain.returncode, 1, plain.stderr)
        self.assertIn("UNAVAILABLE", plain.stderr)

    def start_example(self, script, *args):
        """Starts clients/python/<script> against the gateway; returns the Popen."""
        path = os.path.join(self.source_dir, "clients", "python", script)
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, path, f"--target=127.0.0.1:{self.grpc_port}",
             f"--stubs={self.stubs_dir}", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(process.stderr.close)
        self.addCleanup(process.stdout.close)
        self.addCleanup(process.wait, 10)
        self.addCleanup(process.kill)
        return process

    @staticmethod
    def rest_of(process):
        """(stdout, stderr) from where reading stopped until the process exits. Not communicate():
        it would miss what readline() already buffered."""
        out = process.stdout.read()
        process.wait(timeout=EXAMPLE_TIMEOUT_S)
        return out, process.stderr.read()

    def publish(self, topic, data):
        result = self.run_example("publish.py", f"--topic={topic}", f"--data={data}")
        self.assertEqual(result.returncode, 0, result.stderr)
        return self.printed(result, topic)[0]

    def test_subscribe_resumes_from_since_and_says_whether_it_was_replayed(self):
        offset, epoch = 0, ""
        for n in range(1, 4):
            offset, epoch = self.publish("pyex.sub", f"e{n}")
        consumer = self.start_example("subscribe.py", "--topic=pyex.sub", "--topic=pyex.other",
                                      f"--since=pyex.sub={epoch}:1", "--count=3")
        self.assertEqual(consumer.stdout.readline().split(),
                         ["subscribed", "pyex.sub", epoch, "3", "recovered"], consumer.stderr)
        self.assertEqual(consumer.stdout.readline().split()[-1], "live")
        self.publish("pyex.sub", "e4")
        out, err = self.rest_of(consumer)
        self.assertEqual(consumer.returncode, 0, err)
        self.assertEqual(out.splitlines(), [f"pyex.sub {epoch} 2 e2", f"pyex.sub {epoch} 3 e3",
                                            f"pyex.sub {epoch} 4 e4"])
        self.assertEqual(offset, 3)

    def test_subscribe_is_told_when_its_since_was_not_replayed(self):
        _, epoch = self.publish("pyex.gone", "g1")
        consumer = self.start_example("subscribe.py", "--topic=pyex.gone",
                                      "--since=pyex.gone=an-old-epoch:7", "--count=1")
        self.assertEqual(consumer.stdout.readline().split(),
                         ["subscribed", "pyex.gone", epoch, "1", "not-recovered"])
        self.publish("pyex.gone", "g2")
        out, err = self.rest_of(consumer)
        self.assertEqual(consumer.returncode, 0, err)
        self.assertEqual(out.splitlines(), [f"pyex.gone {epoch} 2 g2"])

    def test_examples_without_stubs_explain_what_to_do(self):
        env = {key: value for key, value in os.environ.items() if key != "HERALD_PY_STUBS"}
        for script, args in (("publish_stream.py", ["--count=1"]),
                             ("publish_async.py", ["--data=x"])):
            path = os.path.join(self.source_dir, "clients", "python", script)
            result = subprocess.run([sys.executable, path, "--topic=t", *args],
                                    capture_output=True, text=True, env=env,
                                    timeout=EXAMPLE_TIMEOUT_S, check=False)
            self.assertEqual(result.returncode, 2, script + result.stderr)
            self.assertIn("cannot import the stubs", result.stderr)


class AuthorizerExampleTest(ExampleChecks):
    """clients/python/authorizer.py as the backend of a gateway started with --authorizer: a
    browser's session cookie gets it in, with the grant the backend gives."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        path = os.path.join(cls.source_dir, "clients", "python", "authorizer.py")
        # Its stderr goes to a file, read when it fails: a pipe nobody reads could fill up.
        cls.backend_log = tempfile.TemporaryFile(mode="w+")  # pylint: disable=consider-using-with
        cls.backend = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, path, f"--stubs={cls.stubs_dir}", "--listen=127.0.0.1:0",
             "--session=4f1c9e=ada", "--session=77ab02=bob", "--suspended=bob"],
            stdout=subprocess.PIPE, stderr=cls.backend_log, text=True)
        cls.authorized = None
        try:
            line = cls.backend.stdout.readline()  # Its first line, or "" when it exits.
            match = re.match(r"authorizer listening (\S+)$", line.strip())
            if not match:
                cls.backend.wait(timeout=10)
                cls.backend_log.seek(0)
                raise AssertionError(f"authorizer.py did not start: {line!r} "
                                     f"{cls.backend_log.read()}")
            cls.authorized = common.Gateway(os.environ["HERALD_BIN"],
                                            f"--authorizer={match.group(1)}")
            cls.authorized_http, cls.authorized_grpc = cls.authorized.wait_listening(
                common.STARTUP_TIMEOUT_S)
        except BaseException:
            cls.stop_backends()
            super().tearDownClass()
            raise

    @classmethod
    def stop_backends(cls):
        if cls.authorized is not None:
            cls.authorized.stop(common.SHUTDOWN_TIMEOUT_S)
        cls.backend.kill()
        cls.backend.wait(timeout=10)
        cls.backend.stdout.close()
        cls.backend_log.close()

    @classmethod
    def tearDownClass(cls):
        cls.stop_backends()
        super().tearDownClass()

    def status_of(self, path, cookie):
        connection = http.client.HTTPConnection("127.0.0.1", self.authorized_http, timeout=10)
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        body = response.read().decode()
        connection.close()
        return response.status, body

    def test_a_session_cookie_gets_live_events(self):
        sse = common.SseStream(self.authorized_http, "/sse?topic=chat.lobby&topic=user.ada",
                               headers={"Cookie": "theme=dark; session=4f1c9e"})
        self.addCleanup(sse.close)
        self.assertEqual(sse.response.status, 200, self.authorized.log())
        sse.next_event(common.EVENT_TIMEOUT_S, lambda event: event["event"] == "herald.connected")
        result = self.run_example("publish.py", f"--target=127.0.0.1:{self.authorized_grpc}",
                                  "--topic=chat.lobby", "--data=hello ada")
        self.assertEqual(result.returncode, 0, result.stderr)
        event = sse.next_event(common.EVENT_TIMEOUT_S, common.is_app_event)
        self.assertEqual(json.loads(event["data"])["data"], "hello ada")

    def test_the_grant_is_the_backends(self):
        self.assertEqual(self.status_of("/sse?topic=user.bob", "session=4f1c9e")[0], 403)
        status, body = self.status_of("/sse?topic=chat.lobby", "session=unknown")
        self.assertEqual(status, 401)
        self.assertIn("log in first", body)
        self.assertEqual(self.status_of("/sse?topic=chat.lobby", None)[0], 401)
        status, body = self.status_of("/sse?topic=chat.lobby", "session=77ab02")
        self.assertEqual(status, 403)
        self.assertIn("suspended", body)


class GoExampleTest(ExampleChecks):
    """clients/go/publish, built as the Go README says for Debian 12: stubs from protoc's Go
    plugins into a GOPATH, Debian's grpc-go 1.33 from /usr/share/gocode, no module proxy."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gopath = tempfile.mkdtemp(prefix="herald-go-")
        try:
            proto_dir = os.path.join(cls.source_dir, "proto")
            src = os.path.join(cls.gopath, "src")
            os.makedirs(src)
            protos = sorted(glob.glob(os.path.join(proto_dir, "herald", "v1", "*.proto")))
            subprocess.run(["protoc", "-I", proto_dir, f"--go_out={src}", f"--go-grpc_out={src}",
                            *protos], check=True, timeout=60)
            env = dict(os.environ, GO111MODULE="off",
                       GOPATH=f"{cls.gopath}:/usr/share/gocode",
                       GOCACHE=os.environ.get("HERALD_GO_CACHE",
                                              os.path.join(cls.gopath, "cache")))
            cls.binary = os.path.join(cls.gopath, "publish")
            subprocess.run(["go", "build", "-o", cls.binary, "./publish"],
                           cwd=os.path.join(cls.source_dir, "clients", "go"), env=env,
                           check=True, timeout=600)
        except BaseException:
            shutil.rmtree(cls.gopath, ignore_errors=True)
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.gopath, ignore_errors=True)
        super().tearDownClass()

    def run_go(self, *args, stdin=None):
        return subprocess.run([self.binary, f"--target=127.0.0.1:{self.grpc_port}", *args],
                              input=stdin, capture_output=True, text=True,
                              timeout=EXAMPLE_TIMEOUT_S, check=False)

    def test_unary_publish_prints_the_offset_subscribers_see(self):
        sse = self.subscribe("goex.unary")
        result = self.run_go("--topic=goex.unary", '--data={"n":1}',
                             "--content_type=application/json", "--type=tick")
        self.assertEqual(result.returncode, 0, result.stderr)
        [(offset, epoch)] = self.printed(result, "goex.unary")
        self.assertEqual(offset, 1)
        [event] = self.received(sse, 1)
        self.assertEqual((event["offset"], event["epoch"], event["data"], event["type"]),
                         (1, epoch, {"n": 1}, "tick"))

    def test_stream_publishes_stdin_lines_in_order_and_reports_a_bad_item(self):
        sse = self.subscribe("goex.stream")
        result = self.run_go("--topic=goex.stream", "--content_type=application/json",
                             stdin='{"n":1}\nnot json\n{"n":3}\n')
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertRegex(result.stderr, r"(?m)^error 3 .*JSON")
        printed = self.printed(result, "goex.stream")
        self.assertEqual([offset for offset, _ in printed], [1, 2])
        events = self.received(sse, 2)
        self.assertEqual([(event["offset"], event["epoch"]) for event in events], printed)
        self.assertEqual([event["data"] for event in events], [{"n": 1}, {"n": 3}])

    def test_stream_count_generates_events(self):
        sse = self.subscribe("goex.count")
        result = self.run_go("--topic=goex.count", "--count=100")
        self.assertEqual(result.returncode, 0, result.stderr)
        printed = self.printed(result, "goex.count")
        self.assertEqual([offset for offset, _ in printed], list(range(1, 101)))
        events = self.received(sse, 100)
        self.assertEqual([event["data"] for event in events],
                         [f"event {n}" for n in range(1, 101)])

    def test_a_refused_publish_exits_1_with_its_status(self):
        result = self.run_go("--topic=bad topic!", "--data=x")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("InvalidArgument", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
