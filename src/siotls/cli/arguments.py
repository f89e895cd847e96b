"""The command line's arguments: the parser of ``siotls client`` and ``siotls server``.

The ``parse_*`` functions are argparse ``type=`` converters: a bad value becomes
an ``argparse.ArgumentTypeError``, which argparse reports with exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import TypeVar

import siotls
from siotls import tickets
from siotls.cli import certs
from siotls.core import compression
from siotls.core.config import SUPPORTED_CIPHER_SUITES, SUPPORTED_KEY_EXCHANGES
from siotls.iana import CipherSuites, NamedGroup

E = TypeVar("E", bound=IntEnum)
N = TypeVar("N", int, float)


def _items(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"an empty item in {text!r}")
    if len({item.lower() for item in items}) != len(items):
        raise argparse.ArgumentTypeError(f"an item is listed twice in {text!r}")
    return items


def _choose(text: str, supported: Iterable[int], kind: type[E],
            known: Callable[[dict[str, E], str], E | None], what: str) -> list[E]:
    """The members of ``kind`` that ``text`` names, each one of ``supported``.

    ``known(table, item)`` looks ``item`` up in ``table`` (upper-case names).
    """
    table = {kind(value).name.upper(): kind(value) for value in supported}
    chosen = []
    for item in _items(text):
        member = known(table, item.upper())
        if member is None:
            names = ", ".join(member.name for member in table.values())
            raise argparse.ArgumentTypeError(f"unsupported {what} {item!r} (choose from {names})")
        chosen.append(member)
    return chosen


_GROUP_ALIASES = {
    "P-256": NamedGroup.secp256r1, "PRIME256V1": NamedGroup.secp256r1,
    "P-384": NamedGroup.secp384r1, "P-521": NamedGroup.secp521r1,
}


def parse_groups(text: str) -> list[NamedGroup]:
    """``x25519,secp256r1`` -> named groups (also ``P-256``, ``prime256v1``...)."""
    return _choose(text, SUPPORTED_KEY_EXCHANGES, NamedGroup,
                   lambda table, name: table.get(name) or _GROUP_ALIASES.get(name), "group")


def parse_record_size_limit(text: str) -> int:
    """RFC 8449: 64 to 16385 (TLS 1.3 counts the content type and the padding)."""
    return _number(text, int, lambda limit: 64 <= limit <= 16385,
                   "not a record size limit between 64 and 16385")


def parse_cert_compression(text: str) -> tuple[str, ...]:
    """``zlib,brotli,zstd`` (in order of preference) or ``none``."""
    if text.strip().lower() == "none":
        return ()
    names = tuple(item.lower() for item in _items(text))
    for name in names:
        if name not in compression.ALGORITHMS:
            raise argparse.ArgumentTypeError(
                f"unknown certificate compression {name!r} (choose from zlib, brotli, zstd, "
                "or none)")
        if name not in compression.available():
            raise argparse.ArgumentTypeError(
                f"certificate compression {name!r} needs the "
                f"{compression.ALGORITHMS[name][1]!r} package (pip install 'siotls[{name}]')")
    return names


def parse_ciphers(text: str) -> list[CipherSuites]:
    """``TLS_AES_128_GCM_SHA256,...`` -> cipher suites (the ``TLS_`` prefix is optional)."""
    return _choose(text, SUPPORTED_CIPHER_SUITES, CipherSuites,
                   lambda table, name: table.get(name) or table.get(f"TLS_{name}"),
                   "cipher suite")


def parse_alpn(text: str) -> list[bytes]:
    """``h2,http/1.1`` -> ``[b'h2', b'http/1.1']``."""
    protocols = [item.encode() for item in _items(text)]
    if any(len(protocol) > 255 for protocol in protocols):
        raise argparse.ArgumentTypeError("an ALPN protocol is longer than 255 bytes")
    return protocols


def _number(text: str, kind: type[N], valid: Callable[[N], bool], what: str) -> N:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"{what}: {text!r}")
    return value


def parse_port(text: str) -> int:
    return _number(text, int, lambda port: 0 <= port <= 65535, "not a port number")


def parse_timeout(text: str) -> float:
    return _number(text, float, lambda seconds: 0 < seconds < 1e6,
                   "not a positive number of seconds")


def parse_count(text: str) -> int:
    return _number(text, int, lambda count: count >= 1, "not a positive integer")


def parse_tickets(text: str) -> int:
    return _number(text, int, lambda count: 0 <= count <= 16, "not an integer from 0 to 16")


def parse_early_data_size(text: str) -> int:
    return _number(text, int, lambda size: 0 <= size < 2**32,
                   "not a number of bytes from 0 to 2**32 - 1")


def parse_keymatexportlen(text: str) -> int:
    return _number(text, int, lambda size: 1 <= size <= 255 * 32,
                   "not a length from 1 to 8160")


def parse_hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hexadecimal: {text!r}") from None


def parse_replay_store(text: str) -> str:
    if not text.startswith(("redis://", "rediss://")):
        raise argparse.ArgumentTypeError(f"not a redis://HOST:PORT/DB address: {text!r}")
    return text


def _add_common_options(parser: argparse.ArgumentParser, timeout: float) -> None:
    parser.add_argument("--alpn", type=parse_alpn, metavar="P,...",
                        help="ALPN protocols in order of preference, e.g. h2,http/1.1")
    parser.add_argument("--groups", type=parse_groups, metavar="G,...",
                        help="key exchange groups in order of preference, case-insensitive "
                             "(X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, "
                             "x25519, secp256r1, secp384r1, secp521r1, x448; default: "
                             "the post-quantum hybrids first when ML-KEM is available)")
    parser.add_argument("--record-size-limit", type=parse_record_size_limit, metavar="N",
                        help="the largest protected record to accept (RFC 8449, 64 to "
                             "16385; default 16385)")
    parser.add_argument("--cert-compression", type=parse_cert_compression,
                        metavar="A,...|none",
                        help="certificate compression algorithms (RFC 8879) in order of "
                             "preference: zlib, brotli, zstd, or none (default: all available)")
    parser.add_argument("--ciphers", type=parse_ciphers, metavar="S,...",
                        help="cipher suites in order of preference (TLS_AES_128_GCM_SHA256, "
                             "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)")
    parser.add_argument("--keymatexport", metavar="LABEL",
                        help="print 'Keying material: HEX', the exporter's output for "
                             "LABEL (RFC 8446 7.5), as openssl does")
    parser.add_argument("--keymatexportlen", type=parse_keymatexportlen, default=20,
                        metavar="N", help="bytes of --keymatexport (default 20)")
    parser.add_argument("--keymatexportctx", type=parse_hex, metavar="HEX",
                        help="the exporter's context (default: none, i.e. empty)")
    parser.add_argument("--keylogfile", metavar="FILE",
                        help="append the secrets to FILE in the NSS key-log format "
                             "(for Wireshark); '-' writes them to stderr")
    parser.add_argument("--timeout", type=parse_timeout, default=timeout, metavar="SECONDS",
                        help=f"network timeout (default {timeout:g})")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="report the negotiated parameters; twice: debug logs")


def _add_client(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    client = commands.add_parser(
        "client", help="connect to a TLS server and exchange stdin/stdout with it",
        description="Connect to a TLS 1.3 server, send stdin (or an HTTP GET /) and write "
                    "what comes back to stdout.")
    client.add_argument("--host", required=True, help="the server's host name or address")
    client.add_argument("--port", required=True, type=parse_port)
    client.add_argument("--servername", metavar="NAME",
                        help="the name to send (SNI) and to verify (default: --host)")
    trust = client.add_mutually_exclusive_group()
    trust.add_argument("--cafile", metavar="FILE",
                       help="PEM file of the CAs to trust (default: the system's)")
    trust.add_argument("--insecure", action="store_true",
                       help="do not verify the server's certificate")
    client.add_argument("--cert", "--tlscert", dest="cert", metavar="FILE",
                        help="PEM certificate chain to authenticate with (with --key)")
    client.add_argument("--key", "--tlskey", dest="key", metavar="FILE",
                        help="PEM private key of --cert")
    certs.add_client_options(client)
    client.add_argument("--http", action="store_true",
                        help="send 'GET / HTTP/1.1' instead of stdin")
    client.add_argument("--sess-out", metavar="FILE",
                        help="save the session from the server's last ticket to FILE")
    client.add_argument("--sess-in", metavar="FILE",
                        help="resume the session saved in FILE (by --sess-out)")
    client.add_argument("--early-data", metavar="FILE",
                        help="send FILE as 0-RTT early data (with --sess-in, when its "
                             "ticket allows it); rejected early data is sent again after "
                             "the handshake")
    _add_common_options(client, timeout=10)


def _add_server(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = commands.add_parser(
        "server", help="serve TLS: a page for GET /, an echo for anything else",
        description="A TLS 1.3 server: answers 'GET / ' with a small page and echoes "
                    "anything else, one thread per connection.")
    server.add_argument("--host", default="::",
                        help="the address to listen on (default '::': IPv6 and IPv4)")
    server.add_argument("--port", type=parse_port, default=8443,
                        help="the port to listen on (default 8443, 0: any free port)")
    certs.add_server_options(server)
    server.add_argument("--insecure", action="store_true",
                        help="accepted for compatibility; a server verifies client "
                             "certificates only with --cafile")
    server.add_argument("--ticket-keys", metavar="FILE",
                        help="the ticket key file shared with other servers (created with "
                             "one fresh key when missing); default: keys of this process")
    server.add_argument("--num-tickets", type=parse_tickets, default=2, metavar="N",
                        help="session tickets sent after a full handshake (default 2, 0: none)")
    server.add_argument("--early-data", type=parse_early_data_size, default=0,
                        metavar="BYTES",
                        help="accept up to BYTES of 0-RTT early data per connection "
                             "(default 0: refuse); it may be a replay, the server treats "
                             "it as the start of the stream")
    server.add_argument("--replay-store", type=parse_replay_store, metavar="URL",
                        help="the 0-RTT strike register shared with other servers: "
                             "redis://HOST:PORT/DB (default: in memory)")
    server.add_argument("--replay-window", type=parse_timeout, default=20, metavar="SECONDS",
                        help="how long the strike register remembers a 0-RTT ClientHello "
                             "(default 20); the ticket age tolerance is half of it, and "
                             "no 0-RTT is accepted in the register's first SECONDS")
    server.add_argument("--max-connections", type=parse_count, help=argparse.SUPPRESS)
    _add_common_options(server, timeout=30)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siotls", description="A TLS 1.3 client and server built on siotls.",
        epilog="Exit codes: 0 ok, 2 usage or file error, 3 network error, 4 TLS error.")
    parser.add_argument("--version", action="version", version=f"siotls {siotls.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{client,server,ticket-keys}",
                                     required=True)
    _add_client(commands)
    _add_server(commands)
    ticket_keys = commands.add_parser(
        "ticket-keys", help="manage a ticket key file shared by servers",
        description="Manage a ticket key file (see siotls.tickets): 'rotate FILE' puts a "
                    "fresh key first and keeps --keep N keys.")
    tickets.add_arguments(ticket_keys)
    return parser
