"""What the command line says: one ``siotls:`` line a diagnostic on stderr, and exit codes.

:class:`CLIError` is the one failure the commands raise: a one-line message and the
exit code it ends with (a failed handshake, a bad file, a network error alike).
The ``describe_*`` functions turn a connection, a certificate or a TLS error into
those lines.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF, TLSError, TLSFatalAlert, TLSPeerAlert
from siotls.iana import AlertDescription

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NETWORK = 3
EXIT_TLS = 4
EXIT_INTERRUPTED = 130

#: Serialises what the threads write to stderr (notices, key-log lines).
output_lock = threading.Lock()


class CLIError(Exception):
    """A failure reported as one line on stderr, with the exit code it ends with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class StdoutClosed(Exception):
    """Our stdout was closed by its reader (``siotls client ... | head``)."""


def notice(message: str) -> None:
    """Print ``siotls: message`` on stderr (thread-safe)."""
    with output_lock:
        print(f"siotls: {message}", file=sys.stderr, flush=True)


def keying_material(conn: TLSConnection, args: Any) -> str | None:
    """``Keying material: HEX`` for ``--keymatexport`` (openssl's line), or ``None``."""
    if args.keymatexport is None:
        return None
    material = conn.export_keying_material(
        args.keymatexport.encode(), args.keymatexportctx or b"", args.keymatexportlen)
    return f"Keying material: {material.hex().upper()}"


def format_address(host: str, port: int) -> str:
    host = host.removeprefix("::ffff:") if host.startswith("::ffff:") and "." in host else host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def alert_name(description: int) -> str:
    try:
        return AlertDescription(description).name.lower()
    except ValueError:
        return f"unknown alert {description}"


def describe_tls_error(exc: TLSError, peer: str) -> str:
    """One line about a TLS error; ``peer`` is 'server' or 'client'."""
    if isinstance(exc, TLSPeerAlert):
        return f"the {peer} sent a fatal alert: {alert_name(exc.description)}"
    if isinstance(exc, RaggedEOF):
        return f"the {peer} closed the connection without close_notify"
    if isinstance(exc, TLSFatalAlert):  # "<alert we sent>: <why>"
        return f"TLS error: {exc}"
    return str(exc) or type(exc).__name__


def describe_certificate(der: bytes, who: str, verified: bool) -> list[str]:
    from cryptography import x509  # noqa: PLC0415

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return [f"{who} certificate: unparsable ({exc})"]
    expires = cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return [
        f"{who} certificate subject: {cert.subject.rfc4514_string() or '(empty)'}",
        f"{who} certificate issuer: {cert.issuer.rfc4514_string() or '(empty)'}",
        f"{who} certificate expires: {expires}",
        f"{who} certificate verified: {'yes' if verified else 'no'}",
    ]


def describe_connection(conn: TLSConnection, side: str) -> list[str]:
    """What the handshake negotiated, one item a line."""
    nconfig = conn.nconfig
    peer = "server" if side == "client" else "client"

    def name(value: object) -> str:
        return getattr(value, "name", None) or "(none)"

    lines = [
        "version: TLSv1.3",
        f"cipher suite: {name(nconfig.cipher_suite)}",
        f"key exchange group: {name(nconfig.key_exchange)}",
        f"HelloRetryRequest: {'yes' if nconfig.hello_retry_request else 'no'}",
        f"session resumed: {'yes' if nconfig.session_resumed else 'no'}",
        f"{peer} signature scheme: {name(nconfig.peer_signature_algorithm)}",
    ]
    if nconfig.signature_algorithm is not None:
        lines.append(f"{side} signature scheme: {name(nconfig.signature_algorithm)}")
    alpn = nconfig.alpn.decode(errors="replace") if nconfig.alpn else "(none)"
    lines.append(f"ALPN: {alpn}")
    if nconfig.peer_record_size_limit is not None:  # RFC 8449, the peer's: what we honour
        lines.append(f"record size limit: {nconfig.peer_record_size_limit}")
    # RFC 8879: how the server's Certificate travelled.
    compressed = (nconfig.peer_certificate_compression if side == "client"
                  else nconfig.certificate_compression)
    lines.append(f"certificate compression: {compressed or 'none'}")
    if side == "server":
        lines.append(f"server name (SNI): {nconfig.server_name or '(none)'}")
        early = {"accepted": f"accepted {len(conn.received_early_data)} bytes",
                 "rejected": "rejected"}.get(nconfig.early_data, "none")
        lines.append(f"early data: {early}")
    else:
        lines.append(f"early data: {nconfig.early_data}")
    if nconfig.peer_certificate_chain:
        lines += describe_certificate(
            nconfig.peer_certificate_chain[0], peer, nconfig.peer_verified)
    elif nconfig.peer_certificate_type == "raw_public_key" and nconfig.peer_public_key:
        import hashlib  # noqa: PLC0415

        digest = hashlib.sha256(nconfig.peer_public_key).hexdigest()
        lines.append(f"{peer} raw public key: sha256:{digest} (trusted)")
    else:
        lines.append(f"{peer} certificate: (none)")
    return lines
