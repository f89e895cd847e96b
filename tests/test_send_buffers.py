"""Issue 11, fourth review: ``send_data`` (and ``send_early_data``) given any
bytes-like object.

``len()`` of a buffer of wider items (``array('I')``, a memoryview cast to ``'I'``
or to two dimensions) counts items, not bytes: the send paths sized the record
header from it while sealing all the bytes, so the peer's next record failed to
decrypt (bad_record_mac) or overflowed; a non-contiguous memoryview failed the
connection with internal_error. Now every bytes-like object is sent as its bytes,
on the one-record fast path and the general path alike (Python's ``ssl`` sends
any bytes-like object by its bytes too), and an object that is not bytes-like is
API misuse: ``TLSUsageError``, nothing sent, the connection unharmed.
"""

from __future__ import annotations

import array
from collections.abc import Callable

import pytest

from helpers import connected, flow, handshake
from siotls import TLSConnection
from siotls.core.errors import TLSUsageError
from test_early_data import client, server, session

pytestmark = pytest.mark.timeout(60)


def _buffers(size: int) -> list[tuple[str, Callable[[], object], bytes]]:
    words = array.array("I", range(size))
    raw = words.tobytes()
    twod = bytes(range(256)) * (size // 64 + 1)
    twod = twod[: len(twod) // 8 * 8]
    strided = bytes(range(256)) * (size // 64 + 1)
    return [
        ("array('I')", lambda: words, raw),
        ("memoryview 'I'", lambda: memoryview(words), raw),
        ("memoryview 2-D", lambda: memoryview(twod).cast("B", (len(twod) // 8, 8)), twod),
        ("memoryview strided", lambda: memoryview(strided)[::2], strided[::2]),
        ("memoryview 'B'", lambda: memoryview(raw), raw),
        ("bytearray", lambda: bytearray(raw), raw),
    ]


def _settled() -> tuple[TLSConnection, TLSConnection]:
    """A connected pair past the tickets: both fast paths on."""
    c, s = connected()
    c.send_data(b"x")
    flow(c, s)
    s.send_data(b"y")
    flow(s, c)
    assert s.data_to_read() == b"x" and c.data_to_read() == b"y"
    return c, s


@pytest.mark.parametrize("size", [10, 3000, 5000])  # one record's worth (fast path) or more
@pytest.mark.parametrize("index", range(6))
def test_send_data_sends_the_bytes(size: int, index: int) -> None:
    name, make, expected = _buffers(size)[index]
    c, s = _settled()
    for sender, receiver in ((c, s), (s, c)):
        sender.send_data(make())  # type: ignore[arg-type]
        sender.send_data(b"after")
        flow(sender, receiver)
        assert receiver.data_to_read() == expected + b"after", name


@pytest.mark.parametrize("bad", ["text", 5, None, [1, 2]])
def test_send_data_of_no_bytes_is_usage_error(bad: object) -> None:
    c, s = _settled()
    with pytest.raises(TLSUsageError):
        c.send_data(bad)  # type: ignore[arg-type]
    assert c.data_to_send() == b""
    assert not c.is_failed()
    c.send_data(b"still fine")
    flow(c, s)
    assert s.data_to_read() == b"still fine"


def test_send_early_data_sends_the_bytes() -> None:
    conf = server()
    c = TLSConnection(client(), "localhost", session=session(conf), early_data=b"a")
    s = TLSConnection(conf)
    c.initiate_connection()
    c.send_early_data(array.array("H", [0x6262, 0x6363]))  # type: ignore[arg-type]
    c.send_early_data(memoryview(b"xdxex")[1::2])
    s.initiate_connection()
    handshake(c, s)
    assert s.data_to_read_early() == b"a" + array.array("H", [0x6262, 0x6363]).tobytes() + b"de"
