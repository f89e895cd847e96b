"""The bad-certificate matrix (tests/pki_matrix.py) through ``verify_chain`` and
through in-memory handshakes, for both validations (web PKI and path builder), for
a server's chain and a client's."""

from __future__ import annotations

import datetime

import pytest

from certs import generate_key
from helpers import flow
from pki_matrix import PROFILES, Case, bad_chains, case_ids, good_chain, key_der, roots
from siotls import CertificateChain, TLSConfiguration, TLSConnection
from siotls.compat.errors import translate
from siotls.core import credentials
from siotls.core.errors import DecryptError, TLSFatalAlert, TLSPeerAlert
from siotls.trust import verify_chain

SERVER_CASES = [(profile, case) for profile in PROFILES for case in bad_chains(profile)]
CLIENT_CASES = [(profile, case) for profile in PROFILES
                for case in bad_chains(profile, "client")]


def _ids(cases: list[tuple[str, Case]]) -> list[str]:
    return [f"{profile}-{name}" for (profile, _), name
            in zip(cases, case_ids(tuple(case for _, case in cases)), strict=True)]


def run_until_failure(first: TLSConnection, second: TLSConnection
                      ) -> tuple[TLSFatalAlert, TLSPeerAlert]:
    """Run a handshake until one side fails; that side's error, the other's."""
    first.initiate_connection()
    second.initiate_connection()
    pair = [(first, second), (second, first)]
    for _ in range(6):
        for sender, receiver in pair:
            try:
                flow(sender, receiver)
            except TLSFatalAlert as error:
                try:
                    flow(receiver, sender)
                except TLSPeerAlert as peer_error:
                    return error, peer_error
                raise AssertionError("the alert did not reach the peer") from error
    raise AssertionError("the handshake did not fail")


def test_matrix_covers_issue_9() -> None:
    expected = {"expired", "not_yet_valid", "hostname_mismatch", "ip_mismatch",
                "unknown_issuer", "not_a_ca", "path_length", "bad_eku", "name_constraints",
                "self_signed", "bad_signature"}
    for profile in PROFILES:
        assert {case.reason for case in bad_chains(profile)} == expected
        assert len(bad_chains(profile)) == 12  # unknown_issuer twice: CA, intermediate


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("purpose", ["server", "client"])
def test_good_chain_validator(profile: str, purpose: str) -> None:
    """The good chain of each profile goes through the validation it is named for."""
    root, intermediate = roots(profile)
    leaf = good_chain(profile, purpose)
    name = "localhost" if purpose == "server" else None
    path = verify_chain(root.truststore(), leaf.chain_der, server_name=name,
                        purpose=purpose)  # type: ignore[arg-type]
    assert path == [leaf.cert_der, intermediate.cert_der, root.cert_der]
    assert path.validator == profile


@pytest.mark.parametrize(("profile", "case"), SERVER_CASES, ids=_ids(SERVER_CASES))
def test_verify_chain_server(profile: str, case: Case) -> None:
    with pytest.raises(case.alert) as info:
        verify_chain(case.truststore, case.chain, server_name=case.server_name)
    assert type(info.value) is case.alert
    assert info.value.reason == case.reason
    # and the same without a name, except for the name cases themselves
    if case.reason not in ("hostname_mismatch", "ip_mismatch"):
        with pytest.raises(case.alert) as info:
            verify_chain(case.truststore, case.chain)
        assert info.value.reason == case.reason
    else:
        assert verify_chain(case.truststore, case.chain).validator == profile


@pytest.mark.parametrize(("profile", "case"), CLIENT_CASES, ids=_ids(CLIENT_CASES))
def test_verify_chain_client(profile: str, case: Case) -> None:
    with pytest.raises(case.alert) as info:
        verify_chain(case.truststore, case.chain, purpose="client")
    assert type(info.value) is case.alert
    assert info.value.reason == case.reason


@pytest.mark.parametrize(("profile", "case"), SERVER_CASES, ids=_ids(SERVER_CASES))
def test_handshake_server_chain(profile: str, case: Case) -> None:
    """The client refuses the server's chain, sends the alert, raises with the reason."""
    server = TLSConnection(TLSConfiguration(
        "server", private_key=case.key_der, certificate_chain=case.chain))
    client = TLSConnection(TLSConfiguration("client", truststore=case.truststore),
                           server_hostname=case.server_name)
    error, peer_error = run_until_failure(client, server)
    assert type(error) is case.alert
    assert error.reason == case.reason
    assert peer_error.description == case.alert.description
    assert client.nconfig.peer_chain_validator is None


@pytest.mark.parametrize(("profile", "case"), CLIENT_CASES, ids=_ids(CLIENT_CASES))
def test_handshake_client_chain(profile: str, case: Case, monkeypatch: pytest.MonkeyPatch
                                ) -> None:
    """The server refuses the client's chain, sends the alert, raises with the reason.

    The server sends no certificate_authorities here: the siotls client would
    otherwise keep the chains of unknown CAs to itself (as tested below)."""
    monkeypatch.setattr(credentials, "MAX_AUTHORITIES", 0)
    server_leaf = good_chain(profile)
    server = TLSConnection(TLSConfiguration(
        "server", private_key=server_leaf.key_der, certificate_chain=server_leaf.chain_der,
        truststore=case.truststore, require_peer_authentication=True))
    client = TLSConnection(TLSConfiguration(
        "client", truststore=roots(profile)[0].truststore(),
        private_key=case.key_der, certificate_chain=case.chain), server_hostname="localhost")
    error, peer_error = run_until_failure(client, server)
    assert type(error) is case.alert
    assert error.reason == case.reason
    assert peer_error.description == case.alert.description


@pytest.mark.parametrize("profile", PROFILES)
def test_handshake_good_chains(profile: str) -> None:
    """Mutual authentication with the good chains; nconfig says which validation."""
    root, _ = roots(profile)
    server_leaf, client_leaf = good_chain(profile), good_chain(profile, "client")
    server = TLSConnection(TLSConfiguration(
        "server", private_key=server_leaf.key_der, certificate_chain=server_leaf.chain_der,
        truststore=root.truststore(), require_peer_authentication=True))
    client = TLSConnection(TLSConfiguration(
        "client", truststore=root.truststore(), private_key=client_leaf.key_der,
        certificate_chain=client_leaf.chain_der), server_hostname="localhost")
    client.initiate_connection()
    server.initiate_connection()
    for _ in range(4):
        flow(client, server)
        flow(server, client)
    assert client.is_post_handshake() and server.is_post_handshake()
    assert client.nconfig.peer_chain_validator == profile
    assert server.nconfig.peer_chain_validator == profile
    assert server.nconfig.peer_certificate_chain == tuple(client_leaf.chain_der)
    assert server.nconfig.peer_verified and client.nconfig.peer_verified


@pytest.mark.parametrize("profile", PROFILES)
def test_handshake_certificate_verify_by_another_key(profile: str) -> None:
    """A server holding a good chain but signing with another key: decrypt_error."""
    leaf = good_chain(profile)
    config = TLSConfiguration("server", private_key=leaf.key_der,
                              certificate_chain=leaf.chain_der)
    # The configuration refuses a mismatched pair: swap the key behind its back (in the
    # cached chains the server picks from).
    impostor = CertificateChain.__new__(CertificateChain)
    object.__setattr__(impostor, "private_key", key_der(generate_key("ecdsa-p256")))
    object.__setattr__(impostor, "certificate_chain", tuple(leaf.chain_der))
    config.__dict__["all_certificate_chains"] = (impostor,)
    client = TLSConnection(TLSConfiguration("client", truststore=roots(profile)[0].truststore()),
                           server_hostname="localhost")
    error, peer_error = run_until_failure(client, TLSConnection(config))
    assert type(error) is DecryptError
    assert error.reason == "bad_certificate_verify"
    assert peer_error.description == DecryptError.description
    assert client.nconfig.peer_chain_validator == profile  # the chain itself was fine


@pytest.mark.parametrize("profile", PROFILES)
def test_handshake_clock(profile: str) -> None:
    """The configuration's clock is the validation time of the handshake."""
    case = next(c for c in bad_chains(profile) if c.reason == "expired")
    back = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1.5)).timestamp()
    server = TLSConnection(TLSConfiguration(
        "server", private_key=case.key_der, certificate_chain=case.chain))
    client = TLSConnection(TLSConfiguration("client", truststore=case.truststore,
                                            clock=lambda: back), server_hostname="localhost")
    client.initiate_connection()
    server.initiate_connection()
    for _ in range(3):
        flow(client, server)
        flow(server, client)
    assert client.is_post_handshake()
    assert client.nconfig.peer_chain_validator == profile


#: The OpenSSL verify code siotls.compat gives each case of the matrix.
OPENSSL_VERIFY_CODES = {
    "expired": 10, "not_yet_valid": 9, "hostname_mismatch": 62, "ip_mismatch": 64,
    "unknown_issuer": 20, "not_a_ca": 24, "path_length": 25, "bad_eku": 26,
    "name_constraints": 47, "self_signed": 18, "bad_signature": 7,
}


@pytest.mark.parametrize(("profile", "case"), SERVER_CASES, ids=_ids(SERVER_CASES))
def test_compat_verify_codes(profile: str, case: Case) -> None:
    """siotls.compat turns each refusal into OpenSSL's verify code, by its reason."""
    with pytest.raises(TLSFatalAlert) as info:
        verify_chain(case.truststore, case.chain, server_name=case.server_name)
    translated = translate(info.value, case.server_name)
    assert translated.verify_code == OPENSSL_VERIFY_CODES[case.reason]  # type: ignore[attr-defined]
