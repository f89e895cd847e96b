"""Engine details the other suites do not reach: AEAD usage limits, SSLKEYLOGFILE,
GREASE (RFC 8701), and the bound on what a peer can make us buffer."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import connected, connection_pair, handshake
from internals import internals
from siotls import TLSConfiguration, TLSConnection
from siotls.core.errors import IllegalParameter, UnexpectedMessage
from siotls.core.messages import ClientHello, parse_client_hello
from siotls.iana import ContentType, ExtensionType, HandshakeType


def test_key_update_before_the_aead_usage_limit() -> None:
    """RFC 8446 5.5: a key is updated before it protects 2^24.5 AES-GCM records."""
    client, server = connected()
    write = internals(client).write_direction
    limit = internals(client).records.write_usage_limit
    assert limit == 2**24
    old_iv = write.iv
    write.seq = limit - 2  # as if 2^24 - 2 records had been sent
    # The record counter is not part of the wire: fake the peer's to match.
    internals(server).read_direction.seq = limit - 2
    client.send_data(b"x" * 40000)  # 3 records: would cross the limit
    assert write.iv != old_iv, "the write key was not updated"
    assert write.seq == 3
    server.receive_data(client.data_to_send())
    assert server.data_to_read() == b"x" * 40000
    assert internals(server).read_direction.seq == 3


def test_sslkeylogfile_environment_variable(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    client, _ = connected({}, {})  # fresh configurations, made with the variable set
    assert client.config.log_keys
    lines = keylog.read_text().splitlines()
    labels = sorted(line.split()[0] for line in lines)
    # Both sides wrote the five secrets of the same connection, with the same client random.
    assert labels == sorted(2 * [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"])
    assert len({line.split()[1] for line in lines}) == 1
    assert len(set(lines)) == 5  # client and server agree on every secret


def test_no_keylog_without_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    client, _ = connected({}, {})
    assert not client.config.log_keys


GREASE = [0x0A0A, 0x1A1A, 0xFAFA]


def test_grease_is_ignored_by_the_server() -> None:
    """RFC 8701: unknown suites, groups, schemes, versions, extensions and key shares."""
    client, server = connection_pair()
    hello = parse_client_hello(client.data_to_send()[9:])
    ext = dict(hello.extensions)

    def with_grease(data: bytes, size: int, prefix: int) -> bytes:
        values = b"".join(g.to_bytes(size, "big") for g in GREASE[:1])
        body = values + data[prefix:]
        return len(body).to_bytes(prefix, "big") + body

    ext[ExtensionType.SUPPORTED_GROUPS] = with_grease(ext[ExtensionType.SUPPORTED_GROUPS], 2, 2)
    ext[ExtensionType.SIGNATURE_ALGORITHMS] = with_grease(
        ext[ExtensionType.SIGNATURE_ALGORITHMS], 2, 2)
    ext[ExtensionType.SUPPORTED_VERSIONS] = with_grease(
        ext[ExtensionType.SUPPORTED_VERSIONS], 2, 1)
    grease_share = GREASE[0].to_bytes(2, "big") + b"\x00\x01\x00"
    shares = ext[ExtensionType.KEY_SHARE]
    body = grease_share + shares[2:]
    ext[ExtensionType.KEY_SHARE] = len(body).to_bytes(2, "big") + body
    ext = {GREASE[1]: b"", **ext, GREASE[2]: b"\x00"}
    greasy = ClientHello(hello.random, hello.legacy_session_id,
                         [GREASE[0], *hello.cipher_suites], ext).serialize()
    server.receive_data(bytes((ContentType.HANDSHAKE, 3, 1)) + len(greasy).to_bytes(2, "big")
                        + greasy)
    # The server answers: a ServerHello with our real choices.
    out = server.data_to_send()
    assert out[0] == ContentType.HANDSHAKE and out[5] == HandshakeType.SERVER_HELLO
    assert server.nconfig.key_exchange is not None
    assert server.nconfig.cipher_suite is not None


def test_grease_group_in_key_share_must_be_in_supported_groups() -> None:
    client, server = connection_pair()
    hello = parse_client_hello(client.data_to_send()[9:])
    ext = dict(hello.extensions)
    shares = ext[ExtensionType.KEY_SHARE]
    body = GREASE[0].to_bytes(2, "big") + b"\x00\x01\x00" + shares[2:]
    ext[ExtensionType.KEY_SHARE] = len(body).to_bytes(2, "big") + body
    bad = ClientHello(hello.random, hello.legacy_session_id, hello.cipher_suites,
                      ext).serialize()
    with pytest.raises(IllegalParameter):
        server.receive_data(b"\x16\x03\x01" + len(bad).to_bytes(2, "big") + bad)


def test_too_many_empty_records_without_progress() -> None:
    """A peer cannot keep us busy with empty application data records forever."""
    client, server = connected()
    for _ in range(64):
        internals(client).write_record(ContentType.APPLICATION_DATA, b"")
    server.receive_data(client.data_to_send())  # 64 are tolerated
    internals(client).write_record(ContentType.APPLICATION_DATA, b"")
    with pytest.raises(UnexpectedMessage, match="without application data"):
        server.receive_data(client.data_to_send())


def test_data_resets_the_progress_counter() -> None:
    client, server = connected()
    for _ in range(3):
        for _ in range(60):
            internals(client).write_record(ContentType.APPLICATION_DATA, b"")
        client.send_data(b"progress")
        server.receive_data(client.data_to_send())
    assert server.data_to_read() == b"progress" * 3


def test_configuration_is_shared_by_many_connections() -> None:
    """A frozen configuration serves any number of connections."""
    client, server = connection_pair()
    config: TLSConfiguration = server.config
    for _ in range(3):
        other_client = TLSConnection(client.config, server_hostname="localhost")
        other_server = TLSConnection(config)
        other_client.initiate_connection()
        other_server.initiate_connection()
        handshake(other_client, other_server)
        assert other_server.is_post_handshake()
