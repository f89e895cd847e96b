"""A connection pair is freed by reference counting alone: no reference cycle
(handshake <-> connection, post-handshake authentication's back references, bound
methods of the connection kept by its parts) waits for the cyclic garbage collector.

Each test runs with the collector disabled and checks, through weak references, that
dropping the last outside reference frees both connections at once.

Not covered, on purpose: a *failed* connection keeps its error (``TLSConnectionFailed``
is raised from it later), and the error's traceback holds the frames that ran the
connection's methods, so a failed connection waits for the collector.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator

import pytest

from helpers import connected, flow, new_client, new_server
from siotls import TLSConnection
from test_pha import client_config as pha_client_config
from test_pha import connected as pha_connected

Pair = tuple[TLSConnection, TLSConnection]


@pytest.fixture(autouse=True)
def _no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def assert_freed(make: Callable[[], Pair]) -> None:
    refs = [weakref.ref(conn) for conn in make()]
    assert [ref() for ref in refs] == [None, None], gc.get_referrers(*filter(None, (
        ref() for ref in refs)))


def echo(pair: Pair) -> Pair:
    client, server = pair
    client.send_data(b"ping")
    flow(client, server)
    assert server.data_to_read() == b"ping"
    server.send_data(b"pong")
    flow(server, client)
    assert client.data_to_read() == b"pong"
    return pair


def test_connected_pair() -> None:
    assert_freed(lambda: echo(connected()))


def test_not_started_and_half_way() -> None:
    def half_way() -> Pair:
        client, server = new_client(), new_server()
        flow(client, server)  # the server's flight queued, the client has not seen it
        return client, server

    assert_freed(lambda: (TLSConnection(connected()[0].config, "localhost"),
                          TLSConnection(connected()[1].config)))
    assert_freed(half_way)


def test_key_logging() -> None:
    lines: list[str] = []

    def make() -> Pair:
        return echo(connected({"log_keys": True, "keylog": lines.append}, {}))

    assert_freed(make)
    assert any(line.startswith("CLIENT_TRAFFIC_SECRET_0 ") for line in lines)


def test_key_update_requested_and_answered() -> None:
    def make() -> Pair:
        client, server = connected()
        client.update_keys(request_peer_update=True)
        flow(client, server)
        server_answer = server.data_to_send()  # the server's own KeyUpdate
        assert server_answer
        client.receive_data(server_answer)
        return echo((client, server))

    assert_freed(make)


def test_post_handshake_authentication() -> None:
    def make() -> Pair:
        client, server = pha_connected(pha_client_config())
        server.request_client_certificate()
        flow(server, client)
        flow(client, server)
        assert server.nconfig.post_handshake_authentications == 1
        return echo((client, server))

    assert_freed(make)


def test_closed() -> None:
    def closed() -> Pair:
        client, server = connected()
        client.close_sending_end()
        flow(client, server)
        server.close_sending_end()
        flow(server, client)
        return client, server

    assert_freed(closed)


def test_the_lifecycle_the_handshake_asks() -> None:
    """Without its back references the handshake still asks the connection's lifecycle:
    a client whose sending end is closed answers neither a KeyUpdate request nor a
    CertificateRequest; open, it answers both."""
    for close in (False, True):
        client, server = pha_connected(pha_client_config())
        if close:
            client.close_sending_end()
            flow(client, server)
        server.update_keys(request_peer_update=True)
        server.request_client_certificate()
        flow(server, client)
        answer = client.data_to_send()
        assert bool(answer) is not close
        server.receive_data(answer)
        assert server.nconfig.post_handshake_authentications == (0 if close else 1)
