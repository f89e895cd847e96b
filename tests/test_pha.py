"""Post-handshake client authentication (RFC 8446 section 4.6.2; siotls.core.pha):
in memory. Real peers (openssl s_client/s_server, gnutls-cli): test_pha_interop.py;
Python's ssl on either side: tests/test_compat_certs.py."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from certs import CA, Leaf, make_ca
from helpers import flow, handshake
from internals import internals
from siotls import TLSConfiguration, TLSConnection
from siotls.core.errors import (
    DecryptError,
    IllegalParameter,
    TLSPeerAlert,
    TLSUsageError,
    UnexpectedMessage,
    UnknownCA,
)
from siotls.core.messages import Finished, parse_client_hello
from siotls.iana import AlertDescription, ContentType, ExtensionType


def root() -> CA:
    return make_ca("ecdsa-p256", "siotls PHA root")


def client_leaf() -> Leaf:
    return root().issue(("client.test",), client=True)


def client_config(pha: bool = True, leaf: Leaf | None = None, **kwargs: Any
                  ) -> TLSConfiguration:
    leaf = leaf or client_leaf()
    return TLSConfiguration("client", truststore=root().truststore(), private_key=leaf.key_der,
                            certificate_chain=leaf.chain_der, post_handshake_auth=pha, **kwargs)


def server_config(**kwargs: Any) -> TLSConfiguration:
    leaf = root().issue(("localhost",))
    kwargs.setdefault("truststore", root().truststore())
    return TLSConfiguration("server", private_key=leaf.key_der, certificate_chain=leaf.chain_der,
                            **kwargs)


def connected(client: TLSConfiguration | None = None, server: TLSConfiguration | None = None
              ) -> tuple[TLSConnection, TLSConnection]:
    c = TLSConnection(client or client_config(), server_hostname="localhost")
    s = TLSConnection(server or server_config())
    c.initiate_connection()
    s.initiate_connection()
    handshake(c, s)
    return c, s


def test_offered_only_with_the_option() -> None:
    for pha in (True, False):
        c = TLSConnection(client_config(pha), server_hostname="localhost")
        c.initiate_connection()
        exts = parse_client_hello(c.data_to_send()[9:]).extensions
        assert (ExtensionType.POST_HANDSHAKE_AUTH in exts) is pha
        if pha:
            assert exts[ExtensionType.POST_HANDSHAKE_AUTH] == b""


def test_request_answered_with_data_flowing_both_ways() -> None:
    c, s = connected()
    assert s.nconfig.post_handshake_auth
    assert s.nconfig.peer_certificate_chain == ()
    assert not s.nconfig.peer_verified
    s.send_data(b"before the request")
    s.request_client_certificate()
    assert s.client_certificate_pending
    s.send_data(b"after the request")
    c.send_data(b"sent before the client saw it")
    flow(c, s)  # the client's data arrives while the request is pending
    assert s.data_to_read() == b"sent before the client saw it"
    assert s.client_certificate_pending
    flow(s, c)
    assert c.data_to_read() == b"before the requestafter the request"
    c.send_data(b"after the answer")
    flow(c, s)
    assert s.data_to_read() == b"after the answer"
    assert not s.client_certificate_pending
    assert s.nconfig.post_handshake_authentications == 1
    assert s.nconfig.peer_verified
    assert s.nconfig.peer_certificate_chain == tuple(client_leaf().chain_der)
    assert s.nconfig.peer_verified_path[0] == client_leaf().cert_der
    assert s.nconfig.peer_certificates[0].subject == client_leaf().cert.subject
    # again, with a key update of each side in between
    c.update_keys()
    s.request_client_certificate()
    flow(c, s)
    flow(s, c)
    flow(c, s)
    assert s.nconfig.post_handshake_authentications == 2
    c.send_data(b"still")
    flow(c, s)
    assert s.data_to_read() == b"still"
    assert c.is_connected() and s.is_connected()


def test_no_chain_that_fits_answers_empty() -> None:
    """The request's certificate_authorities name the server's CA, not the client's."""
    stranger = make_ca("ecdsa-p256", "siotls PHA stranger")
    leaf = stranger.issue(("client.test",), client=True)
    c, s = connected(client_config(leaf=leaf))
    s.request_client_certificate()
    flow(s, c)
    flow(c, s)
    assert s.nconfig.post_handshake_authentications == 1
    assert s.nconfig.peer_certificate_chain == ()
    assert not s.nconfig.peer_verified
    assert s.is_connected()


def test_untrusted_chain_fails() -> None:
    """A trust store too big for certificate_authorities: the client sends its chain."""
    stranger = make_ca("ecdsa-p256", "siotls PHA stranger")
    leaf = stranger.issue(("client.test",), client=True)
    # a request without certificate_authorities, made by a server with a big trust store
    big = server_config(truststore=_big_truststore())
    c, s = connected(client_config(leaf=leaf), big)
    s.request_client_certificate()
    flow(s, c)
    with pytest.raises(UnknownCA):
        flow(c, s)
    with pytest.raises(TLSPeerAlert) as peer:
        flow(s, c)
    assert peer.value.description == AlertDescription.UNKNOWN_CA


def _big_truststore() -> Any:
    from siotls.trust import TrustStore

    cas = [make_ca("ecdsa-p256", f"siotls PHA filler {n}").cert_der for n in range(70)]
    return TrustStore([root().cert_der, *cas])


def test_not_offered_never_asked() -> None:
    _, s = connected(client_config(pha=False))
    assert not s.nconfig.post_handshake_auth
    with pytest.raises(TLSUsageError, match="did not offer"):
        s.request_client_certificate()
    assert s.data_to_send() == b""
    assert s.is_connected()


def test_client_that_did_not_offer_refuses_a_request() -> None:
    c, s = connected(client_config(pha=False))
    internals(s).handshake.pha.offered = True  # a server that asks anyway
    # ... and kept a transcript to fork (a server drops it when PHA was not offered)
    internals(s).schedule._transcript = hashes.Hash(hashes.SHA256())
    s.request_client_certificate()
    with pytest.raises(UnexpectedMessage, match="did not offer"):
        flow(s, c)
    with pytest.raises(TLSPeerAlert) as peer:
        flow(c, s)
    assert peer.value.description == AlertDescription.UNEXPECTED_MESSAGE


def test_usage_errors() -> None:
    c, s = connected()
    with pytest.raises(TLSUsageError):
        c.request_client_certificate()
    s.request_client_certificate()
    with pytest.raises(TLSUsageError, match="pending"):
        s.request_client_certificate()
    fresh = TLSConnection(server_config())
    fresh.initiate_connection()
    with pytest.raises(TLSUsageError):
        fresh.request_client_certificate()
    with pytest.raises(ValueError, match="post_handshake_auth"):
        TLSConfiguration("client", truststore=root().truststore(), post_handshake_auth=True)
    c, s = connected(server=TLSConfiguration(
        "server", private_key=root().issue(("localhost",)).key_der,
        certificate_chain=root().issue(("localhost",)).chain_der))
    with pytest.raises(TLSUsageError, match="truststore"):
        s.request_client_certificate()


def test_unrequested_finished_is_unexpected() -> None:
    c, s = connected()
    internals(c).write_record(ContentType.HANDSHAKE, Finished(bytes(32)).serialize())
    with pytest.raises(UnexpectedMessage, match="not asked for"):
        flow(c, s)


def test_wrong_context_is_illegal() -> None:
    c, s = connected()
    s.request_client_certificate()
    flow(s, c)
    internals(s).handshake.pha._exchange.context = b"another context"
    with pytest.raises(IllegalParameter, match="certificate_request_context"):
        flow(c, s)


def test_wrong_finished_fails() -> None:
    c, s = connected()
    s.request_client_certificate()
    flow(s, c)
    # The server's view of the transcript differs: the Finished cannot match.
    internals(s).handshake.pha._exchange.update(b"x")
    with pytest.raises(DecryptError):
        flow(c, s)


