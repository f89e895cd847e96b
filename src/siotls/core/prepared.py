"""What every handshake of one configuration shares, computed once per configuration.

Theory of operation
-------------------
A client sends the same supported_groups, signature_algorithms, supported_versions...
on every connection of a configuration, a server the same Certificate message; the
chains a configuration holds are the same objects. Each function here computes its
part on first use and keeps it with the configuration (in its ``__dict__``, as
``TLSConfiguration.credentials()`` keeps the parsed key: a configuration is frozen,
and a new one, ``config.copy(...)`` included, starts empty), so it is gone with
the configuration and never shared between two. Only public data is kept: encoded
extensions, certificates, our Certificate messages, peers' public keys. Per-host,
per-chain and per-peer tables are bounded (:data:`MAX_ENTRIES`, then cleared).

* :func:`certificate_chains`: ``config.all_certificate_chains`` as one tuple, so that
  what :class:`~siotls.core.credentials.CertificateChain` parses lazily (the
  certificates, their names and signature schemes, the key) is parsed once, not per
  handshake (the property builds a new default chain on every call).
* :func:`client_hello`: the ClientHello extensions that depend on the configuration
  only, encoded, and the server_name extension per host name
  (:meth:`ClientHelloTemplate.front`).
* :func:`certificate_messages`: our Certificate (or CompressedCertificate) messages
  by chain, compression algorithm and stapled response (see
  :meth:`siotls.core.handshake.Handshake.send_certificate`).
* :func:`decoded`: the client's extensions that do not change from one connection to
  the next (signature_algorithms, supported_groups...), decoded once per bytes seen.
* :func:`chain_choices`: which chain and signature scheme a server name and a
  client's signature algorithms get (without an ``sni_callback``).
* :func:`peer_keys`: the public key of a peer's leaf certificate, by its DER (a
  client meets the same servers again): only what the certificate itself says,
  which every handshake still verifies (chain, CertificateVerify) as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from siotls.core import compression, ocsp
from siotls.core import extensions as ext
from siotls.core.config import CERTIFICATE_ONLY_SIGNATURE_ALGORITHMS, is_ip_address
from siotls.core.extensions import ET
from siotls.iana import TLSVersion

if TYPE_CHECKING:
    from siotls.core.config import TLSConfiguration
    from siotls.core.credentials import CertificateChain

#: Entries of a per-configuration table (host names, chains) before it is cleared.
MAX_ENTRIES = 64
_T = TypeVar("_T")


def _kept(config: TLSConfiguration, name: str) -> Any:
    return config.__dict__.get(name)


def _keep(config: TLSConfiguration, name: str, value: Any) -> None:
    config.__dict__[name] = value  # a frozen dataclass: past its __setattr__, as config does


def certificate_chains(config: TLSConfiguration) -> tuple[CertificateChain, ...]:
    """``config.all_certificate_chains``, the same objects on every call."""
    chains: tuple[CertificateChain, ...] | None = _kept(config, "_prepared_chains")
    if chains is None:
        chains = config.all_certificate_chains
        _keep(config, "_prepared_chains", chains)
    return chains


class ClientHelloTemplate:
    """A client configuration's ClientHello extensions, in wire order around the key
    share: :meth:`front` (server_name, then :attr:`head`), key_share, :attr:`tail`."""

    __slots__ = ("_fronts", "head", "tail")

    def __init__(self, config: TLSConfiguration) -> None:
        #: supported_groups .. supported_versions
        self.head: dict[int, bytes] = {
            ET.SUPPORTED_GROUPS: ext.encode_u16_list(config.key_exchanges),
            ET.SIGNATURE_ALGORITHMS: ext.encode_u16_list(config.signature_algorithms),
            ET.SIGNATURE_ALGORITHMS_CERT: ext.encode_u16_list(
                (*config.signature_algorithms, *CERTIFICATE_ONLY_SIGNATURE_ALGORITHMS)),
            ET.SUPPORTED_VERSIONS: ext.encode_supported_versions_ch([TLSVersion.TLS_1_3]),
        }
        #: psk_key_exchange_modes .. compress_certificate (what the configuration asks)
        self.tail: dict[int, bytes] = {
            ET.PSK_KEY_EXCHANGE_MODES: ext.encode_psk_key_exchange_modes(
                list(config.psk_key_exchange_modes))}
        if config.ocsp_stapling != "off":
            self.tail[ET.STATUS_REQUEST] = ocsp.encode_status_request()
        if config.alpn:
            self.tail[ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION] = ext.encode_alpn(config.alpn)
        if config.record_size_limit is not None:
            self.tail[ET.RECORD_SIZE_LIMIT] = ext.encode_record_size_limit(
                config.record_size_limit)
        if config.certificate_compression:
            self.tail[ET.COMPRESS_CERTIFICATE] = ext.encode_compress_certificate(
                compression.codes(config.certificate_compression))
        self._fronts: dict[str | None, dict[int, bytes]] = {None: self.head}

    def front(self, server_hostname: str | None) -> dict[int, bytes]:
        """server_name (none for an IP address, RFC 6066 section 3), then :attr:`head`.

        The caller copies it (``{**front, ...}``): it is shared.
        """
        front = self._fronts.get(server_hostname)
        if front is None:
            assert server_hostname is not None
            front = self.head
            if server_hostname and not is_ip_address(server_hostname):
                front = {ET.SERVER_NAME: ext.encode_server_name(server_hostname), **self.head}
            if len(self._fronts) > MAX_ENTRIES:
                self._fronts = {None: self.head}
            self._fronts[server_hostname] = front
        return front


def client_hello(config: TLSConfiguration) -> ClientHelloTemplate:
    template: ClientHelloTemplate | None = _kept(config, "_prepared_client_hello")
    if template is None:
        template = ClientHelloTemplate(config)
        _keep(config, "_prepared_client_hello", template)
    return template


#: Entries of the table of decoded peer extensions before it is cleared.
MAX_DECODED = 256
#: The longest extension body kept there: what clients send the same every time is
#: short (tens of bytes); a longer one is decoded each time, so that peers can make
#: the table hold at most ``MAX_DECODED * MAX_DECODED_BYTES`` bytes of their input.
MAX_DECODED_BYTES = 256


def decoded(config: TLSConfiguration, decode: Callable[[bytes], _T], data: bytes) -> _T:
    """``decode(data)``, kept per configuration for the extensions a client sends the
    same on every connection (signature_algorithms, supported_groups...): ``decode`` is a
    pure function of the bytes, and returns an immutable value (a tuple, a str). Bad
    bytes raise as ``decode`` does, every time; nothing is kept for them. Bounded:
    cleared past :data:`MAX_DECODED` entries, so varied input costs the decoding only,
    and bodies over :data:`MAX_DECODED_BYTES` are decoded each time, never kept.
    """
    if len(data) > MAX_DECODED_BYTES:
        return decode(data)
    # _kept(config, "_prepared_decoded") inlined: a server calls this ~6 times per
    # ClientHello, one Python frame each saved.
    table: dict[tuple[Callable[[bytes], Any], bytes], Any] | None = config.__dict__.get(
        "_prepared_decoded")
    if table is None:
        table = {}
        _keep(config, "_prepared_decoded", table)
    key = (decode, data)
    try:
        return table[key]  # type: ignore[no-any-return]
    except KeyError:
        pass
    value = decode(data)
    if len(table) >= MAX_DECODED:
        table.clear()
    table[key] = value
    return value


#: The largest peer chain (DER bytes, all certificates) :func:`peer_keys` keeps: with
#: :data:`MAX_ENTRIES`, at most about 1 MiB of peers' certificates per configuration.
MAX_PEER_CHAIN_BYTES = 16384


def peer_keys(config: TLSConfiguration) -> dict[bytes, Any]:
    """Peer leaf certificates (DER) -> (public key, its kind, its SubjectPublicKeyInfo,
    the chain first received with that leaf),
    see :meth:`siotls.core.handshake.Handshake.accept_peer_certificate` (bounded)."""
    table: dict[bytes, Any] | None = _kept(config, "_prepared_peer_keys")
    if table is None or len(table) > MAX_ENTRIES:
        table = {}
        _keep(config, "_prepared_peer_keys", table)
    return table


def chain_choices(config: TLSConfiguration) -> dict[Any, tuple[CertificateChain, int]]:
    """(server name, signature_algorithms, signature_algorithms_cert) -> (chain, scheme)
    as :func:`siotls.core.credentials.select_server_chain` chose them (bounded)."""
    table: dict[Any, tuple[CertificateChain, int]] | None = _kept(
        config, "_prepared_chain_choices")
    if table is None or len(table) > MAX_ENTRIES:
        table = {}
        _keep(config, "_prepared_chain_choices", table)
    return table


def certificate_messages(config: TLSConfiguration) -> dict[Any, bytes]:
    """Our encoded Certificate messages, by whatever :meth:`Handshake.send_certificate`
    keys them with (bounded: cleared past :data:`MAX_ENTRIES`)."""
    table: dict[Any, bytes] | None = _kept(config, "_prepared_certificates")
    if table is None or len(table) > MAX_ENTRIES:
        table = {}
        _keep(config, "_prepared_certificates", table)
    return table
