"""``TLSConnection.receive_data`` keeps no reference to the bytes it was given.

The asyncio adapter reads every connection of a thread into one shared buffer
(``adapters/_asyncio.py``) and feeds the engine a memoryview of it, so the engine
must copy whatever it keeps (a partial record, a partial handshake message, bytes
after a close_notify) before ``receive_data`` returns. Here every call is fed from
one reused buffer that is scribbled over right after the call: anything the
engine kept a view of would decrypt wrong, fail its MAC or deliver garbage.
"""

from __future__ import annotations

import random

import pytest

from helpers import chunks, new_client, new_server
from siotls import TLSConnection

_SCRATCH = bytearray(1 << 17)


def feed(receiver: TLSConnection, data: bytes, rng: random.Random | None) -> None:
    """``data`` to ``receiver`` through the shared scratch buffer, in random pieces."""
    for piece in chunks(data, rng, max_size=700):
        _SCRATCH[: len(piece)] = piece
        receiver.receive_data(memoryview(_SCRATCH)[: len(piece)])
        _SCRATCH[: len(piece)] = b"\xa5" * len(piece)  # what a next read would write


def move(sender: TLSConnection, receiver: TLSConnection, rng: random.Random | None) -> int:
    data = sender.data_to_send()
    feed(receiver, data, rng)
    return len(data)


@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4, 5])
def test_scribbled_input_changes_nothing(seed: int | None) -> None:
    rng = None if seed is None else random.Random(seed)
    client, server = new_client(), new_server()
    for _ in range(10):  # the handshake, in pieces that split records and messages
        if not move(client, server, rng) + move(server, client, rng) and \
                client.is_post_handshake() and server.is_post_handshake():
            break
    assert client.is_connected() and server.is_connected()

    payload = bytes(random.Random(seed).randbytes(40_000))  # several records
    server.send_data(payload)  # the tickets go first
    move(server, client, rng)
    assert client.data_to_read() == payload
    client.send_data(b"ping" * 500)
    client.update_keys(request_peer_update=True)  # KeyUpdate between records
    client.send_data(b"after the update")
    move(client, server, rng)
    assert server.data_to_read() == b"ping" * 500 + b"after the update"
    move(server, client, rng)  # the peer's KeyUpdate
    server.send_data(b"pong")
    move(server, client, rng)
    assert client.data_to_read() == b"pong"

    # A close_notify followed by plaintext: the rest waits in unused_data().
    server.close_sending_end()
    trailer = b"plaintext after TLS" * 10
    feed(client, server.data_to_send() + trailer, rng)
    assert not client.can_receive
    assert client.unused_data() == trailer
