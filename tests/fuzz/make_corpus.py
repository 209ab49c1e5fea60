#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets, tests/fuzz/corpus/<target>/<seed>.

Run with Debian's python3 (python3-protobuf, python3-cryptography), protoc and openssl on the PATH, from anywhere:
    tests/fuzz/make_corpus.py
then commit the files. ES256 signatures and the RSA JWK change on each run (random nonces and
a fresh key); every other seed is the same each time.
"""

import base64
import hashlib
import hmac
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"

# The fuzzers' keys (tests/fuzz/fuzz_check.h holds the secret and the public key). Test keys
# that guard nothing.
HS256_SECRET = b"herald fuzz secret: not a real one"
# The ES256 key is derived from a fixed phrase, so the seeds can be regenerated and still match
# the public key the fuzzers embed (tests/fuzz/fuzz_check.h).
ES256_KEY_PHRASE = b"herald fuzz es256 key: not a real one"


def es256_private_pem():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    scalar = int.from_bytes(hashlib.sha256(ES256_KEY_PHRASE).digest(), "big")
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()

NOW = 1_700_000_000  # The fuzzers' clock (fuzz_check.h FuzzNow).


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, check=True, capture_output=True).stdout


def der_integers(der):
    """The two INTEGERs of a DER SEQUENCE (an ECDSA-Sig-Value), as 32-byte big-endian each."""
    assert der[0] == 0x30
    pos = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[pos] == 0x02
        length = der[pos + 1]
        value = der[pos + 2:pos + 2 + length]
        out += value.lstrip(b"\x00").rjust(32, b"\x00")
        pos += 2 + length
    return out


class Signer:
    def __init__(self, workdir):
        self.es256_key = os.path.join(workdir, "es256.pem")
        with open(self.es256_key, "w") as f:
            f.write(es256_private_pem())

    def token(self, alg, claims, kid=None, header_extra=None):
        header = {"alg": alg, "typ": "JWT"}
        if kid:
            header["kid"] = kid
        header.update(header_extra or {})
        signing_input = (b64url(compact(header)) + "." + b64url(compact(claims))).encode()
        if alg == "HS256":
            signature = hmac.new(HS256_SECRET, signing_input, hashlib.sha256).digest()
        elif alg == "ES256":
            der = openssl("dgst", "-sha256", "-sign", self.es256_key, "-binary", data=signing_input)
            signature = der_integers(der)
        else:
            signature = b""
        return signing_input.decode() + "." + b64url(signature)

    def ec_jwk(self):
        spki = openssl("pkey", "-in", self.es256_key, "-pubout", "-outform", "DER")
        point = spki[-65:]
        assert point[0] == 4
        return {"kty": "EC", "crv": "P-256", "kid": "es1", "use": "sig", "alg": "ES256",
                "x": b64url(point[1:33]), "y": b64url(point[33:])}

    def rsa_jwk(self, workdir):
        key = os.path.join(workdir, "rsa.pem")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
        modulus = openssl("rsa", "-in", key, "-noout", "-modulus").decode().strip().split("=")[1]
        return {"kty": "RSA", "kid": "rs1", "alg": "RS256", "n": b64url(bytes.fromhex(modulus)),
                "e": b64url((65537).to_bytes(3, "big"))}


def write(target, name, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (directory / name).write_bytes(data)


def jwt_seeds(signer, workdir):
    user = {"sub": "ada", "exp": NOW + 3600, "subscribe": ["chat.*", "user.ada.>"],
            "publish": ["chat.lobby"]}
    strict = {"sub": "bob", "aud": ["herald", "other"], "iss": "https://issuer.example",
              "nbf": NOW - 60, "exp": NOW + 100.5, "subscribe": [">"]}
    seeds = {
        "hs256_token": signer.token("HS256", user),
        "hs256_kid_strict_token": signer.token("HS256", strict, kid="k1"),
        "hs256_expired_token": signer.token("HS256", {"sub": "ada", "exp": NOW - 3600}),
        "hs256_bad_claims_token": signer.token("HS256", {"sub": 7, "subscribe": "chat.*"}),
        "es256_token": signer.token("ES256", user),
        "es256_kid_token": signer.token("ES256", {"sub": "svc", "subscribe": [">"]}, kid="es1"),
        "alg_none_token": signer.token("none", user),
        "crit_token": signer.token("HS256", user, header_extra={"crit": ["exp"]}),
        "claims": compact(user),
        "claims_strict": compact(strict),
        "claims_odd": b'{"exp":1e400,"nbf":-1.5,"aud":"herald","iss":"x","publish":[]}',
        "jwks": compact({"keys": [signer.ec_jwk(), signer.rsa_jwk(workdir),
                                  {"kty": "oct", "k": "c2VjcmV0"},
                                  {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]}),
        "jwks_ec": compact({"keys": [signer.ec_jwk()]}),
        "publisher_keys": (
            "# orders service\n"
            "9f1c2d7e5a4b3c2d1e0f9a8b7c6d5e4f  orders.>  subscribe:orders.>\n"
            "sha256:" + hashlib.sha256(b"a publisher key of some length").hexdigest() +
            "  prices.*\n\n"
            "another-key-0123456789\tchat.*.typing subscribe:*.status\n"),
        "pattern_star": "chat.*\nchat.lobby",
        "pattern_rest": "orders.>\norders.eu.42",
        "pattern_exact": "user.42.inbox\nuser.42.inbox",
        "pattern_bad": "a.>.b\na.x.b",
    }
    for name, data in seeds.items():
        write("jwt", name, data)
    return seeds


def resume_token_seeds():
    seeds = {
        "one": "a1b2c3-7",
        "three": "a1b2c3-7.ffee00-0.x9-18446744073709551615",
        "long_epoch": "f" * 64 + "-1",
        "zeros": "e1-0007.e2-0",
        "bad_offset": "a1b2c3-+7.ff-1",
        "overflow": "a1b2c3-99999999999999999999999",
        "dashes": "a-b-1.c--2",
    }
    for name, data in seeds.items():
        write("resume_token", name, data)


def request_target_seeds(token):
    seeds = {
        "sse_resume": f"/sse?topic=a.b&topic=c%3Ad&last_event_id=e1-3.e2-4&token={token}",
        "ws_topics": "/ws?topic=chat.lobby&topic=chat.lobby&topic=prices.eu",
        "ws_token": "/ws?token=a.b%2Ec&topic=x",
        "sse_plain": "/sse",
        "bad_topic": "/ws?topic=bad%20topic&topic=",
        "absolute": "http://host/ws?topic=a",
        "odd_query": "/sse?&&=&topic&x=1;y=2#frag",
        "cookie": f"a=1; herald_token={token}; b=2",
        "cookie_quoted": 'herald_token="x.y.z";;=;herald_token',
    }
    for name, data in seeds.items():
        write("request_target", name, data)


def client_address_seeds():
    v2_ipv4 = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes([203, 0, 113, 7, 10, 0, 0, 1])
               + (56324).to_bytes(2, "big") + (443).to_bytes(2, "big"))
    v2_ipv6 = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24" + bytes.fromhex("20010db8" + "00" * 11 + "07")
               + bytes.fromhex("20010db8" + "00" * 11 + "01") + bytes(4))
    seeds = {
        "v1_tcp4": b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n\r\n",
        "v1_tcp6": b"PROXY TCP6 2001:db8::7 2001:db8::1 4711 443\r\n",
        "v1_unknown": b"PROXY UNKNOWN\r\n",
        "v2_ipv4": v2_ipv4 + b"GET / HTTP/1.1\r\n",
        "v2_ipv6_tlv": v2_ipv6[:15] + bytes([0x28]) + v2_ipv6[16:] + b"\x04\x00\x01x",
        "v2_local": b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00",
        "x_forwarded_for": b"1.2.3.4, 203.0.113.7:5000, [2001:db8::7]:80, 10.0.0.9",
        "forwarded": b'for="[2001:db8::7]:4711";proto=https, For=203.0.113.7, for=unknown',
        "trusted_list": b"10.0.0.0/8, ::1, 2001:db8::/32",
    }
    for name, data in seeds.items():
        write("client_address", name, data)


def publish_json_seeds():
    json_data = base64.urlsafe_b64encode(b'{"bid":1.2,"ask":[1,2,{"x":null}]}').decode()
    seeds = {
        "text": '{"topic":"chat.lobby","type":"message","data":"aGk=","content_type":"text/plain"}',
        "json": '{"topic":"prices.eu.btc","type":"price","data":"' +
                base64.b64encode(b'{"bid":1.2,"ask":[1,2,{"x":null}]}').decode() +
                '","content_type":"application/vnd.x+json; charset=utf-8",'
                '"meta":{"k":"v","trace":"abc"},"idempotency_key":"k-1","request_id":"r1"}',
        "json_urlsafe":
            '{"topic":"a","data":"' + json_data + '","content_type":"Application/JSON"}',
        "ephemeral": '{"topic":"chat.lobby.typing","type":"typing","ephemeral":true}',
        "binary": '{"topic":"bin","data":"AAEC/w==","content_type":"application/octet-stream"}',
        "reserved_type": '{"topic":"a","type":"herald.connected","data":"aGk="}',
        "bad_json_data": '{"topic":"a","data":"e30s","content_type":"application/json"}',
        "unicode": '{"topic":"a","type":"caf\\u00e9\\u2028","data":"4pyT",'
                   '"meta":{"\\u00fc":"\\ud83d\\ude00"}}',
        "unknown_field": '{"topic":"a","data":"aGk=","extra":1}',
    }
    for name, data in seeds.items():
        write("publish_json", name, data)


def ws_command_seeds(token, workdir):
    out = os.path.join(workdir, "py")
    os.makedirs(out)
    protos = [str(p.relative_to(ROOT / "proto"))
              for p in sorted((ROOT / "proto/herald/v1").glob("*.proto"))]
    subprocess.run(["protoc", "-I", str(ROOT / "proto"), "--python_out", out, *protos],
                   check=True, cwd=ROOT / "proto")
    sys.path.insert(0, out)
    from herald.v1 import websocket_pb2  # pylint: disable=import-outside-toplevel

    def message(name, **fields):
        msg = websocket_pb2.ClientMessage(**fields)
        write("ws_command", name, msg.SerializeToString())

    message("subscribe", id=1, subscribe={"topic": "chat.lobby"})
    message("subscribe_recover", id=2,
            subscribe={"topic": "prices.eu.btc", "recover": True, "epoch": "a1b2c3", "offset": 17})
    message("subscribe_denied", id=3, subscribe={"topic": "orders.eu"})
    message("unsubscribe", id=4, unsubscribe={"topic": "chat.lobby"})
    message("publish_json", id=5, publish={
        "topic": "chat.lobby", "type": "message", "data": b'{"from":"ada","text":"hello"}',
        "content_type": "application/json", "meta": {"k": "v"}, "idempotency_key": "key-1",
        "request_id": "r-5"})
    message("publish_binary", id=6, publish={
        "topic": "bots.b1.cmd", "data": b"\x00\x01\xfe\xff", "ephemeral": True})
    message("publish_bad_json", id=7, publish={
        "topic": "chat.lobby", "data": b"{", "content_type": "text/x+json"})
    message("ping", id=8, ping={})
    message("refresh", id=9, refresh={"token": token})
    message("no_command", id=10)


def ws_frames_seeds():
    """Client frames as a browser sends them; the first byte is the fuzzer's read size."""
    def frame(first, payload, mask=b"\x12\x34\x56\x78"):
        size = len(payload)
        header = bytes([first])
        if size < 126:
            header += bytes([0x80 | size])
        else:
            header += bytes([0x80 | 126]) + size.to_bytes(2, "big")
        return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    write("ws_frames", "binary", b"\x07" + frame(0x82, b"\x08\x01\x42\x00"))
    write("ws_frames", "fragmented_with_ping",
          b"\x03" + frame(0x02, b"hello ") + frame(0x89, b"p") + frame(0x80, b"world"))
    write("ws_frames", "large", b"\x3f" + frame(0x82, b"x" * 300))
    write("ws_frames", "close", b"\x01" + frame(0x88, b"\x03\xe8bye"))
    write("ws_frames", "text_then_pong", b"\x10" + frame(0x81, b"hi") + frame(0x8a, b""))


def main():
    with tempfile.TemporaryDirectory() as workdir:
        signer = Signer(workdir)
        seeds = jwt_seeds(signer, workdir)
        resume_token_seeds()
        request_target_seeds(seeds["hs256_token"])
        client_address_seeds()
        publish_json_seeds()
        ws_command_seeds(seeds["hs256_token"], workdir)
        ws_frames_seeds()
        print(f"es256_kid_token (for jwt_fuzzer.cc): {seeds['es256_kid_token']}")


if __name__ == "__main__":
    main()
