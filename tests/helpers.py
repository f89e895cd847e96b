"""Shared test helpers: configurations from test certificates, connections
(new, paired, connected), and an in-memory wire. The pytest fixtures built on
these are in ``conftest.py``."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from typing import Any

from certs import CA, Leaf, make_ca
from siotls import TLSConfiguration, TLSConnection, TLSSession


def server_config(leaf: Leaf | None = None, **kwargs: Any) -> TLSConfiguration:
    leaf = leaf or make_ca().issue()
    return TLSConfiguration("server", private_key=leaf.key_der,
                            certificate_chain=leaf.chain_der, **kwargs)


def client_config(ca: CA | None = None, **kwargs: Any) -> TLSConfiguration:
    ca = ca or make_ca()
    return TLSConfiguration("client", truststore=ca.truststore(), **kwargs)


@functools.cache
def default_leaf() -> Leaf:
    """The server certificate of the default configurations (issued by ``make_ca()``)."""
    return make_ca().issue()


@functools.cache
def default_configs() -> tuple[TLSConfiguration, TLSConfiguration]:
    """A client configuration trusting ``make_ca()`` and a server with :func:`default_leaf`."""
    return client_config(make_ca()), server_config(default_leaf())


def new_client(config: TLSConfiguration | None = None,
               server_hostname: str | None = "localhost") -> TLSConnection:
    """An initiated client (its ClientHello queued); the default configuration by default."""
    client = TLSConnection(config or default_configs()[0], server_hostname=server_hostname)
    client.initiate_connection()
    return client


def new_server(config: TLSConfiguration | None = None) -> TLSConnection:
    """An initiated server, waiting for a ClientHello."""
    server = TLSConnection(config or default_configs()[1])
    server.initiate_connection()
    return server


def connected(client_kwargs: dict[str, Any] | None = None,
              server_kwargs: dict[str, Any] | None = None,
              **kwargs: Any) -> tuple[TLSConnection, TLSConnection]:
    """A client and a server that completed the handshake in memory.

    Without arguments, from :func:`default_configs` (made once: pass ``{}, {}``
    for fresh configurations, e.g. after changing the environment).
    """
    if client_kwargs is None and server_kwargs is None and not kwargs:
        client, server = new_client(), new_server()
    else:
        client, server = connection_pair(client_kwargs, server_kwargs, **kwargs)
    handshake(client, server)
    assert client.is_connected()
    assert server.is_connected()
    return client, server


def connection_pair(client_kwargs: dict[str, Any] | None = None,
                    server_kwargs: dict[str, Any] | None = None,
                    server_hostname: str | None = "localhost",
                    key_type: str = "ecdsa-p256") -> tuple[TLSConnection, TLSConnection]:
    ca = make_ca()
    leaf = ca.issue(key_type=key_type)
    client = TLSConnection(client_config(ca, **(client_kwargs or {})),
                           server_hostname=server_hostname)
    server = TLSConnection(server_config(leaf, **(server_kwargs or {})))
    client.initiate_connection()
    server.initiate_connection()
    return client, server


def configured_pair(client: TLSConfiguration, server: TLSConfiguration
                    ) -> tuple[TLSConnection, TLSConnection]:
    """An initiated client (for ``localhost``) and server of these configurations."""
    return new_client(client), new_server(server)


def connected_pair(client: TLSConfiguration, server: TLSConfiguration
                   ) -> tuple[TLSConnection, TLSConnection]:
    """:func:`configured_pair`, handshake completed in memory."""
    c, s = configured_pair(client, server)
    handshake(c, s)
    return c, s


def new_session(client: TLSConfiguration, server: TLSConfiguration) -> TLSSession:
    """The session a client of ``client`` gets from a full handshake with a server of
    ``server`` (whose first data carries the tickets)."""
    c, s = connected_pair(client, server)
    s.send_data(b"tickets first")
    flow(s, c)
    assert c.session is not None
    return c.session


def chunks(data: bytes, rng: random.Random | None, max_size: int = 64) -> Iterator[bytes]:
    """``data`` cut at random places (whole when ``rng`` is None)."""
    if rng is None:
        yield data
        return
    pos = 0
    while pos < len(data):
        size = rng.randint(1, max_size)
        yield data[pos : pos + size]
        pos += size


def flow(sender: TLSConnection, receiver: TLSConnection,
         rng: random.Random | None = None) -> int:
    """Move what ``sender`` queued to ``receiver``; return how many bytes moved."""
    data = sender.data_to_send()
    for chunk in chunks(data, rng):
        receiver.receive_data(chunk)
    return len(data)


def handshake(client: TLSConnection, server: TLSConnection,
              rng: random.Random | None = None) -> None:
    """Run the handshake in memory to completion (bounded)."""
    for _ in range(10):
        moved = flow(client, server, rng) + flow(server, client, rng)
        if client.is_post_handshake() and server.is_post_handshake() and not moved:
            return
    raise AssertionError("the handshake did not complete")
