"""Certificate compression (RFC 8879): zlib, brotli and zstd.

Theory of operation
-------------------
The receiver of a Certificate offers the algorithms it can decompress in a
``compress_certificate`` extension (a client in its ClientHello, a server in
its CertificateRequest). The sender may then replace its Certificate message
with a CompressedCertificate holding the compressed Certificate body; that
message, not the decompressed one, goes into the transcript.

zlib comes with Python; brotli and zstd need the optional ``brotli`` and
``zstandard`` packages (the ``siotls[brotli]`` and ``siotls[zstd]`` extras),
imported on first use: :func:`available` lists what is installed.

Decompression is bounded: ``uncompressed_length`` may not exceed the limit of
an uncompressed Certificate (``record.MAX_CERTIFICATE_LENGTH``, the one bound of
both forms, which the handshake passes in), the decompressor never produces more than
``uncompressed_length + 1`` bytes, and anything but exactly that many bytes is
``bad_certificate`` (RFC 8879 section 4). Compressing our own chain is cached
(:func:`compress` keeps the last results), so a server compresses each chain
once per algorithm, not once per handshake. Decompressing is cached too, for
small messages (at most :data:`MAX_CACHED_LENGTH` bytes, compressed and not):
a client that connects to the same server again gets the very same
CompressedCertificate, and decompression is a pure function of the algorithm,
the compressed bytes and ``uncompressed_length``, all three in the key; only
successes are kept (an error is raised anew each time).
"""

from __future__ import annotations

import functools
import importlib
import io
import zlib
from collections.abc import Sequence

from siotls.core.errors import BadCertificate, IllegalParameter
from siotls.iana import CertificateCompressionAlgorithm as CCA

#: algorithm name -> (code point, module needed).
ALGORITHMS: dict[str, tuple[CCA, str]] = {
    "zlib": (CCA.zlib, "zlib"),
    "brotli": (CCA.brotli, "brotli"),
    "zstd": (CCA.zstd, "zstandard"),
}
NAMES: dict[int, str] = {code: name for name, (code, _) in ALGORITHMS.items()}


@functools.cache
def _module_available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def available() -> tuple[str, ...]:
    """The algorithms usable with the installed packages, in our default order."""
    return tuple(name for name in ("brotli", "zstd", "zlib")
                 if _module_available(ALGORITHMS[name][1]))


def check_algorithms(names: Sequence[str] | None) -> tuple[str, ...]:
    """The configuration's algorithms, validated (``None``: every available one)."""
    if names is None:
        return available()
    if isinstance(names, str):
        raise ValueError("certificate_compression is a sequence of names, not a string")
    names = tuple(names)
    for name in names:
        if name not in ALGORITHMS:
            raise ValueError(f"certificate_compression: unknown algorithm {name!r}; "
                             f"known: {list(ALGORITHMS)}")
        if not _module_available(ALGORITHMS[name][1]):
            raise ValueError(f"certificate_compression: {name} needs the "
                             f"{ALGORITHMS[name][1]!r} package (pip install siotls[{name}])")
    if len(set(names)) != len(names):
        raise ValueError("certificate_compression lists an algorithm twice")
    return names


def codes(names: Sequence[str]) -> list[int]:
    return [ALGORITHMS[name][0] for name in names]


def choose(ours: Sequence[str], offered: Sequence[int]) -> int | None:
    """Our first algorithm the peer offered, or None."""
    offered_set = set(offered)
    return next((ALGORITHMS[n][0] for n in ours if ALGORITHMS[n][0] in offered_set), None)


@functools.lru_cache(maxsize=32)
def compress(algorithm: int, data: bytes) -> bytes:
    """``data`` compressed with ``algorithm`` (cached: our chains are compressed once)."""
    if algorithm == CCA.zlib:
        return zlib.compress(data, 9)
    if algorithm == CCA.brotli:
        import brotli  # noqa: PLC0415

        return bytes(brotli.compress(data))
    import zstandard  # noqa: PLC0415

    return bytes(zstandard.ZstdCompressor(level=19).compress(data))


#: Messages up to this size (compressed and decompressed) have their decompression
#: cached, the last :data:`DECOMPRESSED_CACHE_SIZE` of them.
MAX_CACHED_LENGTH = 16384
DECOMPRESSED_CACHE_SIZE = 16


def decompress(algorithm: int, data: bytes, uncompressed_length: int, limit: int) -> bytes:
    """The Certificate body, exactly ``uncompressed_length`` bytes, else ``bad_certificate``.

    ``algorithm`` must be one we offered (the caller checks).
    """
    if uncompressed_length > limit:
        raise BadCertificate(f"a compressed Certificate of {uncompressed_length} bytes",
                             reason="certificate_too_long")
    if uncompressed_length <= MAX_CACHED_LENGTH and len(data) <= MAX_CACHED_LENGTH:
        return _decompress_cached(algorithm, bytes(data), uncompressed_length)
    return _decompress_exactly(algorithm, data, uncompressed_length)


def _decompress_exactly(algorithm: int, data: bytes, uncompressed_length: int) -> bytes:
    cap = uncompressed_length + 1
    try:
        out = _decompress(algorithm, data, cap)
    except BadCertificate:
        raise
    except Exception as exc:  # each library raises its own error type
        raise BadCertificate(f"the compressed Certificate does not decompress: {exc}",
                             reason="bad_compression") from exc
    if len(out) != uncompressed_length:
        raise BadCertificate(
            f"the compressed Certificate holds {'more than ' if len(out) == cap else ''}"
            f"{len(out)} bytes, not uncompressed_length {uncompressed_length}",
            reason="bad_compression")
    return out


#: :func:`_decompress_exactly`, remembering its last successes (exceptions are not
#: cached).
_decompress_cached = functools.lru_cache(maxsize=DECOMPRESSED_CACHE_SIZE)(_decompress_exactly)


#: The largest zstd window a peer's frame may ask for: 8 MiB, what RFC 8878 3.1.1.1.2
#: asks every decoder to support (libzstd's own default is 128 MiB). A Certificate
#: (at most 2^18 bytes) never needs more.
MAX_ZSTD_WINDOW = 2**23

def _decompress(algorithm: int, data: bytes, cap: int) -> bytes:
    """At most ``cap`` bytes of output; short output when the stream ends early."""
    if algorithm == CCA.zlib:
        decompressor = zlib.decompressobj()
        plain = decompressor.decompress(data, cap)
        if len(plain) < cap and not decompressor.eof:
            raise BadCertificate("a truncated zlib stream", reason="bad_compression")
        return plain
    if algorithm == CCA.brotli:
        import brotli  # noqa: PLC0415

        stream = brotli.Decompressor()
        buffer = bytearray(stream.process(data, output_buffer_limit=cap))
        while (len(buffer) < cap and not stream.is_finished()
               and not stream.can_accept_more_data()):
            buffer += stream.process(b"", output_buffer_limit=cap - len(buffer))
        if len(buffer) < cap and not stream.is_finished():
            raise BadCertificate("a truncated brotli stream", reason="bad_compression")
        return bytes(buffer[:cap])
    if algorithm == CCA.zstd:
        import zstandard  # noqa: PLC0415

        # A frame names its window size, and libzstd reserves that much memory
        # (up to 128 MiB by default) before the first byte comes out; a frame asking
        # for more than MAX_ZSTD_WINDOW is refused.
        reader = zstandard.ZstdDecompressor(max_window_size=MAX_ZSTD_WINDOW).stream_reader(
            io.BytesIO(data))
        collected = bytearray()
        while len(collected) < cap:
            chunk = reader.read(cap - len(collected))
            if not chunk:
                break
            collected += chunk
        return bytes(collected)
    raise IllegalParameter(f"compression algorithm {algorithm}")  # pragma: no cover
