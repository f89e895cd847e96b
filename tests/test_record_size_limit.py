"""record_size_limit (RFC 8449): sent by both sides, honoured on protected records.

In TLS 1.3 the limit counts the TLSInnerPlaintext: content, content type and
padding. The server's value travels in EncryptedExtensions. GnuTLS
(``--recordsize``) is the real peer that implements it; Python's ssl (OpenSSL
has no record_size_limit) is the peer that ignores it.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from pathlib import Path

import pytest

from certs import make_ca, ssl_server_context, write_pem_files
from gnutls_peer import GNUTLS_CLI, GNUTLS_SERV, gnutls_cli, gnutls_serv
from helpers import client_config, connection_pair, handshake, server_config
from openssl_peer import TIMEOUT, accept, connect, listener, read_until, run_client, run_server
from siotls import TLSConfiguration, TLSConnection
from siotls.core import extensions as ext
from siotls.core.errors import IllegalParameter, RecordOverflow, TLSFatalAlert
from siotls.core.messages import EncryptedExtensions, parse_client_hello
from siotls.iana import ContentType
from siotls.iana import ExtensionType as ET
from wire import Sealer, split_records


def protected_inner_sizes(data: bytes) -> list[int]:
    """The TLSInnerPlaintext size of each protected record in ``data``."""
    return [int.from_bytes(r[3:5], "big") - 16 for r in split_records(data)
            if r[0] == ContentType.APPLICATION_DATA]


def test_both_sides_send_it_by_default() -> None:
    client, server = connection_pair()
    ch = parse_client_hello(client.data_to_send()[9:])
    assert ext.decode_record_size_limit(ch.extensions[ET.RECORD_SIZE_LIMIT]) == 16385
    client, server = connection_pair()
    handshake(client, server)
    assert client.nconfig.peer_record_size_limit == 16385
    assert server.nconfig.peer_record_size_limit == 16385


@pytest.mark.parametrize(("client_limit", "server_limit"), [(64, 16385), (100, 200), (16385, 64)])
def test_each_side_honours_the_peer_limit(client_limit: int, server_limit: int) -> None:
    client, server = connection_pair({"record_size_limit": client_limit},
                                     {"record_size_limit": server_limit})
    server.receive_data(client.data_to_send())
    flight = server.data_to_send()
    # The server's encrypted flight already fits the client's limit.
    assert max(protected_inner_sizes(flight)) <= client_limit
    client.receive_data(flight)
    client_flight = client.data_to_send()
    assert max(protected_inner_sizes(client_flight)) <= server_limit
    server.receive_data(client_flight)
    assert client.nconfig.peer_record_size_limit == server_limit
    assert server.nconfig.peer_record_size_limit == client_limit
    payload = bytes(range(256)) * 160
    server.send_data(payload)
    data = server.data_to_send()
    assert max(protected_inner_sizes(data)) == min(client_limit, 16385)
    client.receive_data(data)
    assert client.data_to_read() == payload
    client.send_data(payload)
    data = client.data_to_send()
    assert max(protected_inner_sizes(data)) == server_limit
    server.receive_data(data)
    assert server.data_to_read() == payload


def test_padding_counts_against_the_limit() -> None:
    client, server = connection_pair({"record_size_limit": 100},  # no tickets before the data
                                     {"record_padding": lambda _type, _length: 1000,
                                      "num_tickets": 0})
    handshake(client, server)
    server.send_data(b"x" * 10)
    data = server.data_to_send()
    assert protected_inner_sizes(data) == [100]
    client.receive_data(data)
    assert client.data_to_read() == b"x" * 10


def test_a_record_over_our_limit_is_record_overflow() -> None:
    client, server = connection_pair({"record_size_limit": 100})
    handshake(client, server)
    # Lift the server's self-restraint: it sends a 101-byte inner plaintext.
    server._records.set_peer_record_size_limit(16385)
    server.send_data(b"x" * 100)
    with pytest.raises(RecordOverflow) as info:
        client.receive_data(server.data_to_send())
    assert info.value.reason == "record_size_limit"


def test_exactly_the_limit_is_accepted() -> None:
    client, server = connection_pair({"record_size_limit": 100})
    handshake(client, server)
    server.send_data(b"x" * 99)
    client.receive_data(server.data_to_send())
    assert client.data_to_read() == b"x" * 99


def test_none_sends_nothing_but_still_honours_the_peer() -> None:
    client, server = connection_pair({"record_size_limit": None}, {"record_size_limit": 64})
    ch = client.data_to_send()
    assert ET.RECORD_SIZE_LIMIT not in parse_client_hello(ch[9:]).extensions
    server.receive_data(ch)
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    # The server never learnt a limit; the client did not offer one, so the server
    # sent none either (a response to an extension never offered is an error).
    assert client.nconfig.peer_record_size_limit is None
    assert server.nconfig.peer_record_size_limit is None
    assert client.is_connected() and server.is_connected()


@pytest.mark.parametrize("value", [0, 63, 8])
def test_config_rejects_out_of_range(value: int) -> None:
    with pytest.raises(ValueError, match="record_size_limit"):
        server_config(record_size_limit=value)
    with pytest.raises(ValueError, match="record_size_limit"):
        server_config(record_size_limit=16386)


@pytest.mark.parametrize("value", [0, 1, 63])
def test_server_rejects_a_limit_under_64(value: int) -> None:
    client, server = connection_pair()
    ch = parse_client_hello(client.data_to_send()[9:])
    ch = dataclasses.replace(ch, extensions={
        **ch.extensions, ET.RECORD_SIZE_LIMIT: value.to_bytes(2, "big")})
    data = ch.serialize()
    with pytest.raises(IllegalParameter):
        server.receive_data(bytes((22, 3, 1)) + len(data).to_bytes(2, "big") + data)


def test_server_takes_a_larger_client_value_as_no_limit() -> None:
    client, server = connection_pair()
    ch = parse_client_hello(client.data_to_send()[9:])
    ch = dataclasses.replace(ch, extensions={**ch.extensions, ET.RECORD_SIZE_LIMIT: b"\xff\xff"})
    data = ch.serialize()
    server.receive_data(bytes((22, 3, 1)) + len(data).to_bytes(2, "big") + data)
    assert not server.is_failed()


def _client_with_encrypted_extensions(extensions: dict[int, bytes]) -> None:
    """Hand the client a server flight whose EncryptedExtensions is ``extensions``."""
    client, server = connection_pair()
    server.receive_data(client.data_to_send())
    records = split_records(server.data_to_send())
    schedule = server._handshake.key_schedule
    sealer = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    ee = EncryptedExtensions(extensions).serialize()
    client.receive_data(records[0] + records[1] + sealer.handshake(ee))


@pytest.mark.parametrize(("extensions", "error"), [
    ({ET.RECORD_SIZE_LIMIT: b"\x00\x3f"}, IllegalParameter),
    ({ET.RECORD_SIZE_LIMIT: b"\x40\x02"}, IllegalParameter),
    ({ET.RECORD_SIZE_LIMIT: b"\x40\x00", ET.MAX_FRAGMENT_LENGTH: b"\x01"}, IllegalParameter),
])
def test_client_rejects_bad_encrypted_extensions(
        extensions: dict[int, bytes], error: type[TLSFatalAlert]) -> None:
    with pytest.raises(TLSFatalAlert) as info:
        _client_with_encrypted_extensions(extensions)
    assert type(info.value) is error


def test_against_a_peer_without_the_extension(tmp_path: Path) -> None:
    """Python's ssl (OpenSSL has no record_size_limit) ignores ours; we send full records."""
    leaf = make_ca().issue()
    cert_file, key_file, _ = write_pem_files(tmp_path, leaf)
    context = ssl_server_context(cert_file, key_file)
    received = bytearray()

    def serve(sock: socket.socket) -> None:
        conn, _ = sock.accept()
        conn.settimeout(TIMEOUT)
        with context.wrap_socket(conn, server_side=True) as tls:
            while len(received) < 40000:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                received.extend(chunk)
            tls.sendall(b"done\n")

    with listener() as (sock, port):
        thread = threading.Thread(target=serve, args=(sock,), daemon=True)
        thread.start()
        config: TLSConfiguration = client_config(leaf.ca, record_size_limit=64)
        conn = TLSConnection(config, server_hostname="localhost")
        with connect(port) as client_sock:
            run_client(client_sock, conn)
            assert conn.nconfig.peer_record_size_limit is None
            conn.send_data(b"z" * 40000)
            data = conn.data_to_send()
            assert max(protected_inner_sizes(data)) == 16385
            client_sock.sendall(data)
            assert read_until(client_sock, conn, b"done\n").endswith(b"done\n")
        thread.join(TIMEOUT)
    assert bytes(received) == b"z" * 40000


# -- GnuTLS (which implements RFC 8449) as a real peer -------------------------------------

gnutls = pytest.mark.skipif(GNUTLS_SERV is None or GNUTLS_CLI is None,
                            reason="no gnutls-serv/gnutls-cli on PATH (Debian: gnutls-bin)")


@gnutls
@pytest.mark.timeout(30)
def test_gnutls_server_limit(tmp_path: Path) -> None:
    ca = make_ca()
    cert, key, _ = write_pem_files(tmp_path, ca.issue(), ca)
    with gnutls_serv(cert, key, "--recordsize=600") as (_, port), connect(port) as sock:
        conn = TLSConnection(client_config(ca, record_size_limit=512), server_hostname="localhost")
        run_client(sock, conn)
        limit = conn.nconfig.peer_record_size_limit
        assert limit is not None and 600 <= limit <= 601
        payload = b"0123456789" * 3000 + b"\n"  # gnutls-serv echoes whole lines
        conn.send_data(payload)
        data = conn.data_to_send()
        assert max(protected_inner_sizes(data)) == limit
        sock.sendall(data)
        # gnutls-serv echoes within our limit of 512, or we would fail with record_overflow.
        assert read_until(sock, conn, payload) == payload


@gnutls
@pytest.mark.timeout(30)
def test_gnutls_client_limit(tmp_path: Path) -> None:
    ca = make_ca()
    _, _, cafile = write_pem_files(tmp_path, ca.issue(), ca)
    conn = TLSConnection(server_config(ca.issue(), record_size_limit=600))
    with listener() as (sock, port), gnutls_cli(
            port, "--recordsize=700", "--x509cafile", cafile,
            "--sni-hostname", "localhost", "--verify-hostname", "localhost") as proc, \
            accept(sock) as server_sock:
        run_server(server_sock, conn)
        limit = conn.nconfig.peer_record_size_limit
        assert limit is not None and 700 <= limit <= 701
        # gnutls-cli sends one record per line read (the rest of a longer line is lost).
        proc.write(b"x" * 500 + b"\n")
        assert read_until(server_sock, conn, b"\n") == b"x" * 500 + b"\n"
        conn.send_data(b"y" * 3000 + b"\n")
        data = conn.data_to_send()
        assert max(protected_inner_sizes(data)) == limit
        server_sock.sendall(data)
        proc.wait_for(b"y" * 100)


def test_the_asyncio_adapter_honours_the_limit() -> None:
    """The adapters write through send_data: a 64-byte limit holds for a large write."""
    import asyncio

    import siotls.asyncio

    payload = bytes(range(256)) * 200

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(5)
        writer.write(payload)
        await writer.drain()
        writer.close()

    async def main() -> bytes:
        server = await siotls.asyncio.start_server(handle, "127.0.0.1", 0,
                                                   config=server_config())
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            conn = TLSConnection(client_config(record_size_limit=64), server_hostname="localhost")
            conn.initiate_connection()
            received = bytearray()
            writer.write(conn.data_to_send())
            while not conn.is_post_handshake():
                conn.receive_data(await asyncio.wait_for(reader.read(65536), TIMEOUT))
                writer.write(conn.data_to_send())
            conn.send_data(b"hello")
            writer.write(conn.data_to_send())
            while len(received) < len(payload):
                data = await asyncio.wait_for(reader.read(65536), TIMEOUT)
                assert data, "the server closed early"
                conn.receive_data(data)  # RecordOverflow if a record were over 64 bytes
                received += conn.data_to_read()
            writer.close()
            return bytes(received)
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), TIMEOUT)

    assert asyncio.run(asyncio.wait_for(main(), 3 * TIMEOUT)) == payload
