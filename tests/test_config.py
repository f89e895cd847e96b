"""TLSConfiguration validation, the crypto backend switch, and server_hostname handling."""

from __future__ import annotations

import warnings

import pytest

import siotls
from certs import make_ca
from siotls import InsecureWarning, TLSConfiguration, TLSConnection, TLSUsageError
from siotls.core.extensions import decode_server_name
from siotls.core.messages import parse_client_hello
from siotls.iana import CipherSuites, ExtensionType, NamedGroup


def test_defaults_are_secure() -> None:
    ca = make_ca()
    config = TLSConfiguration("client", truststore=ca.truststore())
    assert config.cipher_suites[0] == CipherSuites.TLS_AES_128_GCM_SHA256
    assert config.key_exchanges[0] == NamedGroup.X25519MLKEM768
    assert NamedGroup.x25519 in config.key_exchanges
    assert config.middlebox_compatibility
    assert config.record_padding is None
    assert not config.require_peer_authentication


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"side": "both"}, "side must be"),
    ({"cipher_suites": [0x1304]}, "cipher_suites: unsupported"),
    ({"cipher_suites": []}, "cannot be empty"),
    ({"key_exchanges": [NamedGroup.x25519, NamedGroup.x25519]}, "lists a value twice"),
    ({"key_exchanges": [NamedGroup.ffdhe2048]}, "unsupported"),
    ({"signature_algorithms": [0x0401]}, "unsupported"),
    ({"alpn": []}, "at least one protocol"),
    ({"alpn": [b""]}, "1 to 255 bytes"),
    ({"alpn": [b"h2", b"h2"]}, "twice"),
    ({"max_fragment_size": 20000}, "max_fragment_size"),
    ({"private_key": b"x"}, "go together"),
])
def test_invalid_configurations(kwargs: dict[str, object], message: str) -> None:
    kwargs = {"side": "client", **kwargs}
    with warnings.catch_warnings(), pytest.raises(ValueError, match=message):
        warnings.simplefilter("ignore", InsecureWarning)
        TLSConfiguration(**kwargs)  # type: ignore[arg-type]


def test_server_needs_credentials_that_match() -> None:
    leaf, other = make_ca().issue(), make_ca().issue(("other.example",))
    with pytest.raises(ValueError, match="needs a private_key"):
        TLSConfiguration("server")
    with pytest.raises(ValueError, match="does not match"):
        TLSConfiguration("server", private_key=other.key_der, certificate_chain=leaf.chain_der)
    with pytest.raises(ValueError, match="not a DER private key"):
        TLSConfiguration("server", private_key=b"junk", certificate_chain=leaf.chain_der)
    with pytest.raises(ValueError, match="needs a truststore"):
        TLSConfiguration("server", private_key=leaf.key_der, certificate_chain=leaf.chain_der,
                         require_peer_authentication=True)


def test_no_truststore_warns() -> None:
    with pytest.warns(InsecureWarning, match="does not verify"):
        TLSConfiguration("client")


def test_crypto_install() -> None:
    siotls.crypto.install("openssl")
    assert siotls.crypto.installed() == "openssl"
    with pytest.raises(ValueError, match="unknown crypto backend 'nss'"):
        siotls.crypto.install("nss")  # tests/test_backends.py tests 'hacl'
    assert siotls.crypto.installed() == "openssl"


def sni(server_hostname: str) -> str | None:
    conn = TLSConnection(TLSConfiguration("client", truststore=make_ca().truststore()),
                         server_hostname=server_hostname)
    conn.initiate_connection()
    hello = parse_client_hello(conn.data_to_send()[9:])
    data = hello.extensions.get(ExtensionType.SERVER_NAME)
    return None if data is None else decode_server_name(data)


def test_server_name_indication() -> None:
    assert sni("localhost") == "localhost"
    assert sni("localhost.") == "localhost"  # RFC 6066: no trailing dot
    assert sni("bücher.example") == "xn--bcher-kva.example"  # IDNA
    assert sni("127.0.0.1") is None  # never for IP literals
    assert sni("::1") is None


@pytest.mark.parametrize("name", ["a" * 64 + ".example", "", "."])
def test_invalid_server_hostname_is_a_usage_error(name: str) -> None:
    config = TLSConfiguration("client", truststore=make_ca().truststore())
    with pytest.raises(TLSUsageError, match="invalid server_hostname"):
        TLSConnection(config, server_hostname=name)


def test_server_hostname_on_a_server_is_a_usage_error() -> None:
    leaf = make_ca().issue()
    config = TLSConfiguration("server", private_key=leaf.key_der,
                              certificate_chain=leaf.chain_der)
    with pytest.raises(TLSUsageError, match="for clients"):
        TLSConnection(config, server_hostname="localhost")


def test_a_client_that_checks_names_needs_server_hostname() -> None:
    config = TLSConfiguration("client", truststore=make_ca().truststore())
    with pytest.raises(TLSUsageError, match="server_hostname is needed"):
        TLSConnection(config)


def test_check_hostname_off_verifies_the_chain_for_any_name_and_sends_sni() -> None:
    from helpers import handshake, server_config

    ca = make_ca()
    with pytest.warns(InsecureWarning, match="any name"):
        config = TLSConfiguration("client", truststore=ca.truststore(), check_hostname=False)
    client = TLSConnection(config, server_hostname="not-in-the-certificate.example")
    server = TLSConnection(server_config(ca.issue(("localhost",))))
    client.initiate_connection()
    server.initiate_connection()
    handshake(client, server)
    assert client.nconfig.peer_verified
    assert server.nconfig.server_name == "not-in-the-certificate.example"
    # ... but the chain is still verified.
    with pytest.warns(InsecureWarning):
        config = TLSConfiguration("client", truststore=make_ca(name="siotls other CA")
                                  .truststore(), check_hostname=False)
    client = TLSConnection(config, server_hostname="localhost")
    server = TLSConnection(server_config(ca.issue(("localhost",))))
    client.initiate_connection()
    server.initiate_connection()
    with pytest.raises(siotls.errors.UnknownCA):
        handshake(client, server)
