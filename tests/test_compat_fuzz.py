"""Issue 11, fourth review: ``siotls.compat.SSLObject`` (a server, Python's ``ssl``
the client, in memory) fed bad bytes after the handshake, through ``read()``'s
fast paths (the inline want-read, ``_close_notify``, the inlined flush).

Whatever arrives, only :class:`ssl.SSLError` subclasses escape, as from ``ssl``'s
own ``SSLObject``; a fatal error leaves the alert in the outgoing BIO and every
later read fails; the bytes given whole or a byte per call end the same way. For
real records from the ``ssl`` client with one byte changed or cut short, the
answer is the one ``ssl``'s own server object gives for the same bytes.
"""

from __future__ import annotations

import contextlib
import ssl

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from certs import ssl_client_context, ssl_server_context, write_pem_files
from test_compat_sslproto import CA, LEAF, compat_server, handshake, pump

pytestmark = pytest.mark.timeout(120)

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

Contexts = dict[str, ssl.SSLContext]


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> Contexts:
    cert, key, ca = write_pem_files(tmp_path_factory.mktemp("compat-fuzz"), LEAF, CA)
    return {"client": ssl_client_context(ca), "ssl": ssl_server_context(cert, key),
            "compat": compat_server()}


class Pair:
    """An ``ssl`` client and a server of ``stack`` after the handshake, in memory."""

    def __init__(self, contexts: Contexts, stack: str) -> None:
        bios = c_in, c_out, s_in, s_out = tuple(ssl.MemoryBIO() for _ in range(4))
        self.client = contexts["client"].wrap_bio(c_in, c_out, server_hostname="localhost")
        self.server = contexts[stack].wrap_bio(s_in, s_out, server_side=True)
        handshake(self.client, self.server, bios)
        self.client.write(b"first")
        pump(c_out, s_in)
        assert self.server.read(100) == b"first"
        pump(s_out, c_in)  # the tickets: read, so the client is settled
        with contextlib.suppress(ssl.SSLWantReadError):
            self.client.read(100)
        s_out.read()
        self.c_out, self.s_in, self.s_out = c_out, s_in, s_out

    def records(self, data: bytes, close: bool = False) -> bytes:
        """What the ssl client sends for ``data`` (and its close_notify)."""
        if data:
            self.client.write(data)
        if close:
            with contextlib.suppress(ssl.SSLWantReadError):
                self.client.unwrap()
        return self.c_out.read()


def drain(server: ssl.SSLObject, s_out: ssl.MemoryBIO, chunks: list[bytes],
          s_in: ssl.MemoryBIO) -> tuple[str, bytes]:
    """Feed ``chunks`` one at a time, reading after each (up to three reads) until
    want-read; the final answer's class and all the data read."""
    data = bytearray()
    status = "SSLWantReadError"
    for chunk in chunks:
        s_in.write(chunk)
        for _ in range(3):
            try:
                got = server.read(1 << 15)
            except ssl.SSLWantReadError:
                status = "SSLWantReadError"
                break
            except ssl.SSLError as exc:  # anything else escapes and fails the test
                status = type(exc).__name__
                break
            data += got
            if not got:
                status = "eof"
                break
        if status not in ("SSLWantReadError", "eof"):
            break
    if status not in ("SSLWantReadError", "eof", "SSLZeroReturnError"):
        assert s_out.pending, "a fatal error must leave the alert for the peer"
        with pytest.raises(ssl.SSLError):
            server.read(100)
    elif status == "eof":  # the end stays the end (never want read after it)
        assert server.read(100) == b""
    elif status == "SSLZeroReturnError":
        with pytest.raises(ssl.SSLZeroReturnError):
            server.read(100)
    return status, bytes(data)


def _consistent(a: tuple[str, bytes], b: tuple[str, bytes]) -> None:
    assert a[0] == b[0]
    if a[0] in ("SSLWantReadError", "eof"):
        assert a[1] == b[1]
    else:  # a record read before the bad one may be dropped with the failure
        assert a[1].startswith(b[1]) or b[1].startswith(a[1])


@SETTINGS
@given(st.binary(min_size=1, max_size=64), st.sampled_from([b"", b"hello"]))
@example(b"\x17\x03\x03\x00\x11" + bytes(17), b"")
@example(b"\x15\x03\x03\x00\x02\x01\x00", b"x")
@example(b"\x17\x03\x03\x40\x12", b"")
def test_arbitrary_bytes_whole_and_bytewise(contexts: Contexts, junk: bytes,
                                            before: bytes) -> None:
    """Arbitrary bytes (after a real record, or alone) to the compat server."""
    outcomes = []
    for bytewise in (False, True):
        pair = Pair(contexts, "compat")
        stream = pair.records(before) + junk
        chunks = [stream[i : i + 1] for i in range(len(stream))] if bytewise else [stream]
        outcomes.append(drain(pair.server, pair.s_out, chunks, pair.s_in))
    _consistent(outcomes[0], outcomes[1])


MUTATION = st.one_of(st.just(("none", 0, 0)),
                     st.tuples(st.just("set"), st.integers(0, 10_000), st.integers(0, 255)),
                     st.tuples(st.just("cut"), st.integers(0, 10_000), st.just(0)))


@SETTINGS
@given(st.lists(st.sampled_from([b"a", b"hello world", b"x" * 300, b"y" * 5000]),
                min_size=1, max_size=3),
       st.booleans(), MUTATION, st.booleans())
@example([b"a"], True, ("none", 0, 0), False)
@example([b"a"], True, ("set", 0, 0x16), False)
@example([b"hello world"], False, ("set", 3, 0x41), False)
@example([b"a", b"hello world"], True, ("cut", 30, 0), True)
def test_mutated_records_as_ssl(contexts: Contexts, writes: list[bytes], close: bool,
                                mutation: tuple[str, int, int], bytewise: bool) -> None:
    """Real records (and close_notify) from ``ssl``, as sent, one byte changed or the
    stream cut: the compat server answers as ``ssl``'s server given the same bytes."""
    outcomes = []
    for stack in ("ssl", "compat"):
        pair = Pair(contexts, stack)
        stream = bytearray(b"".join(pair.records(w) for w in writes) + pair.records(b"", close))
        kind, pos, value = mutation
        pos %= len(stream)
        if kind == "none":
            pass
        elif kind == "set":
            if stream[pos] == value:
                value ^= 1
            stream[pos] = value
        else:
            del stream[pos:]
        data = bytes(stream)
        chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        outcomes.append(drain(pair.server, pair.s_out, chunks, pair.s_in))
    ssl_answer, compat_answer = outcomes
    # The same kind of answer: data read, want read, the end, or an error (ssl names
    # a bad record by its OpenSSL reason; the compat object maps the TLS alert).
    def kind_of(status: str) -> str:
        return status if status in ("SSLWantReadError", "eof", "SSLZeroReturnError") else "error"
    assert kind_of(ssl_answer[0]) == kind_of(compat_answer[0]), outcomes
    if kind_of(ssl_answer[0]) != "error":
        assert ssl_answer[1] == compat_answer[1]
    else:
        assert ssl_answer[1].startswith(compat_answer[1])
