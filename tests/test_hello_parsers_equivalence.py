"""Issue 11, fourth review: the hand-written ClientHello and key_share decoders
(``parse_client_hello``, ``decode_key_share_ch``) against the Reader-based ones
they replaced (copied below from 203c31d as the reference), on arbitrary and
mutated input found by hypothesis.

Every input must end the same way in both: the same parsed value, or the same
TLSFatalAlert subclass (decode_error or illegal_parameter); no other exception.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import new_client
from siotls.core.codec import Reader
from siotls.core.errors import DecodeError, IllegalParameter, TLSFatalAlert
from siotls.core.extensions import decode_key_share_ch, encode_key_share_ch
from siotls.core.messages import ClientHello, parse_client_hello
from siotls.iana import ExtensionType
from wire import split_messages, split_records

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


# -- the reference: the Reader-based decoders as they were at 203c31d ------------------
def _old_read_extensions(r: Reader, minimum: int = 0) -> dict[int, bytes]:
    outer = r.begin(2, minimum=minimum)
    extensions = r.typed_opaques()
    r.finish(outer)
    return extensions


def old_parse_client_hello(body: memoryview | bytes) -> ClientHello:
    r = Reader(body)
    legacy_version = r.u16()
    random = r.bytes(32)
    legacy_session_id = r.opaque(1, maximum=32)
    cipher_suites = r.u16_list(2, minimum=2)
    legacy_compression_methods = r.opaque(1, minimum=1)
    extensions = _old_read_extensions(r) if not r.at_end() else {}
    r.expect_end("ClientHello")
    return ClientHello(random, legacy_session_id, cipher_suites, extensions,
                       legacy_version, legacy_compression_methods)


def old_decode_key_share_ch(data: bytes) -> list[tuple[int, bytes]]:
    r = Reader(data)
    shares = []
    with r.block(2):
        while not r.at_end():
            group = r.u16()
            shares.append((group, r.opaque(2, minimum=1)))
    r.expect_end("key_share extension")
    if len({group for group, _ in shares}) != len(shares):
        raise IllegalParameter("key_share offers two shares for one group")
    return shares


def outcome(parse: object, data: bytes) -> tuple[str, object]:
    """What ``parse(data)`` did: ("ok", value) or ("alert", the alert's class)."""
    try:
        return "ok", parse(data)  # type: ignore[operator]
    except TLSFatalAlert as exc:
        assert isinstance(exc, DecodeError | IllegalParameter), repr(exc)
        return "alert", type(exc)


def _real_client_hello_body() -> bytes:
    record = split_records(new_client().data_to_send())[0]
    return split_messages(record[5:])[0][4:]


REAL_BODY = _real_client_hello_body()
#: The real body with a legacy_session_id of 33 bytes (one past its bound).
LONG_SESSION_ID = REAL_BODY[:34] + bytes((33,)) + bytes(33) + REAL_BODY[35 + REAL_BODY[34]:]
REAL_KEY_SHARE = parse_client_hello(REAL_BODY).extensions[ExtensionType.KEY_SHARE]


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with a few bytes changed, cut, inserted or deleted."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, len(data)))
        if op == "set" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif pos < len(data):
            del data[pos : pos + draw(st.integers(1, 4))]
    return bytes(data)


def _client_hello_like(draw: st.DrawFn) -> bytes:
    """A ClientHello body whose length fields are mostly right, sometimes off by a little."""
    def vec(prefix: int, body: bytes) -> bytes:
        n = max(0, len(body) + draw(st.sampled_from([0, 0, 0, -1, 1])))
        return n.to_bytes(prefix, "big")[-prefix:] + body
    parts = [draw(st.binary(min_size=2, max_size=2)), draw(st.binary(min_size=32, max_size=32)),
             vec(1, draw(st.sampled_from([b"", bytes(32), bytes(33)]) | st.binary(max_size=34))),
             vec(2, draw(st.binary(max_size=9))),
             vec(1, draw(st.binary(max_size=3)))]
    if draw(st.booleans()):
        exts = b"".join(draw(st.sampled_from([b"\x00\x33", b"\x00\x2b", b"\xfa\xfa"]))
                        + vec(2, draw(st.binary(max_size=5)))
                        for _ in range(draw(st.integers(0, 3))))
        parts.append(vec(2, exts))
    parts.append(draw(st.sampled_from([b"", b"", b"\x00"])))
    return b"".join(parts)


@SETTINGS
@given(st.one_of(st.binary(max_size=120), mutated(REAL_BODY),
                 st.composite(_client_hello_like)()))
@example(REAL_BODY)
@example(REAL_BODY[:-1])
@example(LONG_SESSION_ID)
@example(REAL_BODY + b"\x00")
def test_parse_client_hello_as_the_reader_did(body: bytes) -> None:
    new, old = outcome(parse_client_hello, body), outcome(old_parse_client_hello, body)
    assert new == old
    # A memoryview (what the handshake layer passes) decides the same.
    assert outcome(parse_client_hello, memoryview(body)) == old


def _key_share_like(draw: st.DrawFn) -> bytes:
    shares = draw(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(min_size=1, max_size=6)),
                           max_size=4))
    data = bytearray(encode_key_share_ch(shares))
    if draw(st.booleans()) and data:  # a length a little off
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = (data[pos] + draw(st.sampled_from([1, 255]))) % 256
    return bytes(data)


@SETTINGS
@given(st.one_of(st.binary(max_size=40), mutated(REAL_KEY_SHARE),
                 st.composite(_key_share_like)()))
@example(REAL_KEY_SHARE)
@example(b"\x00\x00")
@example(b"\x00\x04\x00\x17\x00\x00")
@example(b"\x00\x0a\x00\x17\x00\x01a\x00\x17\x00\x01b")
def test_decode_key_share_ch_as_the_reader_did(data: bytes) -> None:
    assert outcome(decode_key_share_ch, data) == outcome(old_decode_key_share_ch, data)
    assert outcome(decode_key_share_ch, memoryview(data)) == outcome(old_decode_key_share_ch, data)
