"""Raw public keys (RFC 7250; siotls.core.rawkeys): server_certificate_type and
client_certificate_type, both directions, mixed with X.509; in memory. Against
GnuTLS: test_raw_public_keys_interop.py."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from certs import _key_der, generate_key, make_ca
from helpers import configured_pair, connected_pair, flow
from siotls import TLSConfiguration, TLSConnection
from siotls.core import rawkeys
from siotls.core.errors import (
    CertificateUnknown,
    DecodeError,
    IllegalParameter,
    TLSPeerAlert,
    UnsupportedCertificate,
)
from siotls.core.messages import parse_client_hello
from siotls.iana import AlertDescription, CertificateType, ExtensionType


def keypair(key_type: str = "ecdsa-p256") -> tuple[bytes, bytes]:
    """A fresh ``(private key DER, SubjectPublicKeyInfo DER)``."""
    key = generate_key(key_type)
    return _key_der(key), rawkeys.spki_of(key)


def raw_server(key: bytes, **kwargs: Any) -> TLSConfiguration:
    return TLSConfiguration("server", private_key=key, send_raw_public_key=True, **kwargs)


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "ed25519",
                                      "ed448"])
def test_server_raw_public_key(key_type: str) -> None:
    key, spki = keypair(key_type)
    client, server = connected_pair(TLSConfiguration("client", peer_public_keys=[spki]),
                               raw_server(key))
    assert client.nconfig.peer_certificate_type == "raw_public_key"
    assert client.nconfig.peer_public_key == spki
    assert client.nconfig.peer_verified
    assert client.nconfig.peer_certificate_chain == ()
    client.send_data(b"over a raw key")
    flow(client, server)
    assert server.data_to_read() == b"over a raw key"


def test_offer_on_the_wire() -> None:
    _, spki = keypair()
    ca = make_ca()
    c = TLSConnection(TLSConfiguration("client", peer_public_keys=[spki],
                                       truststore=ca.truststore()), server_hostname="localhost")
    c.initiate_connection()
    exts = parse_client_hello(c.data_to_send()[9:]).extensions
    assert exts[ExtensionType.SERVER_CERTIFICATE_TYPE] == b"\x02\x02\x00"  # RPK, then X.509
    assert ExtensionType.CLIENT_CERTIFICATE_TYPE not in exts
    c = TLSConnection(TLSConfiguration("client", truststore=ca.truststore()),
                      server_hostname="localhost")
    c.initiate_connection()
    exts = parse_client_hello(c.data_to_send()[9:]).extensions
    assert ExtensionType.SERVER_CERTIFICATE_TYPE not in exts


def test_mixed_with_x509() -> None:
    """A server with a certificate that also allows its raw key, clients of each kind."""
    ca = make_ca()
    leaf = ca.issue()
    spki = rawkeys.spki_of(leaf.key)
    server = TLSConfiguration("server", private_key=leaf.key_der,
                              certificate_chain=leaf.chain_der, send_raw_public_key=True)
    both = TLSConfiguration("client", truststore=ca.truststore(), peer_public_keys=[spki])
    x509_only = TLSConfiguration("client", truststore=ca.truststore())
    client, _ = connected_pair(both, server)
    assert client.nconfig.peer_certificate_type == "raw_public_key"
    client, _ = connected_pair(x509_only, server)
    assert client.nconfig.peer_certificate_type == "x509"
    assert client.nconfig.peer_public_key == spki
    assert client.nconfig.peer_certificate_chain == tuple(leaf.chain_der)
    # a server without send_raw_public_key answers X.509 to a client allowing both
    plain = TLSConfiguration("server", private_key=leaf.key_der,
                             certificate_chain=leaf.chain_der)
    client, _ = connected_pair(both, plain)
    assert client.nconfig.peer_certificate_type == "x509"
    assert client.nconfig.peer_verified_path


def _refused_by_server(client: TLSConfiguration, server: TLSConfiguration,
                       error: type[Exception]) -> Any:
    c, s = configured_pair(client, server)
    with pytest.raises(error) as info:
        flow(c, s)
    with pytest.raises(TLSPeerAlert) as peer:
        flow(s, c)
    return info.value, peer.value


def test_nothing_in_common() -> None:
    ca = make_ca()
    leaf = ca.issue()
    _, spki = keypair()
    x509_server = TLSConfiguration("server", private_key=leaf.key_der,
                                   certificate_chain=leaf.chain_der)
    error, peer = _refused_by_server(TLSConfiguration("client", peer_public_keys=[spki]),
                                     x509_server, UnsupportedCertificate)
    assert error.reason == "certificate_type"
    assert peer.description == AlertDescription.UNSUPPORTED_CERTIFICATE
    key, _ = keypair()
    # a client that wants X.509 only, a server with a raw key only
    _refused_by_server(TLSConfiguration("client", truststore=ca.truststore()),
                       raw_server(key), UnsupportedCertificate)


def test_untrusted_key() -> None:
    key, _ = keypair()
    _, other = keypair()
    c, s = configured_pair(TLSConfiguration("client", peer_public_keys=[other]), raw_server(key))
    flow(c, s)
    with pytest.raises(CertificateUnknown) as info:
        flow(s, c)
    assert info.value.reason == "untrusted_public_key"
    with pytest.raises(TLSPeerAlert) as peer:
        flow(c, s)
    assert peer.value.description == AlertDescription.CERTIFICATE_UNKNOWN


def test_client_raw_public_key_both_ways() -> None:
    server_key, server_spki = keypair("ed25519")
    client_key, client_spki = keypair("rsa-2048")
    client = TLSConfiguration("client", peer_public_keys=[server_spki], private_key=client_key,
                              send_raw_public_key=True)
    server = raw_server(server_key, peer_public_keys=[client_spki],
                        require_peer_authentication=True)
    c, s = connected_pair(client, server)
    assert s.nconfig.peer_certificate_type == "raw_public_key"
    assert s.nconfig.peer_public_key == client_spki
    assert s.nconfig.peer_verified
    assert c.nconfig.peer_certificate_type == "raw_public_key"
    # a raw client key the server does not know
    stranger = TLSConfiguration("client", peer_public_keys=[server_spki],
                                private_key=keypair()[0], send_raw_public_key=True)
    c, s = configured_pair(stranger, server)
    flow(c, s)
    flow(s, c)
    with pytest.raises(CertificateUnknown):
        flow(c, s)


def test_client_raw_key_to_an_x509_server() -> None:
    ca = make_ca()
    leaf = ca.issue()
    client_key, client_spki = keypair()
    server = TLSConfiguration("server", private_key=leaf.key_der,
                              certificate_chain=leaf.chain_der, peer_public_keys=[client_spki],
                              request_peer_authentication=True)
    client = TLSConfiguration("client", truststore=ca.truststore(), private_key=client_key,
                              send_raw_public_key=True)
    c, s = connected_pair(client, server)
    assert c.nconfig.peer_certificate_type == "x509"
    assert s.nconfig.peer_certificate_type == "raw_public_key"
    assert s.nconfig.peer_verified
    # a client that offers X.509 only to a server that takes raw keys only
    cleaf = ca.issue(("client.test",), client=True)
    x509_client = TLSConfiguration("client", truststore=ca.truststore(),
                                   private_key=cleaf.key_der, certificate_chain=cleaf.chain_der)
    c, s = configured_pair(x509_client, server)
    flow(c, s)
    flow(s, c)
    with pytest.raises(UnsupportedCertificate):
        flow(c, s)


def test_codecs_and_checks() -> None:
    assert rawkeys.decode_types(rawkeys.encode_types([2, 0]), "x") == [2, 0]
    assert rawkeys.decode_type(rawkeys.encode_type(2), "x") == 2
    for data in (b"", b"\x00", b"\x02\x02", b"\x01\x02\x00"):
        with pytest.raises(DecodeError):
            rawkeys.decode_types(data, "x")
    for data in (b"", b"\x02\x00"):
        with pytest.raises(DecodeError):
            rawkeys.decode_type(data, "x")
    _, spki = keypair()
    config = TLSConfiguration("client", peer_public_keys=[spki])
    with pytest.raises(IllegalParameter, match="never offered"):
        rawkeys.client_check(config, {ExtensionType.SERVER_CERTIFICATE_TYPE: b"\x00"})
    with pytest.raises(IllegalParameter, match="never offered"):
        rawkeys.client_check(config, {ExtensionType.SERVER_CERTIFICATE_TYPE: b"\x02",
                                      ExtensionType.CLIENT_CERTIFICATE_TYPE: b"\x02"})
    with pytest.raises(UnsupportedCertificate):
        rawkeys.client_check(config, {})
    assert rawkeys.client_check(config, {ExtensionType.SERVER_CERTIFICATE_TYPE: b"\x02"}) \
        == (CertificateType.RAW_PUBLIC_KEY, CertificateType.X509)


def test_configuration() -> None:
    key, spki = keypair()
    with pytest.raises(ValueError, match="send_raw_public_key"):
        TLSConfiguration("server", private_key=key)
    with pytest.raises(ValueError, match="SubjectPublicKeyInfo"):
        TLSConfiguration("client", peer_public_keys=[b"junk"])
    with pytest.raises(ValueError, match="send_raw_public_key needs a private_key"):
        TLSConfiguration("client", peer_public_keys=[spki], send_raw_public_key=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # trusted keys: no InsecureWarning
        config = TLSConfiguration("client", peer_public_keys=[spki])
    normalized = serialization.load_der_public_key(spki).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert config.peer_public_keys == (normalized,)


def test_post_handshake_auth_with_a_raw_key() -> None:
    """RFC 7250 negotiated for the client: a post-handshake answer is the raw key too."""
    server_key, server_spki = keypair()
    client_key, client_spki = keypair("ed25519")
    client = TLSConfiguration("client", peer_public_keys=[server_spki], private_key=client_key,
                              send_raw_public_key=True, post_handshake_auth=True)
    server = raw_server(server_key, peer_public_keys=[client_spki],
                        request_peer_authentication=True)
    c, s = connected_pair(client, server)
    assert s.nconfig.peer_certificate_type == "raw_public_key"
    s.request_client_certificate()
    flow(s, c)
    flow(c, s)
    assert not s.client_certificate_pending
    assert s.nconfig.post_handshake_authentications == 1
    assert s.nconfig.peer_public_key == client_spki
    assert s.nconfig.peer_certificate_type == "raw_public_key"
    # a server that does not know the key refuses the answer
    stranger = raw_server(server_key, peer_public_keys=[keypair()[1], client_spki],
                          request_peer_authentication=True)
    c, s = connected_pair(client, stranger)
    object.__setattr__(s.config, "peer_public_keys", (keypair()[1],))  # forget the client
    s.request_client_certificate()
    flow(s, c)
    with pytest.raises(CertificateUnknown):
        flow(c, s)


def test_raw_client_key_not_asked_for() -> None:
    """A server that asks no client certificate omits client_certificate_type: fine."""
    server_key, server_spki = keypair()
    client = TLSConfiguration("client", peer_public_keys=[server_spki], private_key=keypair()[0],
                              send_raw_public_key=True)
    assert rawkeys.client_check(client, {ExtensionType.SERVER_CERTIFICATE_TYPE: b"\x02"}) \
        == (CertificateType.RAW_PUBLIC_KEY, CertificateType.X509)
    c, s = connected_pair(client, raw_server(server_key))
    assert c.is_connected()
    assert s.nconfig.peer_certificate_type is None
