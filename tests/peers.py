"""Real TLS peers as one interface, for interop tests parametrised by peer (not a test module).

A :class:`Peer` is a TLS implementation run as subprocesses: ``openssl s_server`` /
``s_client`` (:data:`OPENSSL`) and ``gnutls-serv`` / ``gnutls-cli`` (:data:`GNUTLS`).
It says *what* it should do in siotls' terms (cipher suites, groups, ALPN, client
certificates, a log of the handshake) and translates that to its own command line;
it knows what its output looks like (the alert it received, the cipher suite it
settled on, the KeyUpdate it sent...). Every wait is bounded, every process is
stopped on exit (``openssl_peer``, ``gnutls_peer``), the sockets are driven by the
command line's loop (:mod:`siotls.cli.blocking`).

To write interop tests for a new feature against every peer::

    from openssl_peer import accept, connect, listener, run_client, run_server
    from peers import PKI, Peer, by_peer, per_peer, pki, pki_client, pki_server

    __all__ = ["pki"]  # a fixture (module scope: the CAs, leaves and PEM files)

    @by_peer
    def test_client_feature(peer: Peer, pki: PKI) -> None:
        with peer.server(pki, alpn=[b"h2"], log=True) as (proc, port), \
                connect(port) as sock:
            conn = pki_client(pki, alpn=[b"h2"])
            run_client(sock, conn)
            peer.echo(sock, conn, b"hello")
            peer.close_client(proc, sock, conn)

    @pytest.mark.parametrize(("peer", "key_type"), per_peer(lambda peer: peer.key_types))
    def test_server_feature(peer: Peer, pki: PKI, key_type: str) -> None:
        with listener() as (lsock, port), peer.client(port, pki.cafile) as proc, \
                accept(lsock) as sock:
            conn = pki_server(pki, pki.ca.issue(key_type=key_type))
            run_server(sock, conn)
            peer.talk(proc, sock, conn, b"hello")
            peer.close_server(proc, sock, conn)

:func:`by_peer` runs a test once per peer, skipped where the peer is not installed;
:func:`per_peer` gives ``(peer, case)`` parameters where the cases differ by peer.
What a peer is asked is a :class:`Setup` (suites, groups, ALPN, client
certificates, ``log``...); its own flags go in ``args``, its own keyword
arguments (openssl's ``tls13=False``, GnuTLS' ``priority=``) pass through. A new
peer (pyOpenSSL, a browser...) is a subclass of :class:`Peer` added to
:data:`PEERS`. Peer-specific tests stay in ``test_openssl_interop.py`` and
``test_gnutls_interop.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

import gnutls_peer
import openssl_peer
from certs import CA, Leaf, make_ca, write_pem_files
from helpers import client_config, server_config
from openssl_peer import PeerProcess, flush, read_until, read_until_close
from siotls import TLSConnection
from siotls.iana import AlertDescription, CipherSuites, NamedGroup, SignatureScheme

__all__ = [
    "GNUTLS",
    "OPENSSL",
    "PEERS",
    "PKI",
    "SUITES",
    "Peer",
    "by_peer",
    "per_peer",
    "pki",
    "pki_client",
    "pki_server",
]

SUITES = [CipherSuites.TLS_AES_128_GCM_SHA256, CipherSuites.TLS_AES_256_GCM_SHA384,
          CipherSuites.TLS_CHACHA20_POLY1305_SHA256]
#: Leaf key type -> the CertificateVerify scheme the peers and siotls settle on.
KEY_TYPES = {
    "ecdsa-p256": SignatureScheme.ecdsa_secp256r1_sha256,
    "ecdsa-p384": SignatureScheme.ecdsa_secp384r1_sha384,
    "ecdsa-p521": SignatureScheme.ecdsa_secp521r1_sha512,
    "rsa-2048": SignatureScheme.rsa_pss_rsae_sha256,
    "ed25519": SignatureScheme.ed25519,
    "ed448": SignatureScheme.ed448,
}
_F = TypeVar("_F", bound=Callable[..., Any])


class PKI:
    """A CA, a leaf for localhost, another CA, and their PEM files in ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ca = make_ca()
        self.other_ca = make_ca(name="siotls interop other CA")
        self.leaf = self.ca.issue()
        self.cert, self.key, self.cafile = write_pem_files(tmp, self.leaf, self.ca)
        _, _, self.other_cafile = write_pem_files(tmp, self.other_ca.issue(), self.other_ca)

    def files(self, leaf: Leaf, ca: CA | None = None) -> tuple[Path, Path, Path]:
        """(certificate chain, key, CA) PEM files."""
        return write_pem_files(self.tmp, leaf, ca)

    def intermediates(self, leaf: Leaf) -> Path:
        """The chain without the leaf (for ``openssl -cert_chain``)."""
        path = self.tmp / f"{leaf.cert.serial_number:x}-intermediates.pem"
        path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in leaf.chain[1:]))
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("interop"))


def pki_client(pki: PKI, **kwargs: Any) -> TLSConnection:
    """A siotls client trusting ``pki.ca``, for ``localhost``."""
    return TLSConnection(client_config(pki.ca, **kwargs), server_hostname="localhost")


def pki_server(pki: PKI, leaf: Leaf | None = None, **kwargs: Any) -> TLSConnection:
    """A siotls server with ``leaf`` (default ``pki.leaf``)."""
    return TLSConnection(server_config(leaf or pki.leaf, **kwargs))


def _alert_name(description: AlertDescription) -> str:
    return description.name.lower().replace("_", " ")


@dataclasses.dataclass
class Setup:
    """What a peer is asked to do, in siotls' terms (:meth:`Peer.server`, :meth:`Peer.client`)."""

    suites: Sequence[CipherSuites] = ()  # the cipher suites it accepts
    groups: Sequence[NamedGroup] = ()  # the key exchange groups it accepts, in order
    alpn: Sequence[bytes] = ()  # the ALPN protocols it offers
    log: bool = False  # log handshake messages and alerts (see Peer.alert_received)
    args: Sequence[str | Path] = ()  # its own command-line flags
    native: dict[str, Any] = dataclasses.field(default_factory=dict)  # priority=, tls13=
    refuse_alpn: bool = False  # server: no ALPN protocol in common is fatal
    client_ca: Path | None = None  # server: require a client certificate from this CA
    cert: tuple[Path, Path] | None = None  # client: (chain, key) to authenticate with
    hostname: str = "localhost"  # client: the name to verify
    commands: bool = False  # client: stdin lines may be commands (Peer.key_update_command)

    @classmethod
    def of(cls, options: dict[str, Any]) -> Setup:
        """The fields from ``options``; the rest is ``native``."""
        fields = {field.name for field in dataclasses.fields(cls)}
        native = {key: value for key, value in options.items() if key not in fields}
        return cls(**{key: value for key, value in options.items() if key in fields},
                   native=native)


class Peer:
    """What every peer does; the subclasses say how. ``name`` is the test id."""

    name: str
    suites: dict[CipherSuites, str]
    groups: dict[NamedGroup, str]
    #: Leaf key type -> the CertificateVerify scheme the peer and siotls settle on.
    key_types: dict[str, SignatureScheme]
    #: The longest line the peer server echoes whole.
    longest_line: int
    #: Where a stdin line would be a command for the peer client.
    command_start: tuple[bytes, ...]
    #: Client flags to key-share the first group only (and HelloRetryRequest to the next).
    single_key_share: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return self.name

    @property
    def unusable(self) -> str | None:
        """Why the peer cannot run here, or None."""
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    # -- the peer as a server: an echo of each line --------------------------------------
    def server(self, pki: PKI, leaf: Leaf | None = None, **options: Any
               ) -> contextlib.AbstractContextManager[tuple[PeerProcess, int]]:
        """The peer server with ``leaf`` (default ``pki.leaf``) on a free port; yields
        the process and the port. ``options``: the fields of :class:`Setup`, and
        the peer's own keyword arguments (``native``)."""
        return self._server(pki, leaf, Setup.of(options))

    def _server(self, pki: PKI, leaf: Leaf | None, setup: Setup
                ) -> contextlib.AbstractContextManager[tuple[PeerProcess, int]]:
        raise NotImplementedError

    def echo(self, sock: socket.socket, conn: TLSConnection, line: bytes) -> None:
        """Send ``line`` to the echo server and check what comes back."""
        raise NotImplementedError

    def close_client(self, proc: PeerProcess, sock: socket.socket, conn: TLSConnection
                     ) -> None:
        """close_notify both ways, then we close the socket."""
        conn.close_sending_end()
        assert read_until_close(sock, conn) == b""
        assert conn.close_notify_received
        sock.close()

    # -- the peer as a client: stdin to us, our answers to its stdout ----------------------
    def client(self, port: int, cafile: Path, **options: Any
               ) -> contextlib.AbstractContextManager[PeerProcess]:
        """The peer client to 127.0.0.1:``port``, verifying the server with ``cafile``.
        ``options``: the fields of :class:`Setup`, and the peer's own keyword
        arguments (``native``)."""
        return self._client(port, cafile, Setup.of(options))

    def _client(self, port: int, cafile: Path, setup: Setup
                ) -> contextlib.AbstractContextManager[PeerProcess]:
        raise NotImplementedError

    def talk(self, proc: PeerProcess, sock: socket.socket, conn: TLSConnection,
             line: bytes) -> None:
        """One line from the peer client to siotls, and an answer back."""
        assert not line.startswith(self.command_start), line
        start = len(proc.output)
        proc.write(line + b"\n")
        read_until(sock, conn, line + b"\n")
        conn.send_data(b"answer to " + line + b"\n")
        flush(sock, conn)
        proc.wait_for(rb"answer to " + re.escape(line), start=start)

    def close_server(self, proc: PeerProcess, sock: socket.socket, conn: TLSConnection
                     ) -> None:
        """The peer client sends close_notify at the end of its stdin; we answer, it
        exits 0 (it may wait for us to close first)."""
        proc.close_stdin()
        read_until_close(sock, conn)
        assert conn.close_notify_received
        conn.close_sending_end()
        flush(sock, conn)
        sock.close()
        assert proc.wait() == 0

    def key_update_command(self, requested: bool) -> bytes:
        """The stdin line that makes the peer client send a KeyUpdate."""
        raise NotImplementedError

    # -- what the output (with ``log=True``) says ----------------------------------------
    def alert_received(self, description: AlertDescription) -> bytes:
        """A regex of the line the peer prints when it receives this fatal alert."""
        raise NotImplementedError

    def key_update_logged(self, sent: bool, requested: bool) -> bytes:
        """A regex of the line of a KeyUpdate the peer sent (or received)."""
        raise NotImplementedError

    key_update_done: bytes  # the peer client's line once its KeyUpdate went out
    client_hello_received: bytes  # the peer server's line for each ClientHello
    #: The peer client's line that shows it got a HelloRetryRequest, and how many times.
    hello_retry_request_seen: tuple[bytes, int]
    trusted: bytes  # the peer client's line once our certificate verified
    untrusted: bytes  # the peer client's line when it is not
    #: Why the peer client refuses our certificate -> the alert it sends.
    rejects_certificate_with: dict[str, AlertDescription]
    no_client_certificate: bytes  # the peer server's line without a client certificate
    nothing_in_common: bytes  # the peer server's line when it refuses our ClientHello
    #: Options (for :meth:`server` and :meth:`client`) that make the peer...
    ccm_only: dict[str, Any]  # offer TLS_AES_128_CCM_SHA256 only (siotls lacks it)
    sigalgs_p256_cannot_sign: dict[str, Any]  # accept signatures our P-256 key cannot make
    tls12_only: dict[str, Any]  # speak TLS 1.2 only

    def chain_received(self, length: int) -> bytes:
        """A regex of the peer client's line about the certificate chain it received."""
        raise NotImplementedError

    def alpn_negotiated(self, protocol: bytes | None) -> bytes:
        """A regex of the peer client's output when ``protocol`` was negotiated."""
        raise NotImplementedError

    def client_negotiated(self, suite: CipherSuites, group: NamedGroup | None = None) -> bytes:
        """A regex of the peer client's summary of the connection."""
        raise NotImplementedError

    def server_negotiated(self, suite: CipherSuites) -> list[bytes]:
        """Regexes of the peer server's summary of the connection."""
        raise NotImplementedError


class OpenSSLPeer(Peer):
    name = "openssl"
    suites = {suite: suite.name for suite in SUITES}
    groups = {NamedGroup.x25519: "X25519", NamedGroup.secp256r1: "P-256",
              NamedGroup.secp384r1: "P-384", NamedGroup.secp521r1: "P-521",
              NamedGroup.x448: "X448", NamedGroup.ffdhe2048: "ffdhe2048"}
    key_types = KEY_TYPES
    longest_line = 5000  # s_server -rev reverses what one read() returns
    command_start = (b"k", b"K", b"Q", b"R")
    key_update_done = rb"KEYUPDATE"
    client_hello_received = rb"<<< TLS 1\.3, Handshake \[length \w+\], ClientHello"
    hello_retry_request_seen = (rb">>> TLS 1\.3, Handshake \[length \w+\], ClientHello", 2)
    trusted = rb"Verify return code: 0 \(ok\)"
    untrusted = (rb"verify error:num=\d+:(unable to get local issuer certificate"
                 rb"|hostname mismatch)")
    rejects_certificate_with = {"unknown-ca": AlertDescription.UNKNOWN_CA,
                                "wrong-hostname": AlertDescription.BAD_CERTIFICATE}
    no_client_certificate = rb"peer did not return a certificate"
    nothing_in_common = rb"no shared cipher|no suitable key share"
    ccm_only = {"args": ("-ciphersuites", "TLS_AES_128_CCM_SHA256")}
    sigalgs_p256_cannot_sign = {"args": ("-sigalgs", "ECDSA+SHA384")}
    tls12_only = {"args": ("-tls1_2",), "tls13": False}

    @property
    def unusable(self) -> str | None:
        if openssl_peer.OPENSSL is None:
            return "no openssl binary on PATH"
        version = openssl_peer.openssl_version()
        match = re.match(r"OpenSSL (\d+)\.(\d+)\.(\d+)", version)
        if match is None or tuple(map(int, match.groups())) < (1, 1, 1):
            return f"{version}: OpenSSL >= 1.1.1 is needed for TLS 1.3"
        return None

    def version(self) -> str:
        return openssl_peer.openssl_version()

    def _common(self, setup: Setup) -> list[str | Path]:
        args: list[str | Path] = []
        if setup.suites:
            args += ["-ciphersuites", ":".join(self.suites[suite] for suite in setup.suites)]
        if setup.groups:
            args += ["-groups", ":".join(self.groups[group] for group in setup.groups)]
        if setup.alpn:
            args += ["-alpn", b",".join(setup.alpn).decode()]
        return args + (["-msg"] if setup.log else []) + list(setup.args)

    @contextlib.contextmanager
    def _server(self, pki: PKI, leaf: Leaf | None, setup: Setup
                ) -> Iterator[tuple[PeerProcess, int]]:
        # OpenSSL 3 refuses a ClientHello without a common ALPN protocol: no refuse_alpn
        cert, key = pki.cert, pki.key
        chain: list[str | Path] = []
        if leaf is not None:
            cert, key, _ = pki.files(leaf)
            if len(leaf.chain) > 1:  # -cert reads one certificate from its file
                chain = ["-cert_chain", pki.intermediates(leaf)]
        if setup.client_ca is not None:
            chain += ["-Verify", "1", "-CAfile", setup.client_ca, "-verify_return_error"]
        with openssl_peer.s_server(cert, key, *chain, "-rev", "-naccept", "1",
                                   *self._common(setup), **setup.native) as (proc, port):
            yield proc, port

    def echo(self, sock: socket.socket, conn: TLSConnection, line: bytes) -> None:
        """``s_server -rev`` answers each line reversed."""
        conn.send_data(line + b"\n")
        assert read_until(sock, conn, b"\n") == line[::-1] + b"\n"

    def close_client(self, proc: PeerProcess, sock: socket.socket, conn: TLSConnection
                     ) -> None:
        """Then s_server (``-naccept 1``) exits 0, which flushes its output too."""
        super().close_client(proc, sock, conn)
        assert proc.wait() == 0

    @contextlib.contextmanager
    def _client(self, port: int, cafile: Path, setup: Setup) -> Iterator[PeerProcess]:
        # s_client reads its command letters anyway: ``commands`` changes nothing
        cert = setup.cert
        auth: list[str | Path] = [] if cert is None else ["-cert", cert[0], "-key", cert[1]]
        with openssl_peer.s_client(
                port, "-CAfile", cafile, "-servername", "localhost", "-verify_return_error",
                "-verify_hostname", setup.hostname, *auth, *self._common(setup),
                **setup.native) as proc:
            yield proc

    def key_update_command(self, requested: bool) -> bytes:
        return b"K" if requested else b"k"

    def alert_received(self, description: AlertDescription) -> bytes:
        return rb"alert %s|SSL alert number %d" % (_alert_name(description).encode(),
                                                   description)

    def key_update_logged(self, sent: bool, requested: bool) -> bytes:
        direction = b">>>" if sent else b"<<<"
        return rb"%s TLS 1\.3, Handshake \[length 0005\], KeyUpdate\s+18 00 00 01 0%d" % (
            direction, requested)

    def client_negotiated(self, suite: CipherSuites, group: NamedGroup | None = None) -> bytes:
        return rb"New, TLSv1\.3, Cipher is " + self.suites[suite].encode()

    def server_negotiated(self, suite: CipherSuites) -> list[bytes]:
        return [rb"Ciphersuite: " + self.suites[suite].encode()]

    def chain_received(self, length: int) -> bytes:
        return rb"Certificate chain\n(.*\n)* %d s:" % (length - 1)

    def alpn_negotiated(self, protocol: bytes | None) -> bytes:
        if protocol is None:
            return rb"No ALPN negotiated"
        return rb"ALPN protocol: " + re.escape(protocol)


class GnuTLSPeer(Peer):
    name = "gnutls"
    suites = {
        CipherSuites.TLS_AES_128_GCM_SHA256: "AES-128-GCM",
        CipherSuites.TLS_AES_256_GCM_SHA384: "AES-256-GCM",
        CipherSuites.TLS_CHACHA20_POLY1305_SHA256: "CHACHA20-POLY1305",
    }
    groups = {NamedGroup.x25519: "X25519", NamedGroup.secp256r1: "SECP256R1",
              NamedGroup.secp384r1: "SECP384R1", NamedGroup.secp521r1: "SECP521R1",
              NamedGroup.x448: "X448", NamedGroup.ffdhe2048: "FFDHE2048"}
    key_types = KEY_TYPES
    longest_line = 40000  # several records each way
    command_start = (b"^",)
    single_key_share = ("--single-key-share",)
    key_update_done = rb"- Rekey was completed"
    client_hello_received = rb"CLIENT HELLO \(1\) was received"
    hello_retry_request_seen = (rb"HELLO RETRY REQUEST \(\d+\) was received", 1)
    trusted = rb"- Status: The certificate is trusted\."
    untrusted = rb"- Status: The certificate is NOT trusted\."
    rejects_certificate_with = {"unknown-ca": AlertDescription.BAD_CERTIFICATE,
                                "wrong-hostname": AlertDescription.BAD_CERTIFICATE}
    no_client_certificate = rb"Sending Alert\[2\|116\]"  # certificate_required
    nothing_in_common = rb"Sending Alert\[2\|40\]"  # handshake_failure
    ccm_only = {"priority": f"{gnutls_peer.TLS13}:-CIPHER-ALL:+AES-128-CCM"}
    sigalgs_p256_cannot_sign = {
        "priority": f"{gnutls_peer.TLS13}:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA256"}
    tls12_only = {"priority": "NORMAL:-VERS-ALL:+VERS-TLS1.2"}

    @property
    def unusable(self) -> str | None:
        if gnutls_peer.GNUTLS_SERV is None or gnutls_peer.GNUTLS_CLI is None:
            return "no gnutls-serv/gnutls-cli on PATH (Debian: gnutls-bin)"
        return None

    def version(self) -> str:
        return gnutls_peer.gnutls_version()

    def _common(self, setup: Setup) -> list[str | Path]:
        args: list[str | Path] = ["-d", "5"] if setup.log else []  # alerts included
        for protocol in setup.alpn:
            args += ["--alpn", protocol.decode()]
        priority = gnutls_peer.TLS13
        if setup.suites:
            priority += ":-CIPHER-ALL" + "".join(f":+{self.suites[s]}" for s in setup.suites)
        if setup.groups:
            priority += ":-GROUP-ALL" + "".join(f":+GROUP-{self.groups[g]}"
                                                for g in setup.groups)
        setup.native.setdefault("priority", priority)
        return args + list(setup.args)

    @contextlib.contextmanager
    def _server(self, pki: PKI, leaf: Leaf | None, setup: Setup
                ) -> Iterator[tuple[PeerProcess, int]]:
        cert, key = pki.cert, pki.key
        if leaf is not None:  # gnutls-serv sends every certificate of the file
            cert, key, _ = pki.files(leaf)
        args = self._common(setup)
        if setup.refuse_alpn:
            args.append("--alpn-fatal")
        if setup.client_ca is not None:
            args += ["--require-client-cert", "--verify-client-cert", "--x509cafile",
                     setup.client_ca]
        with gnutls_peer.gnutls_serv(cert, key, *args, **setup.native) as (proc, port):
            yield proc, port

    def echo(self, sock: socket.socket, conn: TLSConnection, line: bytes) -> None:
        """``gnutls-serv --echo`` sends each line back. (It then serves the next
        connection: the fixture terminates it.)"""
        conn.send_data(line + b"\n")
        assert read_until(sock, conn, b"\n") == line + b"\n"

    @contextlib.contextmanager
    def _client(self, port: int, cafile: Path, setup: Setup) -> Iterator[PeerProcess]:
        args: list[str | Path] = ["--x509cafile", cafile, "--sni-hostname", "localhost",
                                  "--verify-hostname", setup.hostname, *self._common(setup)]
        if setup.cert is not None:
            args += ["--x509certfile", setup.cert[0], "--x509keyfile", setup.cert[1]]
        if setup.commands:
            args.append("--inline-commands")
        with gnutls_peer.gnutls_cli(port, *args, **setup.native) as proc:
            yield proc

    def key_update_command(self, requested: bool) -> bytes:
        """``^rekey^`` requests an update, ``^rekey1^`` does not."""
        return b"^rekey^" if requested else b"^rekey1^"

    def alert_received(self, description: AlertDescription) -> bytes:
        return rb"Alert\[2\|%d\] - [^\n]* - was received" % description

    def key_update_logged(self, sent: bool, requested: bool) -> bytes:
        if sent:
            return rb"sending key update \(%d\)" % requested
        return rb"received TLS 1\.3 key update \(%d\)" % requested

    def client_negotiated(self, suite: CipherSuites, group: NamedGroup | None = None) -> bytes:
        name = self.groups[group or NamedGroup.x25519]
        return rb"\(TLS1\.3-X\.509\)-\(ECDHE-%s\)-\([\w-]+\)-\(%s\)" % (
            name.encode(), self.suites[suite].encode())

    def server_negotiated(self, suite: CipherSuites) -> list[bytes]:
        return [rb"- Cipher: " + self.suites[suite].encode(), rb"- Version: TLS1\.3"]

    def chain_received(self, length: int) -> bytes:
        return rb"- Got a certificate list of %d certificates\." % length

    def alpn_negotiated(self, protocol: bytes | None) -> bytes:
        if protocol is None:
            return rb"\A(?![\s\S]*Application protocol)"
        return rb"- Application protocol: " + re.escape(protocol)


OPENSSL = OpenSSLPeer()
GNUTLS = GnuTLSPeer()
PEERS: list[Peer] = [OPENSSL, GNUTLS]


def _param(peer: Peer, *values: Any, id: str | None = None) -> Any:
    marks = [pytest.mark.skipif(peer.unusable is not None, reason=str(peer.unusable))]
    if peer is OPENSSL:
        marks.append(pytest.mark.openssl)
    return pytest.param(peer, *values, marks=marks, id=f"{peer.name}-{id}" if id else peer.name)


def by_peer(test: _F) -> _F:
    """Run ``test(peer, ...)`` once per peer (skipped where it is not installed)."""
    return pytest.mark.parametrize("peer", [_param(peer) for peer in PEERS])(test)


def per_peer(cases: Callable[[Peer], Any], ids: Callable[[Any], str] = str) -> list[Any]:
    """``(peer, case...)`` parameters: ``cases(peer)`` lists (or maps) the cases of a
    peer; a tuple case gives several values."""
    params = []
    for peer in PEERS:
        for case in cases(peer):
            values = case if isinstance(case, tuple) else (case,)
            params.append(_param(peer, *values, id=ids(case)))
    return params
