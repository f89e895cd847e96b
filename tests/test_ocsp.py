"""OCSP stapling (RFC 8446 section 4.4.2.1, RFC 6066 section 8; siotls.core.ocsp):
the server staples, the client asks, exposes and checks; in memory; against
``openssl s_client -status`` and ``openssl s_server -status_file``: test_ocsp_interop.py."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from certs import CA, Leaf, make_ca, utcnow
from helpers import configured_pair, connected_pair, flow, handshake
from ocsp_responses import delegated_responder, ocsp_response, unsuccessful_response
from siotls import CertificateChain, TLSConfiguration, TLSConnection
from siotls.core import ocsp
from siotls.core.errors import BadCertificateStatusResponse, DecodeError, TLSPeerAlert
from siotls.core.messages import parse_client_hello
from siotls.iana import AlertDescription, ExtensionType


def root() -> CA:
    return make_ca("ecdsa-p256", "siotls OCSP root")


def leaf() -> Leaf:
    return root().issue(("localhost",))


def server_config(response: bytes | None, the_leaf: Leaf | None = None,
                  **kwargs: Any) -> TLSConfiguration:
    the_leaf = the_leaf or leaf()
    return TLSConfiguration("server", private_key=the_leaf.key_der,
                            certificate_chain=the_leaf.chain_der, ocsp_response=response,
                            **kwargs)


def client_config(mode: str, ca: CA | None = None, **kwargs: Any) -> TLSConfiguration:
    return TLSConfiguration("client", truststore=(ca or root()).truststore(),
                            ocsp_stapling=mode, **kwargs)  # type: ignore[arg-type]


def refused(client: TLSConfiguration, server: TLSConfiguration) -> BadCertificateStatusResponse:
    """The client refuses the server's flight; the server gets the alert."""
    c, s = configured_pair(client, server)
    flow(c, s)
    with pytest.raises(BadCertificateStatusResponse) as info:
        flow(s, c)
    with pytest.raises(TLSPeerAlert) as peer:
        flow(c, s)
    assert peer.value.description == AlertDescription.BAD_CERTIFICATE_STATUS_RESPONSE
    return info.value


# ---------------------------------------------------------------------- stapling


@pytest.mark.parametrize("mode", ["request", "check", "require"])
def test_good_response_stapled_and_exposed(mode: str) -> None:
    response = ocsp_response(leaf())
    c, _ = configured_pair(client_config(mode), server_config(response))
    assert parse_client_hello(c.data_to_send()[9:]).extensions[ExtensionType.STATUS_REQUEST] \
        == b"\x01\x00\x00\x00\x00"
    client, _ = connected_pair(client_config(mode), server_config(response))
    assert client.nconfig.peer_ocsp_response == response
    assert client.nconfig.peer_ocsp_status == "good"


def test_nothing_asked_nothing_stapled() -> None:
    c, s = configured_pair(client_config("off"), server_config(ocsp_response(leaf())))
    data = c.data_to_send()
    assert ExtensionType.STATUS_REQUEST not in parse_client_hello(data[9:]).extensions
    s.receive_data(data)
    handshake(c, s)
    assert c.nconfig.peer_ocsp_response is None
    assert c.nconfig.peer_ocsp_status is None


def test_asked_but_none_configured() -> None:
    c, _ = connected_pair(client_config("check"), server_config(None))
    assert c.nconfig.peer_ocsp_response is None
    error = refused(client_config("require"), server_config(None))
    assert error.reason == "no_ocsp_response"


def test_request_mode_does_not_judge() -> None:
    response = ocsp_response(leaf(), status="revoked")
    client, _ = connected_pair(client_config("request"), server_config(response))
    assert client.nconfig.peer_ocsp_status == "revoked"


def test_each_chain_staples_its_own_response() -> None:
    other = root().issue(("other.test",))
    response, other_response = ocsp_response(leaf()), ocsp_response(other)
    config = server_config(response, certificate_chains=[
        CertificateChain(other.key_der, other.chain_der, ocsp_response=other_response)])
    c = TLSConnection(client_config("check"), server_hostname="other.test")
    s = TLSConnection(config)
    c.initiate_connection()
    s.initiate_connection()
    handshake(c, s)
    assert c.nconfig.peer_ocsp_response == other_response


def test_intermediate_issuer_and_delegated_responder() -> None:
    intermediate = root().intermediate()
    the_leaf = root().issue(("localhost",), intermediate=intermediate)
    for response in (ocsp_response(the_leaf, issuer=intermediate),
                     ocsp_response(the_leaf, issuer=intermediate, by_key=True),
                     ocsp_response(the_leaf, issuer=intermediate,
                                   responder=delegated_responder(intermediate))):
        client, _ = connected_pair(client_config("require"), server_config(response, the_leaf))
        assert client.nconfig.peer_ocsp_status == "good"


# ------------------------------------------------------------------ bad responses


def _other_ca() -> CA:
    return make_ca("ecdsa-p256", "siotls OCSP stranger")


def _case(name: str) -> bytes:
    now = utcnow()
    the_leaf = leaf()
    stranger = _other_ca()
    return {
        "ocsp_revoked": lambda: ocsp_response(the_leaf, status="revoked"),
        "ocsp_unknown": lambda: ocsp_response(the_leaf, status="unknown"),
        "ocsp_unsuccessful": unsuccessful_response,
        "ocsp_expired": lambda: ocsp_response(
            the_leaf, this_update=now - datetime.timedelta(days=3),
            next_update=now - datetime.timedelta(days=1)),
        "ocsp_not_yet_valid": lambda: ocsp_response(
            the_leaf, this_update=now + datetime.timedelta(hours=2)),
        "ocsp_wrong_certificate": lambda: ocsp_response(
            the_leaf, about=root().issue(("other.test",)).cert),
        # signed by a CA that did not issue the leaf, naming itself
        "ocsp_unauthorized_responder": lambda: ocsp_response(
            the_leaf, responder=(stranger.cert, stranger.key)),
        # a responder certificate from the issuer, without id-kp-OCSPSigning
        "no_ocsp_signing": lambda: ocsp_response(
            the_leaf, responder=delegated_responder(root(), ocsp_signing=False)),
        # the issuer's response with its signature's last byte changed
        "ocsp_bad_signature": lambda: _tampered(ocsp_response(the_leaf)),
    }[name]()


def _tampered(response: bytes) -> bytes:
    """No certificates in the response: its DER ends with the signature's bytes."""
    return response[:-1] + bytes((response[-1] ^ 1,))


@pytest.mark.parametrize("case", [
    "ocsp_revoked", "ocsp_unknown", "ocsp_unsuccessful", "ocsp_expired", "ocsp_not_yet_valid",
    "ocsp_wrong_certificate", "ocsp_unauthorized_responder", "no_ocsp_signing",
    "ocsp_bad_signature",
])
def test_bad_response_refused(case: str) -> None:
    response = _case(case)
    error = refused(client_config("check"), server_config(response))
    expected = "ocsp_unauthorized_responder" if case == "no_ocsp_signing" else case
    assert error.reason == expected
    assert error.reason in ocsp.REASONS


def test_expiry_by_the_configured_clock() -> None:
    """nextUpdate is judged by config.clock(), not the machine's clock."""
    response = ocsp_response(leaf())  # next_update: in a day
    later = (utcnow() + datetime.timedelta(days=3)).timestamp()
    error = refused(client_config("check", clock=lambda: later), server_config(response))
    assert error.reason == "ocsp_expired"
    earlier = (utcnow() - datetime.timedelta(hours=3)).timestamp()
    error = refused(client_config("check", clock=lambda: earlier), server_config(response))
    assert error.reason == "ocsp_not_yet_valid"


def test_check_response_directly() -> None:
    the_leaf = leaf()
    path = [the_leaf.cert, root().cert]
    assert ocsp.check_response(ocsp_response(the_leaf), path, utcnow()) == "good"
    with pytest.raises(BadCertificateStatusResponse) as info:
        ocsp.check_response(b"\x30\x03\x0a\x01\x00", path, utcnow())
    assert info.value.reason == "ocsp_malformed"


# ------------------------------------------------------------------------ codecs


def test_codecs() -> None:
    assert ocsp.decode_status_request(ocsp.encode_status_request())
    assert not ocsp.decode_status_request(b"\x02\x00\x00\x00\x00")  # another type: ignored
    assert ocsp.decode_status_request(b"\x01\x00\x04\x00\x02ab\x00\x00")
    assert ocsp.decode_certificate_status(ocsp.encode_certificate_status(b"x")) == b"x"


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x00\x01", b"\x01\x00\x00\x00\x00\x00",
                                  b"\x01\x00\x02\x00\x00\x00\x00"])
def test_status_request_malformed(data: bytes) -> None:
    with pytest.raises(DecodeError):
        ocsp.decode_status_request(data)


@pytest.mark.parametrize("data", [b"", b"\x01\x00\x00\x00", b"\x01\x00\x00\x02a",
                                  b"\x01\x00\x00\x01ab"])
def test_certificate_status_malformed(data: bytes) -> None:
    with pytest.raises(DecodeError):
        ocsp.decode_certificate_status(data)


def test_configuration_checks() -> None:
    with pytest.raises(ValueError, match="DER OCSP response"):
        server_config(b"not an OCSP response")
    with pytest.raises(ValueError, match="truststore"):
        TLSConfiguration("client", ocsp_stapling="check")
    with pytest.raises(ValueError, match="client setting"):
        server_config(None, ocsp_stapling="request")
    with pytest.raises(ValueError, match="server setting"):
        client_config("off", ocsp_response=ocsp_response(leaf()))
    with pytest.raises(ValueError, match="ocsp_stapling must be"):
        client_config("sometimes")
    with pytest.raises(ValueError):
        CertificateChain(leaf().key_der, leaf().chain_der, ocsp_response=b"junk")


def test_stapled_response_in_a_compressed_certificate() -> None:
    """RFC 8879: the leaf's CertificateEntry extensions travel compressed too."""
    response = ocsp_response(leaf())
    client, _ = connected_pair(
        client_config("require", certificate_compression=["zlib"]),
        server_config(response, certificate_compression=["zlib"]))
    assert client.nconfig.peer_certificate_compression == "zlib"
    assert client.nconfig.peer_ocsp_response == response
