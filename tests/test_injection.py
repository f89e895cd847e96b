"""The configuration's ``random_bytes``, ``clock`` and ``key_share_generator``
are what the engine uses: certificate validity at any date without sleeping or
monkeypatching, ticket ages, the Hello randoms and the ephemeral keys."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from certs import make_ca
from helpers import client_config, connected, handshake, new_client, new_server, server_config
from internals import internals
from siotls.core.errors import CertificateExpired
from siotls.core.messages import NewSessionTicket, parse_client_hello, parse_server_hello
from siotls.iana import ContentType, ExtensionType, NamedGroup
from wire import split_records

DAY = 86400.0


@pytest.mark.parametrize(("offset", "ok"), [(0, True), (29 * DAY, True), (31 * DAY, False),
                                             (-2 * DAY, False)])
def test_client_checks_validity_at_its_clock(offset: float, ok: bool) -> None:
    """The leaf is valid from a day ago for 30 days (tests/certs.py)."""
    ca = make_ca()
    now = time.time()
    client = new_client(client_config(ca, clock=lambda: now + offset))
    server = new_server(server_config(ca.issue()))
    if ok:
        handshake(client, server)
        assert client.is_connected()
    else:
        with pytest.raises(CertificateExpired):
            handshake(client, server)


def test_server_checks_client_certificates_at_its_clock() -> None:
    ca = make_ca()
    client_leaf = ca.issue(client=True)
    client = new_client(client_config(ca, private_key=client_leaf.key_der,
                                      certificate_chain=client_leaf.chain_der))
    late = time.time() + 60 * DAY
    server = new_server(server_config(ca.issue(), truststore=ca.truststore(),
                                      require_peer_authentication=True, clock=lambda: late))
    with pytest.raises(CertificateExpired):
        handshake(client, server)


def test_ticket_received_at_is_the_clock() -> None:
    moment = [time.time()]  # now for the handshake (the certificate is checked then)
    client, server = connected({"clock": lambda: moment[0]}, {})
    moment[0] = 1234567890.5
    internals(server).write_record(
        ContentType.HANDSHAKE, NewSessionTicket(3600, 1, b"", b"ticket", {}).serialize())
    client.receive_data(server.data_to_send())
    (ticket,) = client.session_tickets
    assert ticket.received_at == 1234567890.5
    assert datetime.datetime.fromtimestamp(ticket.received_at, datetime.UTC).year == 2009


def test_randoms_and_key_shares_come_from_the_configuration() -> None:
    asked: list[Any] = []

    def random_bytes(n: int) -> bytes:
        asked.append(n)
        return bytes([len(asked)]) * n

    key = x25519.X25519PrivateKey.from_private_bytes(b"\x07" * 32)
    public = key.public_key().public_bytes_raw()

    def key_share_generator(group: int) -> tuple[Any, bytes]:
        asked.append(NamedGroup(group))
        return key, public

    # x25519 only: the default's X25519MLKEM768 needs a hybrid key (test_hybrid.py).
    client = new_client(client_config(random_bytes=random_bytes, key_exchanges=[NamedGroup.x25519],
                                      key_share_generator=key_share_generator))
    client_hello = client.data_to_send()
    hello = parse_client_hello(memoryview(client_hello)[9:])
    assert hello.random == b"\x01" * 32
    assert hello.legacy_session_id == b"\x02" * 32
    assert asked == [32, 32, NamedGroup.x25519]
    server = new_server(server_config(random_bytes=lambda n: b"\x05" * n,
                                      key_share_generator=key_share_generator))
    server.receive_data(client_hello)
    flight = server.data_to_send()
    server_hello = parse_server_hello(memoryview(split_records(flight)[0])[9:])
    assert server_hello.random == b"\x05" * 32
    assert server_hello.extensions[ExtensionType.KEY_SHARE][-32:] == public
    assert asked[-1] == NamedGroup.x25519
    # Both sides used the same (injected) key: the exchange still works end to end.
    client.receive_data(flight)
    server.receive_data(client.data_to_send())
    assert client.is_connected() and server.is_connected()
