"""siotls.compat.SSLObject's connected fast paths (the ``read()``'s want-read case with
no Python call, ``_close_notify`` standing for ``connection.close_notify_received``,
the flushes inlined in ``read()``, ``write()`` and ``do_handshake()``), each against
the slow path or ``ssl``'s own ``SSLObject`` given the same bytes.

The fast want-read must not be taken once the peer's close_notify was read,
whether it came alone, behind data in one chunk, or with bytes after it (which
go back to the incoming BIO, where OpenSSL leaves them); a record that fails to
decrypt on the fast read must still queue the alert for the peer.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import pytest

from certs import ssl_client_context, ssl_server_context, write_pem_files
from siotls.compat import errors
from test_compat_sslproto import CA, LEAF, compat_server, handshake, pump

pytestmark = pytest.mark.timeout(60)

Bios = tuple[ssl.MemoryBIO, ssl.MemoryBIO, ssl.MemoryBIO, ssl.MemoryBIO]


@pytest.fixture
def contexts(tmp_path: Path) -> dict[str, ssl.SSLContext]:
    cert, key, ca = write_pem_files(tmp_path, LEAF, CA)
    return {"client": ssl_client_context(ca), "ssl": ssl_server_context(cert, key),
            "compat": compat_server()}


def connect(contexts: dict[str, ssl.SSLContext], stack: str
            ) -> tuple[ssl.SSLObject, ssl.SSLObject, Bios]:
    bios = c_in, c_out, s_in, s_out = tuple(ssl.MemoryBIO() for _ in range(4))
    client = contexts["client"].wrap_bio(c_in, c_out, server_hostname="localhost")
    server = contexts[stack].wrap_bio(s_in, s_out, server_side=True)
    handshake(client, server, bios)
    return client, server, bios


def answer(call: Any, *args: Any) -> Any:
    try:
        result = call(*args)
    except ssl.SSLError as exc:
        return type(exc).__name__
    return bytes(result) if isinstance(result, bytes | bytearray) else result


def reads(server: ssl.SSLObject, buffered: bool, count: int = 3) -> list[Any]:
    if not buffered:
        return [answer(server.read, 1000) for _ in range(count)]
    out = []
    for _ in range(count):
        buffer = bytearray(1000)
        got = answer(server.read, 1000, buffer)
        out.append(bytes(buffer[:got]) if isinstance(got, int) else got)
    return out


@pytest.mark.parametrize("buffered", [False, True])
@pytest.mark.parametrize("trailing", [b"", b"not TLS"])
@pytest.mark.parametrize("layout", ["one chunk", "data first", "close_notify alone"])
def test_close_notify_ends_the_fast_reads_as_ssl(contexts: dict[str, ssl.SSLContext],
                                                 buffered: bool, trailing: bytes,
                                                 layout: str) -> None:
    """Data, then the peer's close_notify (with or without bytes after it): the
    reads answer as ``ssl``'s (data, then ``b''`` again and again, never want read),
    and the bytes after the close_notify are left in the incoming BIO."""
    results = {}
    for stack in ("ssl", "compat"):
        client, server, (_, c_out, s_in, _) = connect(contexts, stack)
        answers = [answer(server.read, 1000)]  # nothing yet: want read (the fast one)
        client.write(b"request")
        if layout == "data first":
            pump(c_out, s_in)
            answers += reads(server, buffered, 1)
        elif layout == "close_notify alone":
            pump(c_out, s_in)
            answers += reads(server, buffered, 2)  # data, then want read
        with pytest.raises(ssl.SSLWantReadError):
            client.unwrap()
        s_in.write(c_out.read() + trailing)
        answers += reads(server, buffered)
        answers.append(s_in.read())  # what followed the close_notify
        answers.append(answer(server.write, b"late"))  # our side is still open
        results[stack] = answers
    assert results["compat"] == results["ssl"]
    assert results["compat"][0] == "SSLWantReadError"
    assert b"request" in results["compat"]
    assert results["compat"][-3:-1] == [b"", trailing]


def test_fast_want_read_is_the_slow_one(contexts: dict[str, ssl.SSLContext]) -> None:
    """The want-read error built inline (read()'s fast path, do_handshake()) is
    errors.want_read()'s, which the slow path raises."""
    client, server, (_, c_out, s_in, _) = connect(contexts, "compat")
    reference = errors.want_read()
    raised = []
    for buffer in (None, bytearray(10)):  # the fast path's
        with pytest.raises(ssl.SSLError) as info:
            server.read(10, buffer)
        raised.append(info.value)
    client.write(b"request")
    s_in.write(c_out.read()[:10])  # half a record, nothing to decrypt: the slow path's
    with pytest.raises(ssl.SSLError) as info:
        server.read(10)
    raised.append(info.value)
    fresh = contexts["compat"].wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
    with pytest.raises(ssl.SSLError) as info:
        fresh.do_handshake()
    raised.append(info.value)
    for error in raised:
        assert type(error) is ssl.SSLWantReadError
        assert (error.args, error.errno, error.strerror, error.reason, error.library) == (
            reference.args, reference.errno, reference.strerror, None, None)
        assert str(error) == str(reference)


@pytest.mark.parametrize("stack", ["ssl", "compat"])
def test_bad_record_on_the_fast_read_sends_the_alert(contexts: dict[str, ssl.SSLContext],
                                                     stack: str) -> None:
    """A record that fails to decrypt, read on the connected fast path: an SSLError
    (not want read), the alert queued for the peer (the inlined flush), and the
    connection failed for every later read and write, as with ``ssl``."""
    client, server, (c_in, c_out, s_in, s_out) = connect(contexts, stack)
    client.write(b"request")
    record = bytearray(c_out.read())
    record[-1] ^= 1  # the tag
    s_in.write(bytes(record))
    with pytest.raises(ssl.SSLError) as info:
        server.read(1000)
    assert not isinstance(info.value, ssl.SSLWantReadError)
    alert = s_out.read()
    assert alert[:1] == b"\x17"  # an encrypted record: the alert
    c_in.write(alert)
    with pytest.raises(ssl.SSLError) as peer:
        client.read(1000)
    assert "BAD_RECORD_MAC" in str(peer.value).upper().replace(" ", "_")
    for call in (lambda: server.read(1000), lambda: server.write(b"more")):
        with pytest.raises(ssl.SSLError) as later:
            call()
        assert not isinstance(later.value, ssl.SSLWantReadError)
    assert s_out.read() == b""


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_writes_flush_each_record(contexts: dict[str, ssl.SSLContext], kind: type) -> None:
    """write() (the fast path for bytes and bytearray, the slow one for a memoryview)
    puts each record in the outgoing BIO at once, as sslproto expects."""
    client, server, (c_in, _, _, s_out) = connect(contexts, "compat")
    payloads = [os.urandom(n) for n in (1, 100, 20000)]
    for payload in payloads:
        assert server.write(kind(payload)) == len(payload)
        c_in.write(s_out.read())
        got = b""
        while len(got) < len(payload):
            got += client.read(len(payload))
        assert got == payload


@pytest.mark.parametrize("stack", ["ssl", "compat"])
def test_handshake_steps_on_an_empty_bio(contexts: dict[str, ssl.SSLContext],
                                         stack: str) -> None:
    """do_handshake() with nothing new in the BIO (sslproto's first call; the
    short cut that skips the feed) wants read and writes nothing, on a server
    before and between flights; the client's first call still sends its
    ClientHello; the handshake then completes; at the BIO's end it is an EOF."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = contexts["client"].wrap_bio(c_in, c_out, server_hostname="localhost")
    server = contexts[stack].wrap_bio(s_in, s_out, server_side=True)
    for _ in range(2):
        with pytest.raises(ssl.SSLWantReadError):
            server.do_handshake()
    assert s_out.pending == 0
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    assert c_out.pending > 0  # the ClientHello
    pump(c_out, s_in)
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()  # its flight
    flight = s_out.read()
    assert flight
    for _ in range(2):
        with pytest.raises(ssl.SSLWantReadError):
            server.do_handshake()  # nothing new
    assert s_out.pending == 0
    c_in.write(flight)
    client.do_handshake()
    pump(c_out, s_in)
    server.do_handshake()
    assert server.version() == "TLSv1.3"

    fresh_in = ssl.MemoryBIO()
    ended = contexts[stack].wrap_bio(fresh_in, ssl.MemoryBIO(), server_side=True)
    fresh_in.write_eof()  # an empty BIO at its end: not the short cut
    with pytest.raises(ssl.SSLError) as info:
        ended.do_handshake()
    assert type(info.value) is ssl.SSLEOFError
