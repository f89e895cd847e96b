"""Property-based fuzzing of the engine with hypothesis.

Random bytes and mutated real bytes (bit flips, byte changes, truncation, insertion,
deletion, record splicing, random chunking) are fed at each handshake state, on both
sides. Whatever arrives, the engine must either accept it or raise a
:class:`~siotls.TLSFatalAlert` (never ``InternalError``, never a Python error) or a
:class:`~siotls.TLSPeerAlert`; after a fatal alert the alert record is the last
thing queued for the peer, and every later call raises ``TLSConnectionFailed``.
No application data is released before the handshake completes.

Besides raw ciphertext mutations (which mostly test the AEAD), the encrypted
flights are also opened, mutated as plaintext and sealed again with the right
traffic secret, so that the handshake parsers see the mutations.

The runs are derandomized (reproducible in CI); the certificates are made once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certs import make_ca
from gates import fuzz_examples
from helpers import client_config, new_client, new_server, server_config
from internals import internals
from siotls import TLSConnection, TLSFatalAlert, TLSPeerAlert
from siotls.core.errors import InternalError, TLSConnectionFailed
from siotls.core.messages import (
    ClientHello,
    NewSessionTicket,
    ServerHello,
    parse_client_hello,
    parse_server_hello,
)
from siotls.iana import ContentType, ExtensionType, HandshakeType
from wire import Sealer, message, record, split_records

CA = make_ca()
LEAF = CA.issue()
CLIENT_LEAF = CA.issue(client=True)
CLIENT_CONFIG = client_config(CA, alpn=[b"h2", b"http/1.1"])
SERVER_CONFIG = server_config(LEAF, alpn=[b"h2"])
AUTH_CLIENT_CONFIG = client_config(
    CA, private_key=CLIENT_LEAF.key_der, certificate_chain=CLIENT_LEAF.chain_der)
AUTH_SERVER_CONFIG = server_config(
    LEAF, truststore=CA.truststore(), require_peer_authentication=True)

FUZZ = settings(
    deadline=None,
    max_examples=fuzz_examples(200),  # SIOTLS_SLOW=1: ten times more
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
FEWER = settings(FUZZ, max_examples=fuzz_examples(100))


# -- strategies -------------------------------------------------------------------

MUTATIONS = ("flip", "byte", "truncate", "insert", "delete", "duplicate", "length")
EDIT = st.tuples(
    st.sampled_from(MUTATIONS),
    st.integers(0, 2**24),  # the position, modulo the length (the real bytes vary in size)
    st.integers(0, 2**16),  # a small parameter: bit, value, size, width...
    st.binary(min_size=1, max_size=8),  # inserted bytes
)


def mutate(data: st.DataObject, raw: bytes, max_ops: int = 3) -> bytes:
    """``raw`` with 1 to ``max_ops`` random edits.

    What is drawn does not depend on ``raw`` (its length varies between runs, with
    the ECDSA signature size), so that hypothesis replays are consistent.
    """
    buf = bytearray(raw)
    for op, position, param, inserted in data.draw(
            st.lists(EDIT, min_size=1, max_size=max_ops), label="edits"):
        if not buf:
            buf += inserted
            continue
        pos = position % len(buf)
        if op == "flip":
            buf[pos] ^= 1 << (param % 8)
        elif op == "byte":
            buf[pos] = (0x00, 0x01, 0x7F, 0x80, 0xFF)[param % 5]
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = inserted
        elif op == "delete":
            del buf[pos : pos + 1 + param % 8]
        elif op == "duplicate":
            buf[pos:pos] = buf[pos : pos + 1 + param % 16]
        else:  # a plausible length field (8/16/24 bits at pos), a little off
            width = 1 + param % 3
            delta = (-2, -1, 1, 2, 1000)[(param // 3) % 5]
            value = int.from_bytes(buf[pos : pos + width], "big") + delta
            buf[pos : pos + width] = (value % (1 << (8 * width))).to_bytes(width, "big")
    return bytes(buf)


def splice(data: st.DataObject, records: Sequence[bytes], pool: Sequence[bytes]) -> bytes:
    """Real records dropped, duplicated, reordered, or mixed with ``pool`` records."""
    candidates = list(records) + list(pool)
    picked = data.draw(st.lists(st.integers(0, len(candidates) - 1), min_size=1,
                                max_size=len(records) + 2), label="records")
    return b"".join(candidates[i] for i in picked)


def chunked(data: st.DataObject, payload: bytes) -> list[bytes]:
    """``payload`` whole, or cut in random places."""
    seed = data.draw(st.one_of(st.none(), st.integers(0, 2**16)), label="chunking")
    if seed is None or not payload:
        return [payload]
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(payload):
        size = rng.randint(1, 40)
        out.append(payload[pos : pos + size])
        pos += size
    return out


def in_records(data: st.DataObject, stream: bytes, sealer: Sealer | None = None,
               content_type: int = ContentType.HANDSHAKE) -> bytes:
    """``stream`` cut into records of random sizes, sealed when ``sealer`` is given."""
    rng = random.Random(data.draw(st.integers(0, 2**16), label="record sizes"))
    out, pos = [], 0
    while pos < len(stream) or not out:
        size = rng.choice([len(stream), 1, 3, 50, rng.randint(1, 2000)])
        chunk = stream[pos : pos + size]
        pos += max(size, 1)
        if sealer is None:
            out.append(record(content_type, chunk))
        else:
            padding = bytes(rng.choice([0, 0, 0, 1, 17]))
            out.append(sealer.seal(chunk + bytes((content_type,)) + padding))
    return b"".join(out)


# -- the check --------------------------------------------------------------------

def feed(conn: TLSConnection, chunks: list[bytes]) -> BaseException | None:
    """Feed ``chunks``; check that any failure is a proper TLS alert; return it."""
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
    except InternalError as exc:
        cause = exc.__cause__
        raise AssertionError(f"a bug escaped as internal_error: {cause!r}") from cause
    except TLSFatalAlert as exc:
        check_alert_sent(conn, exc)
        error: BaseException | None = exc
    except TLSPeerAlert as exc:
        error = exc
    else:
        error = None
    if not conn.is_post_handshake():
        assert conn.data_to_read() == b"", "application data before the handshake completed"
    if error is not None:
        assert conn.is_failed()
        with pytest.raises(TLSConnectionFailed):
            conn.receive_data(b"\x15\x03\x03\x00\x02\x02\x00")
    return error


def check_alert_sent(conn: TLSConnection, exc: TLSFatalAlert) -> None:
    out = conn.data_to_send()
    description = exc.description
    records = internals(conn).records
    if not records.write_protected:
        assert out.endswith(bytes((21, 3, 3, 0, 2, 2, description))), (exc, out[-16:].hex())
    else:
        last = out[-24:]
        assert last[:5] == bytes((23, 3, 3, 0, 19)), (exc, out[-24:].hex())
        direction = internals(conn).write_direction
        assert direction.aead is not None
        nonce = (direction.iv ^ (direction.seq - 1)).to_bytes(12, "big")
        inner = direction.aead.decrypt(nonce, last[5:], last[:5])
        assert inner == bytes((2, description, ContentType.ALERT)), (exc, inner.hex())
    assert conn.data_to_send() == b""


# -- connections ------------------------------------------------------------------

def client_hello_flight() -> tuple[TLSConnection, TLSConnection, bytes]:
    """A client in WAIT_SH, a server that answered its ClientHello, the answer."""
    client, server = new_client(CLIENT_CONFIG), new_server(SERVER_CONFIG)
    server.receive_data(client.data_to_send())
    return client, server, server.data_to_send()


def server_messages(server: TLSConnection, flight: bytes) -> tuple[bytes, bytes, bytes]:
    """(ServerHello record, CCS record, decrypted EE..Finished stream)."""
    sh, ccs, *protected = split_records(flight)
    schedule = internals(server).schedule
    opener = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    return sh, ccs, b"".join(opener.open(r)[1] for r in protected)


def connected_pair() -> tuple[TLSConnection, TLSConnection]:
    client, server, flight = client_hello_flight()
    client.receive_data(flight)
    server.receive_data(client.data_to_send())
    assert client.is_connected() and server.is_connected()
    return client, server


REAL_CLIENT_HELLO = new_client(CLIENT_CONFIG).data_to_send()
_c, _s, _flight = client_hello_flight()
REAL_SERVER_FLIGHT_RECORDS = split_records(_flight)
_c.receive_data(_flight)
REAL_CLIENT_FLIGHT_RECORDS = split_records(_c.data_to_send())
del _c, _s, _flight
#: Foreign records to splice in: well-formed, but from another connection or out of place.
POOL = [
    REAL_CLIENT_HELLO,
    *REAL_SERVER_FLIGHT_RECORDS,
    *REAL_CLIENT_FLIGHT_RECORDS,
    b"\x14\x03\x03\x00\x01\x01",
    b"\x15\x03\x03\x00\x02\x01\x00",
    b"\x15\x03\x03\x00\x02\x02\x28",
    b"\x17\x03\x03\x00\x00",
    b"\x16\x03\x03\x00\x00",
]

# =================================================================================
# Fresh server (START)
# =================================================================================

@FUZZ
@given(st.binary(max_size=600))
def test_fresh_server_random_bytes(payload: bytes) -> None:
    feed(new_server(SERVER_CONFIG), [payload])


@FUZZ
@given(st.lists(st.tuples(st.sampled_from([20, 21, 22, 23, 24, 0]), st.binary(max_size=80)),
                min_size=1, max_size=4))
def test_fresh_server_random_records(records: list[tuple[int, bytes]]) -> None:
    feed(new_server(SERVER_CONFIG), [b"".join(record(ct, payload) for ct, payload in records)])


@FUZZ
@given(st.data())
def test_fresh_server_mutated_client_hello(data: st.DataObject) -> None:
    payload = mutate(data, REAL_CLIENT_HELLO)
    feed(new_server(SERVER_CONFIG), chunked(data, payload))


@FUZZ
@given(st.data())
def test_fresh_server_spliced_records(data: st.DataObject) -> None:
    payload = splice(data, [REAL_CLIENT_HELLO], POOL)
    feed(new_server(SERVER_CONFIG), chunked(data, payload))


EXTENSION_TYPES = st.one_of(st.sampled_from(list(ExtensionType)), st.integers(0, 0xFFFF))


@FUZZ
@given(st.data())
def test_fresh_server_client_hello_fields(data: st.DataObject) -> None:
    """Structure-aware: the real ClientHello with random extension contents or fields."""
    ch = parse_client_hello(REAL_CLIENT_HELLO[9:])
    extensions = dict(ch.extensions)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        ext_type = data.draw(st.one_of(st.sampled_from(list(extensions)), EXTENSION_TYPES),
                             label="extension")
        choice = data.draw(st.sampled_from(["random", "mutate", "drop"]), label="edit")
        if choice == "drop":
            extensions.pop(ext_type, None)
        elif choice == "mutate" and extensions.get(ext_type):
            extensions[ext_type] = mutate(data, extensions[ext_type], max_ops=2)
        else:
            extensions[ext_type] = data.draw(st.binary(max_size=40), label="ext data")
    ch = ClientHello(
        ch.random,
        data.draw(st.one_of(st.just(ch.legacy_session_id), st.binary(max_size=32)), label="sid"),
        data.draw(st.one_of(st.just(ch.cipher_suites),
                            st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=4)),
                  label="suites"),
        extensions,
        data.draw(st.sampled_from([0x0303, 0x0301, 0x0304]), label="version"),
        data.draw(st.sampled_from([b"\x00", b"\x00\x01", b"\x01"]), label="compression"),
    )
    feed(new_server(SERVER_CONFIG), [in_records(data, ch.serialize())])


# =================================================================================
# Client in WAIT_SH
# =================================================================================

@FUZZ
@given(st.binary(max_size=600))
def test_client_wait_sh_random_bytes(payload: bytes) -> None:
    feed(new_client(CLIENT_CONFIG), [payload])


@FUZZ
@given(st.data())
def test_client_wait_sh_mutated_server_flight(data: st.DataObject) -> None:
    client, _, flight = client_hello_flight()
    feed(client, chunked(data, mutate(data, flight)))


@FUZZ
@given(st.data())
def test_client_wait_sh_spliced_records(data: st.DataObject) -> None:
    client, _, flight = client_hello_flight()
    feed(client, chunked(data, splice(data, split_records(flight), POOL)))


@FUZZ
@given(st.data())
def test_client_wait_sh_server_hello_fields(data: st.DataObject) -> None:
    """Structure-aware: the real ServerHello with random extensions or fields."""
    client, _, flight = client_hello_flight()
    sh_record, ccs, *rest = split_records(flight)
    sh = parse_server_hello(sh_record[9:])
    extensions = dict(sh.extensions)
    for _ in range(data.draw(st.integers(1, 2), label="edits")):
        ext_type = data.draw(st.one_of(st.sampled_from(list(extensions)), EXTENSION_TYPES),
                             label="extension")
        if data.draw(st.booleans(), label="drop") and ext_type in extensions:
            del extensions[ext_type]
        elif extensions.get(ext_type) and data.draw(st.booleans(), label="mutate"):
            extensions[ext_type] = mutate(data, extensions[ext_type], max_ops=2)
        else:
            extensions[ext_type] = data.draw(st.binary(max_size=40), label="ext data")
    random_field = data.draw(st.sampled_from(
        [sh.random, bytes(32), sh.random[:24] + b"DOWNGRD\x01",
         bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")]),
        label="random")
    sh = ServerHello(
        random_field,
        data.draw(st.sampled_from([sh.legacy_session_id_echo, b""]), label="echo"),
        data.draw(st.sampled_from([sh.cipher_suite, 0x1302, 0x1303, 0x1305]), label="suite"),
        extensions,
        data.draw(st.sampled_from([0x0303, 0x0304]), label="version"),
        data.draw(st.sampled_from([0, 1]), label="compression"),
    )
    payload = in_records(data, sh.serialize()) + ccs + b"".join(rest)
    feed(client, chunked(data, payload))


# =================================================================================
# Client in WAIT_EE (after a real ServerHello)
# =================================================================================

@FUZZ
@given(st.data())
def test_client_wait_ee_mutated_ciphertext(data: st.DataObject) -> None:
    client, _, flight = client_hello_flight()
    sh, ccs, *protected = split_records(flight)
    client.receive_data(sh + ccs)
    feed(client, chunked(data, mutate(data, b"".join(protected))))


@FUZZ
@given(st.data())
def test_client_wait_ee_spliced_records(data: st.DataObject) -> None:
    client, _, flight = client_hello_flight()
    sh, ccs, *protected = split_records(flight)
    client.receive_data(sh + ccs)
    feed(client, chunked(data, splice(data, protected, POOL)))


@FUZZ
@given(st.data())
def test_client_wait_ee_mutated_plaintext(data: st.DataObject) -> None:
    """The encrypted flight opened, mutated, and sealed again with the server's key."""
    client, server, flight = client_hello_flight()
    sh, ccs, stream = server_messages(server, flight)
    client.receive_data(sh + ccs)
    schedule = internals(server).schedule
    sealer = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    content_type = data.draw(st.sampled_from([22, 22, 22, 21, 23, 20]), label="inner type")
    feed(client, chunked(data, in_records(data, mutate(data, stream), sealer, content_type)))


@FEWER
@given(st.data())
def test_client_wait_ee_random_messages(data: st.DataObject) -> None:
    """Random handshake messages (right header, random body) under the server's key."""
    client, server, flight = client_hello_flight()
    sh, ccs, stream = server_messages(server, flight)
    client.receive_data(sh + ccs)
    real = []
    pos = 0
    while pos < len(stream):
        end = pos + 4 + int.from_bytes(stream[pos + 1 : pos + 4], "big")
        real.append(stream[pos:end])
        pos = end
    keep = data.draw(st.integers(0, len(real)), label="real messages kept")
    expected = real[keep][0] if keep < len(real) else HandshakeType.NEW_SESSION_TICKET
    msg_type = expected
    if data.draw(st.booleans(), label="another type"):
        msg_type = data.draw(st.sampled_from([*HandshakeType, 0, 99, 255]), label="type")
    body = data.draw(st.binary(max_size=120), label="body")
    schedule = internals(server).schedule
    sealer = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    payload = b"".join(real[:keep]) + message(msg_type, body)
    feed(client, [in_records(data, payload, sealer)])


# =================================================================================
# Server in WAIT_FINISHED (or WAIT_CERT with client authentication)
# =================================================================================

def server_waiting(auth: bool) -> tuple[TLSConnection, TLSConnection, bytes]:
    """A server waiting for the client's second flight, the client, that flight."""
    if auth:
        client, server = new_client(AUTH_CLIENT_CONFIG), new_server(AUTH_SERVER_CONFIG)
    else:
        client, server = new_client(CLIENT_CONFIG), new_server(SERVER_CONFIG)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert client.is_post_handshake()
    return client, server, client.data_to_send()


@FUZZ
@given(st.data(), st.booleans())
def test_server_wait_finished_mutated_ciphertext(data: st.DataObject, auth: bool) -> None:
    _, server, flight = server_waiting(auth)
    feed(server, chunked(data, mutate(data, flight)))


@FUZZ
@given(st.data(), st.booleans())
def test_server_wait_finished_mutated_plaintext(data: st.DataObject, auth: bool) -> None:
    _, server, flight = server_waiting(auth)
    ccs, *protected = split_records(flight)
    schedule = internals(server).schedule
    opener = Sealer(schedule.suite, schedule.client_handshake_traffic_secret)
    stream = b"".join(opener.open(r)[1] for r in protected)
    sealer = Sealer(schedule.suite, schedule.client_handshake_traffic_secret)
    content_type = data.draw(st.sampled_from([22, 22, 22, 21, 23]), label="inner type")
    payload = ccs + in_records(data, mutate(data, stream), sealer, content_type)
    feed(server, chunked(data, payload))


@FEWER
@given(st.data())
def test_server_wait_finished_spliced_records(data: st.DataObject) -> None:
    _, server, flight = server_waiting(auth=False)
    feed(server, chunked(data, splice(data, split_records(flight), POOL)))


# =================================================================================
# Both sides CONNECTED
# =================================================================================

RECORD_CONTENT = st.one_of(
    st.tuples(st.just(int(ContentType.HANDSHAKE)),
              st.builds(message, st.one_of(st.sampled_from(list(HandshakeType)),
                                           st.integers(0, 255)),
                        st.binary(max_size=60))),
    st.tuples(st.sampled_from([20, 21, 22, 23, 24, 0, 255]), st.binary(max_size=60)),
)


@FUZZ
@given(st.lists(RECORD_CONTENT, min_size=1, max_size=5), st.booleans(), st.integers(0, 20))
def test_connected_random_sealed_records(records: list[tuple[int, bytes]], to_client: bool,
                                         padding: int) -> None:
    """Random inner plaintexts under the peer's real application traffic key."""
    client, server = connected_pair()
    schedule = internals(server).schedule
    receiver, secret = ((client, schedule.server_application_traffic_secret) if to_client
                        else (server, schedule.client_application_traffic_secret))
    sealer = Sealer(schedule.suite, secret)
    payload = b"".join(sealer.seal(content + bytes((ct,)) + bytes(padding))
                       for ct, content in records)
    feed(receiver, [payload])


@FUZZ
@given(st.data(), st.booleans())
def test_connected_mutated_ciphertext(data: st.DataObject, to_client: bool) -> None:
    client, server = connected_pair()
    sender, receiver = (server, client) if to_client else (client, server)
    sender.send_data(b"hello")
    sender.update_keys(request_peer_update=data.draw(st.booleans(), label="request"))
    sender.send_data(b"world" * 10)
    sender.close_sending_end()
    feed(receiver, chunked(data, mutate(data, sender.data_to_send())))


@FUZZ
@given(st.data(), st.booleans())
def test_connected_spliced_records(data: st.DataObject, to_client: bool) -> None:
    client, server = connected_pair()
    sender, receiver = (server, client) if to_client else (client, server)
    sender.send_data(b"hello")
    sender.update_keys(request_peer_update=False)
    sender.send_data(b"world")
    records = split_records(sender.data_to_send())
    feed(receiver, chunked(data, splice(data, records, POOL)))


@FUZZ
@given(st.data())
def test_connected_post_handshake_messages_mutated(data: st.DataObject) -> None:
    """KeyUpdate and NewSessionTicket bodies mutated, then sealed properly."""
    client, server = connected_pair()
    schedule = internals(server).schedule
    sealer = Sealer(schedule.suite, schedule.server_application_traffic_secret)
    base = data.draw(st.sampled_from([
        bytes((HandshakeType.KEY_UPDATE, 0, 0, 1, 1)),
        NewSessionTicket(3600, 7, b"n", b"tk", {ExtensionType.EARLY_DATA: bytes(4)}).serialize(),
    ]), label="message")
    feed(client, [in_records(data, mutate(data, base), sealer)])
