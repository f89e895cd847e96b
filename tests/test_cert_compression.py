"""Certificate compression (RFC 8879): zlib, brotli and zstd, both directions.

siotls with itself for every algorithm and both Certificate directions, the
bounds and failures (bad_certificate, illegal_parameter, unexpected_message),
decompression bombs and the server's cache of compressed chains. The real
peers are the browsers: Chromium's brotli in test_browser.py, Firefox's in
test_firefox.py. (Debian's GnuTLS is built without any compression library and
answers ``--compress-cert`` with "Unknown compression method"; the OpenSSL
that pyOpenSSL bundles has none either, and OpenSSL 3.0 predates RFC 8879.)
"""

from __future__ import annotations

import dataclasses
import zlib

import brotli
import pytest
import zstandard

from certs import make_ca
from helpers import client_config, connection_pair, handshake, server_config
from siotls import TLSConnection
from siotls.core import compression
from siotls.core import extensions as ext
from siotls.core.errors import (
    BadCertificate,
    DecodeError,
    IllegalParameter,
    TLSFatalAlert,
    UnexpectedMessage,
)
from siotls.core.messages import CompressedCertificate, parse_client_hello
from siotls.iana import CertificateCompressionAlgorithm as CCA
from siotls.iana import ExtensionType as ET
from siotls.iana import HandshakeType as HT
from wire import Sealer, split_messages, split_records

ALGORITHMS = ["zlib", "brotli", "zstd"]
COMPRESSORS = {
    CCA.zlib: zlib.compress,
    CCA.brotli: brotli.compress,
    CCA.zstd: lambda data: zstandard.ZstdCompressor().compress(data),
}


def test_available_lists_every_installed_algorithm() -> None:
    assert compression.available() == ("brotli", "zstd", "zlib")


def test_client_offers_every_available_algorithm_by_default() -> None:
    client, _ = connection_pair()
    ch = parse_client_hello(client.data_to_send()[9:])
    offered = ext.decode_compress_certificate(ch.extensions[ET.COMPRESS_CERTIFICATE])
    assert offered == [CCA.brotli, CCA.zstd, CCA.zlib]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_server_certificate_compressed(algorithm: str) -> None:
    client, server = connection_pair({"certificate_compression": [algorithm]})
    handshake(client, server)
    assert server.nconfig.certificate_compression == algorithm
    assert client.nconfig.peer_certificate_compression == algorithm
    assert client.nconfig.peer_verified


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_client_certificate_compressed(algorithm: str) -> None:
    ca = make_ca()
    client_leaf = ca.issue(client=True)
    client = TLSConnection(client_config(
        ca, private_key=client_leaf.key_der, certificate_chain=client_leaf.chain_der,
        certificate_compression=["zlib", "brotli", "zstd"]), server_hostname="localhost")
    server = TLSConnection(server_config(
        ca.issue(), truststore=ca.truststore(), require_peer_authentication=True,
        certificate_compression=[algorithm]))
    client.initiate_connection()
    server.initiate_connection()
    handshake(client, server)
    assert client.nconfig.certificate_compression == algorithm
    assert server.nconfig.peer_certificate_compression == algorithm
    assert server.nconfig.peer_certificate_chain == tuple(client_leaf.chain_der)


def test_server_order_wins() -> None:
    client, server = connection_pair({"certificate_compression": ["zlib", "zstd"]},
                                     {"certificate_compression": ["zstd", "zlib"]})
    handshake(client, server)
    assert client.nconfig.peer_certificate_compression == "zstd"


@pytest.mark.parametrize(("client_algorithms", "server_algorithms"), [
    ((), None), (None, ()), (["zlib"], ["brotli"])])
def test_no_compression(client_algorithms: list[str] | None,
                        server_algorithms: list[str] | None) -> None:
    client_kwargs = {} if client_algorithms is None else {
        "certificate_compression": client_algorithms}
    server_kwargs = {} if server_algorithms is None else {
        "certificate_compression": server_algorithms}
    client, server = connection_pair(client_kwargs, server_kwargs)
    handshake(client, server)
    assert client.nconfig.peer_certificate_compression is None
    assert server.nconfig.certificate_compression is None


def test_the_server_compresses_its_chain_once() -> None:
    compression.compress.cache_clear()
    server_kwargs = {"certificate_compression": ["zlib"]}
    ca = make_ca()
    leaf = ca.issue()
    for _ in range(3):
        client = TLSConnection(client_config(ca), server_hostname="localhost")
        server = TLSConnection(server_config(leaf, **server_kwargs))
        client.initiate_connection()
        server.initiate_connection()
        handshake(client, server)
    info = compression.compress.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_config_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown algorithm"):
        server_config(certificate_compression=["lzma"])
    with pytest.raises(ValueError, match="twice"):
        server_config(certificate_compression=["zlib", "zlib"])
    with pytest.raises(ValueError, match="not a string"):
        server_config(certificate_compression="zlib")
    monkeypatch.setattr(compression, "_module_available", lambda module: module == "zlib")
    assert compression.available() == ("zlib",)
    assert server_config().certificate_compression == ("zlib",)
    with pytest.raises(ValueError, match="pip install siotls\\[brotli\\]"):
        server_config(certificate_compression=["brotli"])


# -- bad CompressedCertificate messages --------------------------------------------------

def _client_receiving(compressed: bytes, offered: list[str] | tuple[str, ...] = ("zlib",)
                      ) -> TLSConnection:
    """A client fed the real server flight with ``compressed`` in place of its Certificate."""
    client, server = connection_pair({"certificate_compression": list(offered)},
                                     {"certificate_compression": []})
    server.receive_data(client.data_to_send())
    records = split_records(server.data_to_send())
    schedule = server._handshake.key_schedule
    opener = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    messages = split_messages(b"".join(opener.open(r)[1] for r in records[2:]))
    assert messages[1][0] == HT.CERTIFICATE
    sealer = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    client.receive_data(records[0] + records[1] + sealer.handshake(messages[0], compressed))
    return client


def _certificate_body() -> bytes:
    client, server = connection_pair({"certificate_compression": []})
    server.receive_data(client.data_to_send())
    records = split_records(server.data_to_send())
    schedule = server._handshake.key_schedule
    opener = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    return split_messages(b"".join(opener.open(r)[1] for r in records[2:]))[1][4:]


BODY = _certificate_body()


def expect(error: type[TLSFatalAlert], message: CompressedCertificate | bytes,
           offered: tuple[str, ...] = ("zlib",)) -> TLSFatalAlert:
    raw = message.serialize() if isinstance(message, CompressedCertificate) else message
    with pytest.raises(TLSFatalAlert) as info:
        _client_receiving(raw, offered)
    assert type(info.value) is error, repr(info.value)
    return info.value


def test_a_good_message_passes_the_client_checks() -> None:
    # The same path as the failures below, with a correct message: the client
    # goes on to the CertificateVerify, which we do not send.
    client = _client_receiving(CompressedCertificate(
        CCA.zlib, len(BODY), zlib.compress(BODY)).serialize())
    assert client.nconfig.peer_certificate_compression == "zlib"
    assert not client.is_failed()


@pytest.mark.parametrize("delta", [-1, 1, -len(BODY) + 1, 1000])
@pytest.mark.parametrize("algorithm", list(COMPRESSORS))
def test_uncompressed_length_mismatch_is_bad_certificate(delta: int, algorithm: CCA) -> None:
    message = CompressedCertificate(algorithm, len(BODY) + delta, COMPRESSORS[algorithm](BODY))
    error = expect(BadCertificate, message, offered=(compression.NAMES[algorithm],))
    assert error.reason == "bad_compression"


@pytest.mark.parametrize("algorithm", list(COMPRESSORS))
def test_garbage_and_truncated_streams_are_bad_certificate(algorithm: CCA) -> None:
    name = (compression.NAMES[algorithm],)
    expect(BadCertificate, CompressedCertificate(algorithm, len(BODY), b"\x00garbage" * 20),
           offered=name)
    data = COMPRESSORS[algorithm](BODY)
    expect(BadCertificate, CompressedCertificate(algorithm, len(BODY), data[: len(data) // 2]),
           offered=name)


@pytest.mark.parametrize("algorithm", list(COMPRESSORS))
def test_decompression_bomb_is_cut_short(algorithm: CCA) -> None:
    bomb = COMPRESSORS[algorithm](bytes(8 * 2**20))  # 8 MiB of zeros, in one record
    error = expect(BadCertificate, CompressedCertificate(algorithm, len(BODY), bomb),
                   offered=(compression.NAMES[algorithm],))
    assert "more than" in str(error)


def test_zstd_frame_asking_for_a_huge_window_is_bad_certificate() -> None:
    # A streaming compressor does not shrink its window to the content: this frame asks
    # the decoder for 128 MiB before it yields a byte.
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=27)
    stream = zstandard.ZstdCompressor(compression_params=params).compressobj()
    frame = stream.compress(BODY) + stream.flush()
    assert zstandard.get_frame_parameters(frame).window_size == 2**27
    error = expect(BadCertificate, CompressedCertificate(CCA.zstd, len(BODY), frame),
                   offered=("zstd",))
    assert error.reason == "bad_compression"


def test_uncompressed_length_over_the_certificate_bound() -> None:
    message = CompressedCertificate(CCA.zlib, 2**18 + 1, zlib.compress(BODY))
    assert expect(BadCertificate, message).reason == "certificate_too_long"


def test_an_algorithm_never_offered_is_illegal_parameter() -> None:
    message = CompressedCertificate(CCA.brotli, len(BODY), brotli.compress(BODY))
    expect(IllegalParameter, message, offered=("zlib",))
    expect(IllegalParameter, dataclasses.replace(message, algorithm=0x1234), offered=("zlib",))


def test_compressed_certificate_without_an_offer_is_unexpected() -> None:
    message = CompressedCertificate(CCA.zlib, len(BODY), zlib.compress(BODY))
    expect(UnexpectedMessage, message, offered=())


def test_a_decompressed_body_that_is_not_a_certificate() -> None:
    junk = b"\x00\x00\x00\x05\x00"
    expect(DecodeError, CompressedCertificate(CCA.zlib, len(junk), zlib.compress(junk)))


@pytest.mark.parametrize("with_certificate", [True, False])
def test_optional_client_authentication(with_certificate: bool) -> None:
    """request_peer_authentication: a client chain comes compressed, none comes empty."""
    ca = make_ca()
    client_leaf = ca.issue(client=True)
    credentials = ({"private_key": client_leaf.key_der,
                    "certificate_chain": client_leaf.chain_der} if with_certificate else {})
    client = TLSConnection(client_config(ca, **credentials), server_hostname="localhost")
    server = TLSConnection(server_config(
        ca.issue(), truststore=ca.truststore(), request_peer_authentication=True,
        certificate_compression=["zlib"]))
    client.initiate_connection()
    server.initiate_connection()
    handshake(client, server)
    assert server.nconfig.peer_certificate_compression == ("zlib" if with_certificate else None)
    assert bool(server.nconfig.peer_certificate_chain) is with_certificate
