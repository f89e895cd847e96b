"""Session tickets, resumption and external PSKs, siotls with siotls (RFC 8446 2.2,
4.2.11, 4.6.1): tickets sent, sessions kept as bytes, resumed handshakes, ticket
keys shared and rotated, and every case that must fall back to a full handshake."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from certs import make_ca
from helpers import client_config, flow, handshake, server_config
from siotls import (
    ExternalPSK,
    InsecureWarning,
    TicketKey,
    TicketKeys,
    TLSConfiguration,
    TLSConnection,
    TLSSession,
    TLSUsageError,
)
from siotls.core import crypto, psk
from siotls.core.errors import DecryptError, HandshakeFailure, TLSPeerAlert
from siotls.core.keyschedule import KeySchedule
from siotls.core.messages import parse_client_hello
from siotls.core.tickets import (
    TicketState,
    format_key_file,
    open_ticket,
    parse_key_file,
    seal_ticket,
)
from siotls.iana import CipherSuites, NamedGroup, PskKeyExchangeMode
from siotls.iana import ExtensionType as ET
from siotls.tickets import load_key_file, read_key_file, rotate_key_file
from vectors import named

CA = make_ca()
LEAF = CA.issue()
CLIENT_LEAF = CA.issue(client=True)
KEYS = TicketKeys.generate(os.urandom)
#: a whole second near now (the test certificates are valid for a month around now)
T0 = float(int(time.time()))


def keys() -> TicketKeys:
    return TicketKeys.generate(os.urandom)


def server(**kwargs: Any) -> TLSConfiguration:
    kwargs.setdefault("ticket_keys", KEYS)
    return server_config(LEAF, **kwargs)


def client(**kwargs: Any) -> TLSConfiguration:
    return client_config(CA, **kwargs)


def connect(client_conf: TLSConfiguration, server_conf: TLSConfiguration,
            session: TLSSession | None = None, hostname: str | None = "localhost",
            ) -> tuple[TLSConnection, TLSConnection]:
    c = TLSConnection(client_conf, hostname, session=session)
    s = TLSConnection(server_conf)
    c.initiate_connection()
    s.initiate_connection()
    handshake(c, s)
    assert c.session_tickets == []  # the tickets come with the server's first data
    s.send_data(b"welcome")
    flow(s, c)
    assert c.data_to_read() == b"welcome"
    return c, s


def first_session(client_conf: TLSConfiguration | None = None,
                  server_conf: TLSConfiguration | None = None) -> TLSSession:
    c, s = connect(client_conf or client(), server_conf or server())
    assert not c.nconfig.session_resumed and not s.nconfig.session_resumed
    assert c.session is not None
    return c.session


def assert_resumed(c: TLSConnection, s: TLSConnection, resumed: bool = True) -> None:
    assert c.nconfig.session_resumed is resumed
    assert s.nconfig.session_resumed is resumed
    s.send_data(b"ping")
    flow(s, c)
    assert c.data_to_read() == b"ping"


# -- tickets sent -------------------------------------------------------------------

@pytest.mark.parametrize(("num_tickets", "expected"), [(None, 2), (0, 0), (1, 1), (5, 5)])
def test_number_of_tickets(num_tickets: int | None, expected: int) -> None:
    kwargs = {} if num_tickets is None else {"num_tickets": num_tickets}
    c, _ = connect(client(), server(**kwargs))
    assert len(c.session_tickets) == expected
    if expected:
        c2, _ = connect(client(), server(**kwargs), session=c.session)
        assert c2.nconfig.session_resumed
        assert len(c2.session_tickets) == 1  # one after a resumption


def test_tickets_are_distinct_and_each_resumes() -> None:
    c, _ = connect(client(), server())
    first, second = c.session_tickets
    assert first.ticket != second.ticket and first.psk != second.psk
    assert first.ticket_age_add != second.ticket_age_add
    for session in (first, second):
        assert_resumed(*connect(client(), server(), session=session))


def test_ticket_content_uses_the_configuration_randomness_and_clock() -> None:
    calls: list[int] = []

    def random_bytes(n: int) -> bytes:
        calls.append(n)
        return bytes(range(n))

    conf = server(random_bytes=random_bytes, clock=lambda: T0, num_tickets=1)
    c, _ = connect(client(clock=lambda: T0 + 1), conf)
    session = c.session
    assert session is not None
    assert session.ticket_age_add == int.from_bytes(bytes(range(4)), "big")
    assert session.received_at == T0 + 1
    state = open_ticket(KEYS, session.ticket)
    assert state is not None and state.created_at == T0
    assert session.ticket[16:28] == bytes(range(12))  # the AEAD nonce


# -- sessions ---------------------------------------------------------------------------

def test_session_round_trips_through_bytes() -> None:
    session = first_session()
    data = session.to_bytes()
    assert TLSSession.from_bytes(data) == session
    assert session.psk.hex() not in repr(session)
    assert_resumed(*connect(client(), server(), session=TLSSession.from_bytes(data)))


@pytest.mark.parametrize("cut", [0, 8, 20, -1])
def test_session_from_garbage_is_a_usage_error(cut: int) -> None:
    data = first_session().to_bytes()
    with pytest.raises(TLSUsageError):
        TLSSession.from_bytes(data[:cut])
    with pytest.raises(TLSUsageError):
        TLSSession.from_bytes(b"x" + data)


def test_resumed_connection_keeps_the_authentication_state() -> None:
    session = first_session()
    c, s = connect(client(), server(), session=session)
    assert_resumed(c, s)
    assert c.nconfig.peer_certificate_chain == tuple(LEAF.chain_der)
    assert c.nconfig.peer_verified
    assert c.nconfig.signature_algorithm is None and s.nconfig.signature_algorithm is None
    assert c.export_keying_material(b"x", b"", 16) == s.export_keying_material(b"x", b"", 16)


def test_resumed_handshake_sends_no_certificate() -> None:
    session = first_session()
    plain = client(certificate_compression=())  # the chain's size, uncompressed
    c = TLSConnection(plain, "localhost", session=session)
    s = TLSConnection(server())
    c.initiate_connection()
    s.initiate_connection()
    s.receive_data(c.data_to_send())
    resumed_flight = len(s.data_to_send())
    c2 = TLSConnection(plain, "localhost")
    s2 = TLSConnection(server())
    c2.initiate_connection()
    s2.initiate_connection()
    s2.receive_data(c2.data_to_send())
    assert resumed_flight < len(s2.data_to_send()) - len(b"".join(LEAF.chain_der))


def test_client_authentication_carries_over() -> None:
    auth_client = client(private_key=CLIENT_LEAF.key_der,
                         certificate_chain=CLIENT_LEAF.chain_der)
    auth_server = server(truststore=CA.truststore(), require_peer_authentication=True)
    session = first_session(auth_client, auth_server)
    c, s = connect(auth_client, auth_server, session=session)
    assert_resumed(c, s)
    assert s.nconfig.peer_certificate_chain == tuple(CLIENT_LEAF.chain_der)
    assert s.nconfig.peer_verified


def test_no_resumption_into_a_server_requiring_client_certificates() -> None:
    """A session without client authentication does not satisfy a server that requires it."""
    session = first_session()  # no client certificate
    auth_client = client(private_key=CLIENT_LEAF.key_der,
                         certificate_chain=CLIENT_LEAF.chain_der)
    auth_server = server(truststore=CA.truststore(), require_peer_authentication=True)
    c, s = connect(auth_client, auth_server, session=session)
    assert_resumed(c, s, resumed=False)
    assert s.nconfig.peer_certificate_chain == tuple(CLIENT_LEAF.chain_der)


def test_resumption_with_another_alpn() -> None:
    session = first_session(client(alpn=[b"h2"]), server(alpn=[b"h2", b"http/1.1"]))
    assert session.alpn == b"h2"
    c, s = connect(client(alpn=[b"http/1.1"]), server(alpn=[b"h2", b"http/1.1"]),
                   session=session)
    assert_resumed(c, s)
    assert c.nconfig.alpn == s.nconfig.alpn == b"http/1.1"


def test_resumption_after_hello_retry_request() -> None:
    hrr_server = server(key_exchanges=[NamedGroup.secp256r1])
    session = first_session(client(), server())
    c, s = connect(client(key_exchanges=[NamedGroup.x25519, NamedGroup.secp256r1]),
                   hrr_server, session=session)
    assert c.nconfig.hello_retry_request
    assert_resumed(c, s)
    assert c.nconfig.key_exchange == NamedGroup.secp256r1


def test_hello_retry_request_to_another_hash_drops_the_session() -> None:
    session = first_session(client(cipher_suites=[CipherSuites.TLS_AES_128_GCM_SHA256]))
    hrr_server = server(key_exchanges=[NamedGroup.secp256r1],
                        cipher_suites=[CipherSuites.TLS_AES_256_GCM_SHA384])
    c, s = connect(client(key_exchanges=[NamedGroup.x25519, NamedGroup.secp256r1]),
                   hrr_server, session=session)
    assert c.nconfig.hello_retry_request
    assert_resumed(c, s, resumed=False)


def test_suite_of_the_same_hash_resumes() -> None:
    session = first_session(client(cipher_suites=[CipherSuites.TLS_AES_128_GCM_SHA256]))
    c, s = connect(client(), server(cipher_suites=[CipherSuites.TLS_CHACHA20_POLY1305_SHA256]),
                   session=session)
    assert_resumed(c, s)
    assert c.nconfig.cipher_suite == CipherSuites.TLS_CHACHA20_POLY1305_SHA256


def test_suite_of_another_hash_does_not_resume() -> None:
    session = first_session(client(cipher_suites=[CipherSuites.TLS_AES_128_GCM_SHA256]))
    c, s = connect(client(), server(cipher_suites=[CipherSuites.TLS_AES_256_GCM_SHA384]),
                   session=session)
    assert_resumed(c, s, resumed=False)


# -- falling back to a full handshake, silently ----------------------------------------------

def test_expired_session_is_not_offered() -> None:
    session = first_session()
    later = session.received_at + session.ticket_lifetime + 1
    c = TLSConnection(client(clock=lambda: later), "localhost", session=session)
    c.initiate_connection()
    ch = parse_client_hello(c.data_to_send()[9:])
    assert ET.PRE_SHARED_KEY not in ch.extensions


def test_expired_ticket_on_the_server_side() -> None:
    session = first_session(server_conf=server(ticket_lifetime=60))
    later = session.received_at + 61
    c, s = connect(client(), server(clock=lambda: later), session=session)
    assert_resumed(c, s, resumed=False)


def test_session_for_another_host_is_not_offered() -> None:
    session = first_session()
    c = TLSConnection(client(), "127.0.0.1", session=session)
    c.initiate_connection()
    assert ET.PRE_SHARED_KEY not in parse_client_hello(c.data_to_send()[9:]).extensions


def test_server_refuses_a_ticket_for_another_server_name() -> None:
    """RFC 8446 4.6.1: the server checks the SNI too (a client that offers anyway)."""
    session = dataclasses.replace(first_session(), server_name="127.0.0.1")
    c, s = connect(client(), server(), session=session, hostname="127.0.0.1")
    assert_resumed(c, s, resumed=False)


def test_unverified_session_is_not_offered_to_a_verifying_client() -> None:
    session = dataclasses.replace(first_session(), peer_verified=False)
    c, s = connect(client(), server(), session=session)
    assert_resumed(c, s, resumed=False)


@pytest.mark.parametrize("position", [0, 16, 30, -1])
def test_tampered_ticket_falls_back(position: int) -> None:
    session = first_session()
    ticket = bytearray(session.ticket)
    ticket[position] ^= 1
    c, s = connect(client(), server(), session=dataclasses.replace(session, ticket=bytes(ticket)))
    assert_resumed(c, s, resumed=False)


@pytest.mark.parametrize("length", [1, 16, 28, 44])
def test_truncated_ticket_falls_back(length: int) -> None:
    session = first_session()
    c, s = connect(client(), server(),
                   session=dataclasses.replace(session, ticket=session.ticket[:length]))
    assert_resumed(c, s, resumed=False)


def test_ticket_of_another_server_falls_back() -> None:
    session = first_session()
    c, s = connect(client(), server(ticket_keys=keys()), session=session)
    assert_resumed(c, s, resumed=False)


def test_server_without_configured_keys_uses_its_own() -> None:
    own = server_config(LEAF)
    session = first_session(server_conf=own)
    assert_resumed(*connect(client(), server_config(LEAF), session=session))
    assert_resumed(*connect(client(), server(), session=session), resumed=False)


# -- ticket keys ---------------------------------------------------------------------------

def test_two_servers_sharing_keys_resume_each_other() -> None:
    shared = keys()
    session = first_session(server_conf=server(ticket_keys=shared))
    other = server_config(CA.issue(), ticket_keys=shared)  # another machine, same keys
    assert_resumed(*connect(client(), other, session=session))


def test_rotation_keeps_old_tickets_until_their_key_leaves() -> None:
    rotating = keys()
    conf = server(ticket_keys=rotating)
    session = first_session(server_conf=conf)
    for _ in range(2):  # the key is now one, then two rotations old: still opens
        rotating.rotate(TicketKey.generate(os.urandom))
        assert_resumed(*connect(client(), conf, session=session))
    rotating.rotate(TicketKey.generate(os.urandom))
    assert len(rotating.keys) == 3
    assert_resumed(*connect(client(), conf, session=session), resumed=False)


def test_new_tickets_use_the_newest_key() -> None:
    rotating = keys()
    conf = server(ticket_keys=rotating)
    fresh = TicketKey.generate(os.urandom)
    rotating.rotate(fresh)
    session = first_session(server_conf=conf)
    assert session.ticket[:16] == fresh.key_id


def test_key_file_round_trip_and_errors() -> None:
    original = [TicketKey.generate(os.urandom) for _ in range(3)]
    text = format_key_file(original)
    assert text.startswith("#")
    assert parse_key_file(text) == original
    with pytest.raises(ValueError, match="line 6"):
        parse_key_file(text + "zz\n")
    with pytest.raises(ValueError, match="no key"):
        parse_key_file("# nothing\n")
    with pytest.raises(ValueError, match="same key_id"):
        TicketKeys([original[0], original[0]])
    with pytest.raises(ValueError):
        TicketKey(b"short", bytes(32))


def test_ticket_state_round_trip() -> None:
    state = TicketState(CipherSuites.TLS_AES_256_GCM_SHA384, bytes(48), 1700000000.5,
                        1700000000.25, 3600,
                        7, 0, "example.com", b"h2", True, (b"cert1", b"cert2"))
    k = keys()
    sealed = seal_ticket(k, state, os.urandom)
    assert open_ticket(k, sealed) == state
    assert open_ticket(keys(), sealed) is None


# -- psk_ke ----------------------------------------------------------------------------------

def psk_ke_config(side: str, **kwargs: Any) -> TLSConfiguration:
    modes = [PskKeyExchangeMode.psk_ke, PskKeyExchangeMode.psk_dhe_ke]
    with pytest.warns(InsecureWarning, match="forward secrecy"):
        return server(psk_key_exchange_modes=modes, **kwargs) if side == "server" \
            else client(psk_key_exchange_modes=modes, **kwargs)


def test_psk_ke_when_both_sides_allow_it() -> None:
    session = first_session()
    c, s = connect(psk_ke_config("client"), psk_ke_config("server"), session=session)
    assert_resumed(c, s)
    assert c.nconfig.key_exchange is None and s.nconfig.key_exchange is None


@pytest.mark.parametrize("side", ["client", "server"])
def test_psk_dhe_ke_when_one_side_refuses_psk_ke(side: str) -> None:
    session = first_session()
    client_conf = psk_ke_config("client") if side == "client" else client()
    server_conf = psk_ke_config("server") if side == "server" else server()
    c, s = connect(client_conf, server_conf, session=session)
    assert_resumed(c, s)
    assert c.nconfig.key_exchange is not None  # psk_dhe_ke: the default group


def test_psk_modes_are_validated() -> None:
    with pytest.raises(ValueError, match="psk_key_exchange_modes"):
        client(psk_key_exchange_modes=[])
    with pytest.raises(ValueError, match="psk_key_exchange_modes"):
        client(psk_key_exchange_modes=[7])
    with pytest.raises(ValueError, match="num_tickets"):
        server(num_tickets=-1)
    with pytest.raises(ValueError, match="ticket_lifetime"):
        server(ticket_lifetime=604801)


# -- external PSKs ------------------------------------------------------------------------------

PSK = ExternalPSK(b"client 1", bytes(range(32)))
PSK384 = ExternalPSK(b"client 2", bytes(range(48)), hash="sha384")


@pytest.mark.parametrize("key", [PSK, PSK384])
def test_external_psk(key: ExternalPSK) -> None:
    c, s = connect(client(external_psks=[key]), server(external_psks=[PSK, PSK384]))
    assert c.nconfig.psk_identity == s.nconfig.psk_identity == key.identity
    assert not c.nconfig.session_resumed
    assert crypto.CIPHER_SUITES[c.nconfig.cipher_suite].hash.name == key.hash  # type: ignore[index]
    assert_resumed(c, s, resumed=False)


def test_external_psk_by_callback_and_without_certificate() -> None:
    looked_up: list[bytes] = []

    def lookup(identity: bytes) -> ExternalPSK | None:
        looked_up.append(identity)
        return PSK if identity == PSK.identity else None

    psk_server = TLSConfiguration("server", external_psks=lookup)
    psk_client = TLSConfiguration("client", external_psks=[PSK])  # no truststore: no warning
    c, s = connect(psk_client, psk_server, hostname=None)
    assert looked_up == [PSK.identity]
    assert s.nconfig.psk_identity == PSK.identity
    assert c.nconfig.peer_certificate_chain == ()


def test_external_psk_with_psk_ke() -> None:
    modes = [PskKeyExchangeMode.psk_ke]
    with pytest.warns(InsecureWarning):
        psk_client = TLSConfiguration("client", external_psks=[PSK], psk_key_exchange_modes=modes)
        psk_server = TLSConfiguration("server", external_psks=[PSK], psk_key_exchange_modes=modes)
    c, s = connect(psk_client, psk_server, hostname=None)
    assert c.nconfig.key_exchange is None and s.nconfig.psk_identity == PSK.identity


def test_external_psk_with_a_wrong_key_is_decrypt_error() -> None:
    wrong = ExternalPSK(PSK.identity, bytes(32))
    c = TLSConnection(TLSConfiguration("client", external_psks=[wrong]))
    s = TLSConnection(server(external_psks=[PSK]))
    c.initiate_connection()
    s.initiate_connection()
    with pytest.raises(DecryptError) as info:
        s.receive_data(c.data_to_send())
    assert info.value.reason == "bad_binder"
    with pytest.raises(TLSPeerAlert):
        c.receive_data(s.data_to_send())


def test_unknown_external_psk_falls_back_to_certificates() -> None:
    other = ExternalPSK(b"someone else", bytes(32))
    c, s = connect(client(external_psks=[other]), server(external_psks=[PSK]))
    assert c.nconfig.psk_identity is None and c.nconfig.peer_verified
    assert_resumed(c, s, resumed=False)


def test_psk_only_client_refuses_a_certificate_handshake() -> None:
    """Without a truststore the client could not authenticate a certificate."""
    other = ExternalPSK(b"someone else", bytes(32))
    c = TLSConnection(TLSConfiguration("client", external_psks=[other]))
    s = TLSConnection(server(external_psks=[PSK]))
    c.initiate_connection()
    s.initiate_connection()
    s.receive_data(c.data_to_send())
    with pytest.raises(HandshakeFailure):
        c.receive_data(s.data_to_send())


def test_psk_only_server_refuses_a_client_without_psk() -> None:
    s = TLSConnection(TLSConfiguration("server", external_psks=[PSK]))
    c = TLSConnection(client(), "localhost")
    c.initiate_connection()
    s.initiate_connection()
    with pytest.raises(HandshakeFailure):
        s.receive_data(c.data_to_send())


def test_session_and_external_psk_offered_together() -> None:
    session = first_session()
    c = TLSConnection(client(external_psks=[PSK]), "localhost", session=session)
    c.initiate_connection()
    ch = parse_client_hello(c.data_to_send()[9:])
    identities, _ = psk.decode_offered_psks(ch.extensions[ET.PRE_SHARED_KEY])
    assert [i for i, _ in identities] == [session.ticket, PSK.identity]
    assert identities[1][1] == 0  # obfuscated_ticket_age of an external PSK


def test_external_psk_validation() -> None:
    with pytest.raises(ValueError):
        ExternalPSK(b"", bytes(32))
    with pytest.raises(ValueError):
        ExternalPSK(b"id", bytes(8))
    with pytest.raises(ValueError, match="twice"):
        server(external_psks=[PSK, PSK])
    with pytest.raises(ValueError, match="list"):
        client(external_psks=lambda identity: None)


def test_server_session_argument_is_a_usage_error() -> None:
    with pytest.raises(TLSUsageError):
        TLSConnection(server(), session=first_session())


# -- RFC 8448 section 4 ------------------------------------------------------------------------

def test_rfc8448_binder() -> None:
    """Our binder over the RFC's truncated ClientHello is the RFC's binder."""
    values = named(4)
    prefix = values["client_hello_prefix_for_binder"]
    binder = psk.compute_binder(CipherSuites.TLS_AES_128_GCM_SHA256, values["psk"], False,
                                hashlib.sha256(prefix).digest())
    assert binder == values["binder"]
    ch = values["client_hello"]
    assert ch.startswith(prefix)
    assert psk.encode_binders([binder]) == ch[len(prefix):]


def test_rfc8448_offered_psks_decode() -> None:
    ch = parse_client_hello(named(4)["client_hello"][4:])
    identities, binders = psk.decode_offered_psks(ch.extensions[ET.PRE_SHARED_KEY])
    assert len(identities) == 1 and binders == [named(4)["binder"]]
    assert list(ch.extensions)[-1] == ET.PRE_SHARED_KEY


# -- the key file -------------------------------------------------------------------------------

def test_key_file_rotation(tmp_path: Path) -> None:
    path = tmp_path / "ticket-keys"
    first = rotate_key_file(path)  # created with one key
    assert read_key_file(path) == [first]
    assert path.stat().st_mode & 0o077 == 0  # a secret: the owner's only
    for _ in range(4):
        rotate_key_file(path, keep=3)
    keys_now = read_key_file(path)
    assert len(keys_now) == 3 and first not in keys_now
    loaded = load_key_file(path)
    assert loaded.keys == tuple(keys_now) and loaded.encryption_key() == keys_now[0]


def test_servers_sharing_a_key_file_resume_each_other(tmp_path: Path) -> None:
    path = tmp_path / "ticket-keys"
    rotate_key_file(path)
    session = first_session(server_conf=server(ticket_keys=load_key_file(path)))
    rotate_key_file(path)  # the other process starts after a rotation
    other = server_config(LEAF, ticket_keys=load_key_file(path))
    assert_resumed(*connect(client(), other, session=session))


def test_key_file_reload_in_a_live_configuration(tmp_path: Path) -> None:
    path = tmp_path / "ticket-keys"
    rotate_key_file(path)
    live = load_key_file(path)
    conf = server(ticket_keys=live)
    new_key = rotate_key_file(path)
    live.replace(read_key_file(path))
    session = first_session(server_conf=conf)
    assert session.ticket[:16] == new_key.key_id


def test_resumption_chains_end_a_week_after_the_full_handshake() -> None:
    """RFC 8446 4.6.1: new tickets on resumed connections do not extend the session forever."""
    now = [T0]
    conf = server(clock=lambda: now[0], ticket_lifetime=86400)
    cconf = client(clock=lambda: now[0])
    session = first_session(cconf, conf)
    for _day in range(7):
        now[0] += 86000
        c, s = connect(cconf, conf, session=session)
        assert_resumed(c, s)
        assert c.session is not None
        session = c.session
    assert session.ticket_lifetime == 604800 - 7 * 86000  # what remains of the week
    now[0] += session.ticket_lifetime + 1
    # a client ignoring the lifetime is refused by the server all the same
    lying = dataclasses.replace(session, ticket_lifetime=86400)
    assert_resumed(*connect(cconf, conf, session=lying), resumed=False)


def test_external_psks_as_a_mapping() -> None:
    psks = {PSK.identity: PSK, PSK384.identity: PSK384}
    _, s = connect(client(external_psks=[PSK384]), server(external_psks=psks))
    assert s.nconfig.psk_identity == PSK384.identity
    with pytest.raises(ValueError, match="another identity"):
        server(external_psks={b"other": PSK})


def test_ticket_keys_command(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for expected, command in ((1, ["siotls.tickets"]), (2, ["siotls", "ticket-keys"]),
                              (2, ["siotls", "ticket-keys"])):
        result = subprocess.run(
            [sys.executable, "-m", *command, "rotate", str(path), "--keep", "2"],
            capture_output=True, text=True, timeout=30, check=False, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"siotls: {path}: new key ")
        assert len(read_key_file(path)) == expected
        assert read_key_file(path)[0].key_id.hex() in result.stdout
    path.write_text("not a key\n")
    result = subprocess.run([sys.executable, "-m", "siotls", "ticket-keys", "rotate", str(path)],
                            capture_output=True, text=True, timeout=30, check=False, env=env)
    assert result.returncode == 2 and "line 1" in result.stderr


def test_hello_retry_request_then_no_psk_is_a_full_handshake() -> None:
    """The server took the PSK of ClientHello1, the client dropped it in ClientHello2."""
    session = first_session()
    c = TLSConnection(client(key_exchanges=[NamedGroup.x25519, NamedGroup.secp256r1]),
                      "localhost", session=session)
    s = TLSConnection(server(key_exchanges=[NamedGroup.secp256r1]))
    c.initiate_connection()
    s.initiate_connection()
    s.receive_data(c.data_to_send())  # ClientHello1, with the ticket: HelloRetryRequest
    c._handshake.psk_offers = []  # type: ignore[union-attr]  # a client that gives up the PSK
    c.receive_data(s.data_to_send())
    handshake(c, s)
    assert not s.nconfig.session_resumed and s.nconfig.peer_certificate_chain == ()
    assert not c.nconfig.session_resumed and s.nconfig.signature_algorithm is not None



# -- the early exporter (RFC 8446 7.5) -------------------------------------------------------

def test_rfc8448_early_exporter_master_secret() -> None:
    values = named(4)
    schedule = KeySchedule(crypto.CIPHER_SUITES[CipherSuites.TLS_AES_128_GCM_SHA256],
                           values["psk"])
    schedule.update(values["client_hello"])
    schedule.enter_early()
    assert schedule.early_exporter_master_secret == values["early_exporter_master_secret"]


def test_early_exporter_both_sides_agree() -> None:
    lines: list[str] = []
    session = first_session()
    c, s = connect(client(log_keys=True, keylog=lines.append), server(), session=session)
    early = c.export_early_keying_material(b"EXPORTER-test", b"ctx", 32)
    assert early == s.export_early_keying_material(b"EXPORTER-test", b"ctx", 32)
    assert early != c.export_keying_material(b"EXPORTER-test", b"ctx", 32)
    assert any(line.startswith("EARLY_EXPORTER_SECRET ") for line in lines)
    psk_c, psk_s = connect(client(external_psks=[PSK]), server(external_psks=[PSK]))
    assert psk_c.export_early_keying_material(b"x", b"", 16) == \
        psk_s.export_early_keying_material(b"x", b"", 16)


def test_no_early_exporter_without_the_first_psk() -> None:
    c, s = connect(client(), server())  # a full handshake
    for conn in (c, s):
        with pytest.raises(TLSUsageError):
            conn.export_early_keying_material(b"x", b"", 16)
    session = first_session()
    c, s = connect(client(key_exchanges=[NamedGroup.x25519, NamedGroup.secp256r1]),
                   server(key_exchanges=[NamedGroup.secp256r1]), session=session)
    assert c.nconfig.hello_retry_request and c.nconfig.session_resumed
    for conn in (c, s):  # resumed, but after a HelloRetryRequest
        with pytest.raises(TLSUsageError):
            conn.export_early_keying_material(b"x", b"", 16)
    other = ExternalPSK(b"unknown", bytes(32))
    c, s = connect(client(external_psks=[other, PSK]), server(external_psks=[PSK]))
    assert s.nconfig.psk_identity == PSK.identity  # the second PSK offered
    for conn in (c, s):
        with pytest.raises(TLSUsageError):
            conn.export_early_keying_material(b"x", b"", 16)
