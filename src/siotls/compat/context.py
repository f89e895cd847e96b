"""The :class:`ssl.SSLContext` subclass: settings mapped onto a siotls configuration.

An :class:`SSLContext` keeps the ``ssl`` settings it was given (CAs, chain and key,
ALPN, verify mode, options...) and rebuilds :attr:`SSLContext.config`, a
:class:`~siotls.TLSConfiguration`, from its base configuration and those settings at
each change (:meth:`SSLContext._rebuild`). A setting that does not make a valid
configuration is reported by the next ``wrap_bio()``/``wrap_socket()``, as OpenSSL
reports it at handshake time. What siotls cannot do raises
:class:`NotImplementedError` at once; nothing is silently ignored.

``wrap_bio()`` makes a :class:`~siotls.compat.object.SSLObject`;
``wrap_socket()`` makes a :class:`~siotls.compat.socket.SSLSocket` through the
standard ``SSLSocket._create`` (``sslsocket_class``), whose engine comes from
:meth:`SSLContext._wrap_socket`, the hook OpenSSL's context fills in ``ssl``.
"""

from __future__ import annotations

import os
import socket as _socket
import ssl
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Self

from siotls.adapters._info import certificate_dict, suite_description
from siotls.compat import sni
from siotls.compat.errors import protocol_error
from siotls.compat.object import SSLObject
from siotls.compat.session import tls_session_of
from siotls.compat.socket import SocketEngine, SSLSocket
from siotls.core.config import InsecureWarning, TLSConfiguration
from siotls.iana import CipherSuites, NamedGroup
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key

if TYPE_CHECKING:
    from _ssl import _PasswordType

    from siotls.trust import TrustStore

__all__ = ["SSLContext"]

_CIPHER_DETAILS = {  # symmetric cipher, "Enc=" column of OpenSSL's description
    CipherSuites.TLS_AES_128_GCM_SHA256: ("aes-128-gcm", "AESGCM(128)"),
    CipherSuites.TLS_AES_256_GCM_SHA384: ("aes-256-gcm", "AESGCM(256)"),
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256: ("chacha20-poly1305", "CHACHA20/POLY1305(256)"),
}
#: set_ecdh_curve() names (OpenSSL's) -> siotls groups.
_CURVES = {
    "prime256v1": NamedGroup.secp256r1, "secp256r1": NamedGroup.secp256r1,
    "p-256": NamedGroup.secp256r1, "secp384r1": NamedGroup.secp384r1,
    "p-384": NamedGroup.secp384r1, "secp521r1": NamedGroup.secp521r1,
    "p-521": NamedGroup.secp521r1, "x25519": NamedGroup.x25519, "x448": NamedGroup.x448,
}
_HONOURED_VERIFY_FLAGS = ssl.VERIFY_X509_TRUSTED_FIRST | ssl.VERIFY_X509_STRICT


def _not_implemented(what: str) -> NoReturn:
    raise NotImplementedError(f"siotls.compat.SSLContext: {what}")


class SSLContext(ssl.SSLContext):
    """An :class:`ssl.SSLContext` whose ``wrap_bio()`` and ``wrap_socket()`` run siotls.

    Build it with :meth:`from_config` (or ``SSLContext(config)``): the side of
    ``config`` gives the protocol, ``PROTOCOL_TLS_CLIENT`` or ``PROTOCOL_TLS_SERVER``.
    :attr:`config` is the configuration connections use, the settings applied.
    """

    sslsocket_class = SSLSocket

    def __new__(cls, config: TLSConfiguration, *args: Any, **kwargs: Any) -> Self:
        if not isinstance(config, TLSConfiguration):
            msg = ("siotls.compat.SSLContext takes a siotls TLSConfiguration, "
                   f"not {type(config).__name__}")
            raise TypeError(msg)
        protocol = (ssl.PROTOCOL_TLS_SERVER if config.side == "server"
                    else ssl.PROTOCOL_TLS_CLIENT)
        self = super().__new__(cls, protocol)
        self._setup(config)
        return self

    @classmethod
    def from_config(cls, config: TLSConfiguration) -> Self:
        """A context for ``config.side`` whose connections use ``config``."""
        return cls(config)

    def _setup(self, config: TLSConfiguration) -> None:
        self._base = config
        self._config: TLSConfiguration | None = config
        self._config_problem = ""
        self._server = config.side == "server"
        truststore = config.truststore
        self._cas: list[bytes] = list(truststore.certificates) if truststore else []
        self._stores: list[TrustStore] = [truststore] if truststore else []
        if self._server:
            self._verify_mode = (ssl.CERT_REQUIRED if config.require_peer_authentication
                                 else ssl.CERT_OPTIONAL if config.request_peer_authentication
                                 else ssl.CERT_NONE)
        else:
            self._verify_mode = ssl.CERT_REQUIRED if truststore is not None else ssl.CERT_NONE
        self._check_hostname = not self._server and truststore is not None
        self._alpn = config.alpn
        self._chain = tuple(config.certificate_chain)
        self._key = config.private_key
        self._key_exchanges = tuple(config.key_exchanges)
        self._middlebox = config.middlebox_compatibility
        self._num_tickets = config.num_tickets
        self._keylog_filename: str | None = None
        self._sni_callback: Any = None
        self._pha = config.post_handshake_auth
        options = ssl.Options(super().options)
        if config.middlebox_compatibility:
            options |= ssl.OP_ENABLE_MIDDLEBOX_COMPAT
        else:
            options &= ~ssl.OP_ENABLE_MIDDLEBOX_COMPAT
        self._options = options
        self._ignore_eof = bool(options & ssl.OP_IGNORE_UNEXPECTED_EOF)  # for each SSLObject
        self._verify_flags = ssl.VerifyFlags.VERIFY_X509_TRUSTED_FIRST

    # -- the siotls configuration ------------------------------------------------------------------
    @property
    def config(self) -> TLSConfiguration:
        """The configuration of new connections (raises ValueError if incomplete)."""
        if self._config is None:
            raise ValueError(self._config_problem)
        return self._config

    def _truststore(self) -> TrustStore | None:
        from cryptography.utils import CryptographyDeprecationWarning  # noqa: PLC0415

        from siotls.trust import TrustStore  # noqa: PLC0415

        cas = tuple(self._cas)
        if not cas:
            return None
        for store in self._stores:
            if store.certificates == cas:
                return store
        with warnings.catch_warnings():  # odd system CAs (as get_truststore does)
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            store = TrustStore(cas)
        self._stores = [*self._stores[-1:], store]
        return store

    def _changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {
            "alpn": self._alpn, "certificate_chain": self._chain, "private_key": self._key,
            "key_exchanges": self._key_exchanges, "middlebox_compatibility": self._middlebox,
        }
        truststore = self._truststore()
        if self._server:
            changes["truststore"] = truststore
            changes["require_peer_authentication"] = self._verify_mode == ssl.CERT_REQUIRED
            changes["request_peer_authentication"] = self._verify_mode == ssl.CERT_OPTIONAL
            changes["num_tickets"] = self._num_tickets
        elif self._verify_mode == ssl.CERT_NONE:
            changes["truststore"] = None
        else:
            if truststore is None:
                msg = ("verify_mode is CERT_REQUIRED but no CA certificate is loaded: call "
                       "load_verify_locations() or load_default_certs()")
                raise ValueError(msg)
            changes["truststore"] = truststore
        if not self._server:  # ssl offers post-handshake auth without a certificate too
            changes["post_handshake_auth"] = self._pha and self._key is not None
        if self._keylog_filename is not None:
            path = self._keylog_filename

            def keylog(line: str) -> None:
                with open(path, "a") as file:
                    file.write(line + "\n")

            changes["log_keys"] = True
            changes["keylog"] = keylog
        return changes

    def _rebuild(self) -> None:
        """Apply the settings to the configuration (a problem is raised by wrap_bio)."""
        try:
            changes = self._changes()
            with warnings.catch_warnings():  # the setters warn themselves
                warnings.simplefilter("ignore", InsecureWarning)
                self._config = self._base.copy(**changes)
        except ValueError as exc:
            self._config = None
            self._config_problem = f"siotls.compat.SSLContext: {exc}"

    def _check_side(self, server_side: bool) -> None:
        if server_side and not self._server:
            raise ValueError("Cannot create a server socket with a PROTOCOL_TLS_CLIENT context")
        if not server_side and self._server:
            raise ValueError("Cannot create a client socket with a PROTOCOL_TLS_SERVER context")

    # -- wrapping --------------------------------------------------------------------------------
    def wrap_bio(self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO,
                 server_side: bool = False, server_hostname: str | bytes | None = None,
                 session: ssl.SSLSession | None = None) -> SSLObject:
        """A :class:`SSLObject` reading ``incoming`` and writing ``outgoing``.

        ``session``: the :attr:`SSLObject.session` of an earlier connection, to resume.
        """
        tls_session = tls_session_of(session) if session is not None else None
        self._check_side(server_side)
        if server_side and tls_session is not None:
            raise ValueError("session is only valid for client side")
        if isinstance(server_hostname, bytes | bytearray):
            server_hostname = bytes(server_hostname).decode("ascii")
        if server_hostname and not server_hostname.isascii():
            server_hostname = server_hostname.encode("idna").decode("ascii")  # as ssl does
        server_hostname = server_hostname or None
        config = self._config if self._config is not None else self.config  # raises
        engine_hostname = None
        if not server_side:
            if server_hostname is None and self._check_hostname:
                raise ValueError("check_hostname requires server_hostname")
            engine_hostname = server_hostname
            if config.truststore is not None and not self._check_hostname:
                # The chain is still verified, for any name; SNI is still sent.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", InsecureWarning)  # ssl does not warn
                    config = config.copy(check_hostname=False)
        if server_side and self._sni_callback is not None:
            return sni.wrap_with_callback(self, config, incoming, outgoing)
        return SSLObject._create_siotls(self, config, incoming, outgoing, server_side,
                                        server_hostname, engine_hostname, tls_session)

    def wrap_socket(self, sock: _socket.socket, server_side: bool = False,  # noqa: PLR0917 (ssl's signature)
                    do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                    server_hostname: str | bytes | None = None,
                    session: ssl.SSLSession | None = None) -> SSLSocket:
        """A blocking :class:`~siotls.compat.socket.SSLSocket` over ``sock`` (see there)."""
        tls_session_of(session)  # TypeError as ssl for a foreign session
        self._check_side(server_side)
        return SSLSocket._create(  # type: ignore[attr-defined,no-any-return]  # private
            sock=sock, server_side=server_side, do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs, server_hostname=server_hostname,
            context=self, session=session)

    def _wrap_socket(self, sock: _socket.socket, server_side: bool,
                     server_hostname: str | None = None, *, owner: _socket.socket | None = None,
                     session: ssl.SSLSession | None = None) -> SocketEngine:
        """The hook ``ssl.SSLSocket`` calls for its engine (``SSLSocket._sslobj``)."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.wrap_bio(incoming, outgoing, server_side, server_hostname, session)
        obj._sni_owner = owner
        return SocketEngine(obj, incoming, outgoing, owner if owner is not None else sock)

    # -- certificates and trust ------------------------------------------------------------------
    def load_cert_chain(self, certfile: Any, keyfile: Any = None,
                        password: _PasswordType | None = None) -> None:
        """Our certificate chain (PEM, leaf first) and private key (PEM)."""
        cert_data = Path(os.fsdecode(certfile)).read_bytes()
        key_data = Path(os.fsdecode(keyfile)).read_bytes() if keyfile is not None else cert_data
        if callable(password):
            password = password()
        if isinstance(password, str):
            password = password.encode()
        try:
            chain = decode_pem_certificate_chain(cert_data)
            key = decode_pem_private_key(key_data, bytes(password) if password else None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureWarning)
                # checks that the key matches the certificate
                self._base.copy(certificate_chain=chain, private_key=key)
        except ValueError as exc:
            raise protocol_error("PEM_LIB", str(exc)) from exc
        self._chain = tuple(chain)
        self._key = key
        self._rebuild()

    def load_verify_locations(self, cafile: Any = None, capath: Any = None,
                              cadata: Any = None) -> None:
        """Add CA certificates: a PEM file, a directory of PEM files, PEM text or DER bytes."""
        if cafile is None and capath is None and cadata is None:
            raise TypeError("cafile, capath and cadata cannot be all omitted")
        from cryptography.utils import CryptographyDeprecationWarning  # noqa: PLC0415

        try:
            with warnings.catch_warnings():  # odd CAs of bundles (certifi), as get_truststore
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                found = _read_cas(cafile, capath, cadata)
                _parse_cas(found)
        except ValueError as exc:
            raise protocol_error("PEM_LIB", str(exc)) from exc
        self._add_cas(found)

    def _add_cas(self, certificates: Iterable[bytes]) -> None:
        for der in certificates:
            if der not in self._cas:
                self._cas.append(der)
        self._rebuild()

    def load_default_certs(self, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        """Add the system's CAs (:func:`siotls.trust.get_truststore`)."""
        self.set_default_verify_paths()

    def set_default_verify_paths(self) -> None:
        from siotls.trust import get_truststore  # noqa: PLC0415

        system = get_truststore()
        if not self._cas:
            self._stores.append(system)
        self._add_cas(system.certificates)

    def cert_store_stats(self) -> dict[str, int]:
        return {"x509": len(self._cas), "crl": 0, "x509_ca": len(self._cas)}

    def get_ca_certs(self, binary_form: bool = False) -> Any:
        if binary_form:
            return list(self._cas)
        return [certificate_dict(der) for der in self._cas]

    # -- verification -----------------------------------------------------------------------------
    @property
    def verify_mode(self) -> ssl.VerifyMode:
        return ssl.VerifyMode(self._verify_mode)

    @verify_mode.setter
    def verify_mode(self, value: int) -> None:
        mode = ssl.VerifyMode(value)
        if mode == ssl.CERT_NONE and self._check_hostname:
            raise ValueError(
                "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.")
        if not self._server and mode == ssl.CERT_NONE and self._verify_mode != ssl.CERT_NONE:
            warnings.warn("verify_mode = CERT_NONE: the server's certificate is not verified",
                          InsecureWarning, stacklevel=2)
        # CERT_OPTIONAL: on a client, verified as with OpenSSL; on a server, a client
        # certificate is asked for (request_peer_authentication), verified when it comes.
        self._verify_mode = mode
        self._rebuild()

    @property
    def check_hostname(self) -> bool:
        return self._check_hostname

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        value = bool(value)
        if value and self._verify_mode == ssl.CERT_NONE:
            self._verify_mode = ssl.CERT_REQUIRED  # as ssl does
        self._check_hostname = value
        self._rebuild()

    @property
    def verify_flags(self) -> ssl.VerifyFlags:
        return self._verify_flags

    @verify_flags.setter
    def verify_flags(self, value: int) -> None:
        flags = ssl.VerifyFlags(value)
        if flags & ~_HONOURED_VERIFY_FLAGS:
            _not_implemented(f"verify_flags {flags!r} (only VERIFY_X509_STRICT, which "
                             "siotls always applies, and VERIFY_X509_TRUSTED_FIRST)")
        self._verify_flags = flags

    @property
    def hostname_checks_common_name(self) -> bool:
        return False

    @hostname_checks_common_name.setter
    def hostname_checks_common_name(self, value: bool) -> None:
        if value:
            _not_implemented("hostname_checks_common_name (siotls only reads subjectAltName)")

    @property
    def post_handshake_auth(self) -> bool:
        return self._pha

    @post_handshake_auth.setter
    def post_handshake_auth(self, value: bool) -> None:
        """A client offers post-handshake authentication (when it has a certificate);
        a server may call ``verify_client_post_handshake()`` anyway."""
        self._pha = bool(value)
        self._rebuild()

    # -- protocol settings ----------------------------------------------------------------------
    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        """Offer (client) or accept (server) these ALPN protocols, in order of preference."""
        protocols = [protocol.encode("ascii") for protocol in alpn_protocols]
        if any(not 0 < len(protocol) < 256 for protocol in protocols):
            raise ssl.SSLError("ALPN protocols must be 1 to 255 in length")
        self._alpn = tuple(dict.fromkeys(protocols)) or None
        self._rebuild()

    def set_npn_protocols(self, npn_protocols: Iterable[str]) -> NoReturn:
        _not_implemented("NPN does not exist in TLS 1.3; use set_alpn_protocols()")

    def set_ciphers(self, cipherlist: str, /) -> None:
        """Checked like ``ssl`` does; as with OpenSSL it does not touch the TLS 1.3 suites."""
        super().set_ciphers(cipherlist)

    def get_ciphers(self) -> Any:
        """The TLS 1.3 suites of :attr:`config`, as ``ssl`` describes them."""
        result = []
        for suite in map(CipherSuites, self.config.cipher_suites):
            bits = suite_description(suite)[2]
            symmetric, enc = _CIPHER_DETAILS.get(suite, ("", ""))
            result.append({
                "id": 0x03000000 | suite, "name": suite.name, "protocol": "TLSv1.3",
                "description": f"{suite.name:<30} TLSv1.3 Kx=any      Au=any   "
                               f"Enc={enc:<22} Mac=AEAD",
                "strength_bits": bits, "alg_bits": bits, "aead": True,
                "symmetric": symmetric, "digest": None, "kea": "kx-any", "auth": "auth-any",
            })
        return result

    def set_ecdh_curve(self, name: str, /) -> None:
        """Use one key exchange group (an OpenSSL curve name, e.g. ``prime256v1``)."""
        group = _CURVES.get(name.lower())
        if group is None:
            raise ValueError(f"unknown elliptic curve name {name!r}")
        self._key_exchanges = (group,)
        self._rebuild()

    def load_dh_params(self, path: str, /) -> NoReturn:
        _not_implemented("finite-field Diffie-Hellman (load_dh_params)")

    @property
    def options(self) -> ssl.Options:
        return self._options

    @options.setter
    def options(self, value: int) -> None:
        options = ssl.Options(value)
        if options & ssl.OP_NO_TLSv1_3:
            _not_implemented("OP_NO_TLSv1_3: siotls only speaks TLS 1.3")
        self._options = options
        self._ignore_eof = bool(options & ssl.OP_IGNORE_UNEXPECTED_EOF)
        self._middlebox = bool(options & ssl.OP_ENABLE_MIDDLEBOX_COMPAT)
        self._rebuild()

    @property  # type: ignore[override]  # ssl.SSLContext returns a TLSVersion too
    def minimum_version(self) -> ssl.TLSVersion:
        return ssl.TLSVersion.TLSv1_3

    @minimum_version.setter
    def minimum_version(self, value: ssl.TLSVersion) -> None:
        if value not in (ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED) \
                and value > ssl.TLSVersion.TLSv1_3:
            _not_implemented(f"minimum_version {value!r}")

    @property  # type: ignore[override]  # ssl.SSLContext returns a TLSVersion too
    def maximum_version(self) -> ssl.TLSVersion:
        return ssl.TLSVersion.TLSv1_3

    @maximum_version.setter
    def maximum_version(self, value: ssl.TLSVersion) -> None:
        if value != ssl.TLSVersion.MAXIMUM_SUPPORTED and value < ssl.TLSVersion.TLSv1_3:
            _not_implemented(f"maximum_version {value!r}: siotls only speaks TLS 1.3")

    @property
    def num_tickets(self) -> int:
        """Tickets a server sends after a full handshake (2, as ``ssl``; 0..16)."""
        return self._num_tickets

    @num_tickets.setter
    def num_tickets(self, value: int) -> None:
        if not isinstance(value, int):
            raise TypeError("an integer is required")
        if value < 0:
            raise ValueError("value must be non-negative")
        if not self._server:
            raise ValueError("SSLContext is not a server context.")
        if value > 16:
            _not_implemented("more than 16 session tickets")
        self._num_tickets = value
        self._rebuild()

    @property
    def sni_callback(self) -> Any:
        return self._sni_callback

    @sni_callback.setter
    def sni_callback(self, value: Any) -> None:
        """``callback(ssl_object, server_name, context)`` as in ``ssl`` (see :mod:`.sni`)."""
        if value is not None and not callable(value):
            raise TypeError("not a callable object")
        if value is not None and not self._server:
            raise ValueError("sni_callback cannot be set on TLS_CLIENT context")
        self._sni_callback = value

    def set_servername_callback(self, server_name_callback: Any) -> None:
        self.sni_callback = server_name_callback

    @property  # type: ignore[override]  # None when unset, as in ssl
    def keylog_filename(self) -> str | None:
        return self._keylog_filename

    @keylog_filename.setter
    def keylog_filename(self, value: Any) -> None:
        self._keylog_filename = None if value is None else os.fsdecode(value)
        self._rebuild()


def _read_cas(cafile: Any, capath: Any, cadata: Any) -> list[bytes]:
    """The DER certificates of ``load_verify_locations()``'s arguments."""
    found: list[bytes] = []
    if cafile is not None:
        found += decode_pem_certificate_chain(Path(os.fsdecode(cafile)).read_bytes())
    if capath is not None:
        for entry in sorted(Path(os.fsdecode(capath)).iterdir()):
            if entry.is_file():
                data = entry.read_bytes()
                if b"-----BEGIN CERTIFICATE-----" in data:
                    found += decode_pem_certificate_chain(data)
    if isinstance(cadata, str):
        found += decode_pem_certificate_chain(cadata)
    elif cadata is not None:
        found += _split_der(bytes(cadata))
    return found


def _parse_cas(certificates: list[bytes]) -> None:
    """ValueError, as ``ssl`` fails at load time, for data that holds no (valid) certificate."""
    from cryptography import x509  # noqa: PLC0415

    if not certificates:
        raise ValueError("no certificate found")
    for der in certificates:
        try:
            x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise ValueError(f"a CA certificate does not parse: {exc}") from exc


def _split_der(data: bytes) -> list[bytes]:
    """Concatenated DER certificates (``cadata`` bytes) -> a list."""
    certificates = []
    while data:
        if len(data) < 2 or data[0] != 0x30:
            raise ValueError("cadata does not hold DER certificates")
        length = data[1]
        header = 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[2:2 + count], "big")
            header += count
        end = header + length
        if end > len(data):
            raise ValueError("cadata holds a truncated DER certificate")
        certificates.append(data[:end])
        data = data[end:]
    return certificates
