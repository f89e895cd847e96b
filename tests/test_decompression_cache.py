"""The cache of decompressed Certificates (siotls.core.compression): a client that
gets the same CompressedCertificate again does not decompress it again, and the
cache never answers for other bytes, another length, or a stream that failed."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator

import brotli
import pytest

from helpers import connected_pair, default_leaf
from siotls import TLSConfiguration
from siotls.core import compression
from siotls.core.errors import BadCertificate
from siotls.iana import CertificateCompressionAlgorithm as CCA
from test_cert_compression import COMPRESSORS

LIMIT = 2**18


@pytest.fixture
def decompressions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The algorithm of every real decompression during the test (cache emptied)."""
    calls: list[int] = []
    real = compression._decompress

    def counting(algorithm: int, data: bytes, cap: int) -> bytes:
        calls.append(algorithm)
        return real(algorithm, data, cap)

    compression._decompress_cached.cache_clear()
    monkeypatch.setattr(compression, "_decompress", counting)
    yield calls
    compression._decompress_cached.cache_clear()


@pytest.mark.parametrize("algorithm", [CCA.zlib, CCA.brotli, CCA.zstd])
def test_same_message_decompressed_once(algorithm: CCA, decompressions: list[int]) -> None:
    body = b"a Certificate body " * 40
    compressed = COMPRESSORS[algorithm](body)
    for data in (compressed, memoryview(compressed), bytearray(compressed)):
        assert compression.decompress(algorithm, data, len(body), LIMIT) == body
    assert decompressions == [algorithm]


def test_the_length_is_part_of_the_key(decompressions: list[int]) -> None:
    body = b"x" * 500
    compressed = zlib.compress(body)
    assert compression.decompress(CCA.zlib, compressed, len(body), LIMIT) == body
    for wrong in (len(body) - 1, len(body) + 1):
        with pytest.raises(BadCertificate) as info:
            compression.decompress(CCA.zlib, compressed, wrong, LIMIT)
        assert info.value.reason == "bad_compression"
    assert len(decompressions) == 3


def test_the_algorithm_is_part_of_the_key(decompressions: list[int]) -> None:
    body = b"y" * 500
    compressed = zlib.compress(body)
    compression.decompress(CCA.zlib, compressed, len(body), LIMIT)
    with pytest.raises(BadCertificate):
        compression.decompress(CCA.brotli, compressed, len(body), LIMIT)
    assert decompressions == [CCA.zlib, CCA.brotli]


def test_one_byte_differs(decompressions: list[int]) -> None:
    body = os.urandom(300)
    compressed = brotli.compress(body)
    compression.decompress(CCA.brotli, compressed, len(body), LIMIT)
    other = os.urandom(300)
    assert compression.decompress(CCA.brotli, brotli.compress(other), len(other), LIMIT) \
        == other
    corrupted = bytearray(zlib.compress(body))
    corrupted[-1] ^= 1  # the adler32 check
    for _ in range(2):  # failures are not cached
        with pytest.raises(BadCertificate):
            compression.decompress(CCA.zlib, bytes(corrupted), len(body), LIMIT)
    assert len(decompressions) == 4


def test_large_messages_are_not_cached(decompressions: list[int]) -> None:
    body = os.urandom(compression.MAX_CACHED_LENGTH + 1)
    compressed = zlib.compress(body)
    for _ in range(2):
        assert compression.decompress(CCA.zlib, compressed, len(body), LIMIT) == body
    assert len(decompressions) == 2


def test_the_limit_is_checked_before_the_cache(decompressions: list[int]) -> None:
    body = b"z" * 600
    compressed = zlib.compress(body)
    compression.decompress(CCA.zlib, compressed, len(body), LIMIT)
    with pytest.raises(BadCertificate) as info:
        compression.decompress(CCA.zlib, compressed, len(body), len(body) - 1)
    assert info.value.reason == "certificate_too_long"


def test_second_handshake_uses_the_cache(decompressions: list[int]) -> None:
    leaf = default_leaf()
    client = TLSConfiguration("client", truststore=leaf.ca.truststore(),
                              certificate_compression=["brotli"])
    server = TLSConfiguration("server", private_key=leaf.key_der,
                              certificate_chain=leaf.chain_der)
    for _ in range(2):
        c, _ = connected_pair(client, server)
        assert c.nconfig.peer_certificate_compression == "brotli"
    assert decompressions == [CCA.brotli]
