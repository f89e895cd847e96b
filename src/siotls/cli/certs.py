"""The command line's certificate options: several chains, SNI, client certificates,
OCSP stapling, raw public keys (issue 9).

Server: ``--tlscert/--tlskey`` pairs (the first is the default chain, the others
are chosen by the client's signature algorithms), ``--sni NAME=CERTFILE,KEYFILE``
(exact names and ``*.`` wildcards, chosen by the client's server name before the
names in the certificates), ``--strict-sni``, ``--cafile`` with
``--verify-client required|optional|post-handshake``, ``--ocsp-response`` (DER,
stapled for the default chain) and ``--rpk`` (our key as a raw public key for
clients that want one; a ``--tlskey`` alone then suffices).

Client: ``--status`` (ask for a stapled OCSP response, and report it with ``-v``),
``--pha`` (offer post-handshake authentication, with ``--cert``/``--key``) and
``--server-pubkey FILE`` (accept the server's raw public key, a PEM
SubjectPublicKeyInfo; without ``--cafile``, only that key is accepted).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from siotls.cli.report import EXIT_USAGE, CLIError
from siotls.cli.setup import load_credentials, load_truststore, read_file
from siotls.pem import decode_pem_private_key

if TYPE_CHECKING:
    from siotls.core.credentials import CertificateChain

__all__ = ["SNIMap", "add_client_options", "add_server_options", "client_options",
           "parse_sni", "server_options"]

VERIFY_CLIENT = ("required", "optional", "post-handshake")


def parse_sni(text: str) -> tuple[str, str, str]:
    """``NAME=CERTFILE,KEYFILE`` -> (name, certfile, keyfile)."""
    name, sep, files = text.partition("=")
    cert, comma, key = files.partition(",")
    name = name.strip().lower().removesuffix(".")
    if not sep or not comma or not name or not cert or not key:
        raise argparse.ArgumentTypeError(f"expected NAME=CERTFILE,KEYFILE, not {text!r}")
    if "*" in name and (not name.startswith("*.") or "*" in name[2:]):
        raise argparse.ArgumentTypeError(f"a wildcard name is '*.' and a domain: {name!r}")
    return name, cert, key


def add_server_options(server: argparse.ArgumentParser) -> None:
    server.add_argument("--tlscert", "--cert", dest="tlscert", action="append", metavar="FILE",
                        help="PEM certificate chain, leaf first; repeat with --tlskey for "
                             "more chains (chosen by the client's signature algorithms, "
                             "the first is the default)")
    server.add_argument("--tlskey", "--key", dest="tlskey", action="append", metavar="FILE",
                        help="PEM private key of the --tlscert of the same rank")
    server.add_argument("--sni", type=parse_sni, action="append", default=[],
                        metavar="NAME=CERTFILE,KEYFILE",
                        help="the chain for a server name (repeatable; '*.example.com' "
                             "covers one label)")
    server.add_argument("--strict-sni", action="store_true",
                        help="refuse (unrecognized_name) a server name no chain covers")
    server.add_argument("--cafile", metavar="FILE",
                        help="ask for a client certificate issued by one of these PEM CAs")
    server.add_argument("--verify-client", choices=VERIFY_CLIENT, default=None,
                        help="with --cafile: required (default), optional, or post-handshake "
                             "(asked for by GET /whoami, of clients that offer it)")
    server.add_argument("--ocsp-response", metavar="FILE",
                        help="a DER OCSP response for the first certificate, stapled for "
                             "clients that ask")
    server.add_argument("--rpk", action="store_true",
                        help="authenticate with the first key as a raw public key (RFC 7250) "
                             "to clients that want one")


def add_client_options(client: argparse.ArgumentParser) -> None:
    client.add_argument("--status", action="store_true",
                        help="ask for the server's stapled OCSP response (reported with -v)")
    client.add_argument("--pha", action="store_true",
                        help="offer post-handshake authentication (needs --cert/--key)")
    client.add_argument("--server-pubkey", metavar="FILE",
                        help="accept the server's raw public key (RFC 7250) if it is this "
                             "PEM public key")


class SNIMap:
    """``sni_callback``: the chains of ``--sni`` by exact name, then by wildcard."""

    def __init__(self, entries: Sequence[tuple[str, CertificateChain]]) -> None:
        self.exact: dict[str, list[CertificateChain]] = {}
        self.wildcards: dict[str, list[CertificateChain]] = {}
        for name, chain in entries:
            table = self.wildcards if name.startswith("*.") else self.exact
            table.setdefault(name, []).append(chain)

    def __call__(self, server_name: str | None) -> list[CertificateChain] | None:
        if server_name is None:
            return None
        from siotls.core.pathbuilder import match_dns_name  # noqa: PLC0415 (cryptography)

        name = server_name.lower()
        if name in self.exact:
            return self.exact[name]
        for pattern, chains in self.wildcards.items():
            if match_dns_name(pattern, name):
                return chains
        return None


def _chain(cert: str, key: str, cert_option: str, key_option: str,
           ocsp_response: bytes | None = None) -> CertificateChain:
    from siotls.core.credentials import CertificateChain  # noqa: PLC0415 (cryptography)

    chain, private_key = load_credentials(cert, key, cert_option, key_option)
    try:
        return CertificateChain(private_key, chain, ocsp_response=ocsp_response)
    except ValueError as exc:
        raise CLIError(f"invalid configuration: {exc} ({cert_option} {cert!r}, "
                       f"{key_option} {key!r})", EXIT_USAGE) from exc


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """The server configuration's credential options, from the arguments."""
    certs, keys = args.tlscert or [], args.tlskey or []
    options: dict[str, Any] = {"send_raw_public_key": args.rpk, "strict_sni": args.strict_sni}
    if args.rpk and len(keys) == 1 and not certs:
        key_data = read_file(keys[0], "--tlskey")
        try:
            options["private_key"] = decode_pem_private_key(key_data)
        except ValueError as exc:
            raise CLIError(f"bad PEM in the --tlskey file {keys[0]!r}: {exc}",
                           EXIT_USAGE) from exc
    elif not certs or len(certs) != len(keys):
        raise CLIError("--tlscert and --tlskey go in pairs (at least one; with --rpk, a "
                       "--tlskey alone will do)", EXIT_USAGE)
    else:
        ocsp = read_file(args.ocsp_response, "--ocsp-response") if args.ocsp_response else None
        chains = [_chain(cert, key, "--tlscert", "--tlskey") for cert, key in zip(
            certs, keys, strict=True)]
        named = [(name, _chain(cert, key, "--sni", "--sni")) for name, cert, key in args.sni]
        options["private_key"] = chains[0].private_key
        options["certificate_chain"] = chains[0].certificate_chain
        options["ocsp_response"] = ocsp
        options["certificate_chains"] = chains[1:] + [chain for _, chain in named]
        if named:
            options["sni_callback"] = SNIMap(named)
    if args.verify_client is not None and not args.cafile:
        raise CLIError("--verify-client needs --cafile", EXIT_USAGE)
    mode = args.verify_client or "required"
    if args.cafile:
        options["truststore"] = load_truststore(args.cafile)
        options["require_peer_authentication"] = mode == "required"
        options["request_peer_authentication"] = mode == "optional"
    return options


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The client configuration's options for --status, --pha, --server-pubkey."""
    options: dict[str, Any] = {}
    if args.status:
        options["ocsp_stapling"] = "request"
    if args.pha:
        if args.cert is None:
            raise CLIError("--pha needs --cert and --key", EXIT_USAGE)
        options["post_handshake_auth"] = True
    if args.server_pubkey:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        data = read_file(args.server_pubkey, "--server-pubkey")
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"bad PEM public key in the --server-pubkey file "
                           f"{args.server_pubkey!r}: {exc}", EXIT_USAGE) from exc
        options["peer_public_keys"] = [key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)]
    return options
