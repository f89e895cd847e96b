"""Shared test helpers: configurations from test certificates, and an in-memory wire."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from certs import CA, Leaf, make_ca
from siotls import TLSConfiguration, TLSConnection


def server_config(leaf: Leaf | None = None, **kwargs: Any) -> TLSConfiguration:
    leaf = leaf or make_ca().issue()
    return TLSConfiguration("server", private_key=leaf.key_der,
                            certificate_chain=leaf.chain_der, **kwargs)


def client_config(ca: CA | None = None, **kwargs: Any) -> TLSConfiguration:
    ca = ca or make_ca()
    return TLSConfiguration("client", truststore=ca.truststore(), **kwargs)


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
