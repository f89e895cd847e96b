"""Property-based fuzzing of this session's protocol additions: hybrid key shares,
record_size_limit, certificate compression, PSKs and tickets, certificate_authorities.

The rule (RFC 8446 section 6): whatever a peer sends, the engine either goes on
(or falls back cleanly, e.g. to a full handshake) or raises a TLSFatalAlert
subclass other than InternalError whose alert is queued for the peer; no
application data before the handshake completes (:func:`test_fuzz.feed` checks it).

Client-side messages are made by a *real* siotls server whose message
``serialize()`` is patched for the duration of one flight: the server hashes and
signs what it actually sends, so the transcript stays right and the client's
parsers, not its Finished check, meet the mutations. ClientHellos come from a
real siotls client and are rewritten (pre_shared_key kept last).

The runs are derandomized and bounded (``SIOTLS_SLOW=1`` runs ten times more).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

import siotls.crypto
from certs import make_ca
from helpers import (
    client_config,
    handshake,
    new_client,
    new_server,
    new_session,
    server_config,
)
from internals import internals
from ocsp_responses import ocsp_response
from siotls import TicketKeys, TLSConfiguration, TLSConnection, TLSSession
from siotls.core import compression, crypto, ocsp, prepared, psk
from siotls.core import extensions as ext
from siotls.core.client import MAX_SESSION_TICKETS
from siotls.core.errors import BadCertificate, DecodeError, TLSFatalAlert, TLSUsageError
from siotls.core.keyschedule import KeySchedule
from siotls.core.messages import (
    Certificate,
    CertificateEntry,
    CertificateRequest,
    ClientHello,
    CompressedCertificate,
    EncryptedExtensions,
    NewSessionTicket,
    ServerHello,
    parse_client_hello,
)
from siotls.core.record import MAX_CERTIFICATE_LENGTH
from siotls.iana import ExtensionType as ET
from siotls.iana import HandshakeType, NamedGroup
from siotls.stores import MemoryStrikeRegister
from test_fuzz import FEWER, FUZZ, chunked, feed, in_records, mutate, server_messages
from wire import Sealer, client_hello_with_raw_extensions, hs_record, split_messages, split_records

CA = make_ca()
LEAF = CA.issue()
CLIENT_LEAF = CA.issue(client=True)
TICKET_KEYS = TicketKeys.generate(random.Random(7).randbytes)
CLIENT_CONFIG = client_config(CA, certificate_compression=compression.available())
SERVER_CONFIG = server_config(LEAF, ticket_keys=TICKET_KEYS)
AUTH_CLIENT_CONFIG = client_config(
    CA, private_key=CLIENT_LEAF.key_der, certificate_chain=CLIENT_LEAF.chain_der)
AUTH_SERVER_CONFIG = server_config(
    LEAF, truststore=CA.truststore(), require_peer_authentication=True,
    ticket_keys=TICKET_KEYS)
#: A client authenticating with one compression algorithm for its certificate, per name.
AUTH_CLIENT_CONFIGS = {name: dataclasses.replace(AUTH_CLIENT_CONFIG, certificate_compression=[name])
                       for name in compression.available()}
HYBRIDS = [NamedGroup.X25519MLKEM768, NamedGroup.SecP256r1MLKEM768,
           NamedGroup.SecP384r1MLKEM1024]
#: (ECDH half, KEM half) of the client's share / the server's share, per hybrid.
HYBRID_LENGTHS = {NamedGroup.X25519MLKEM768: (32, 1184, 1088),
                  NamedGroup.SecP256r1MLKEM768: (65, 1184, 1088),
                  NamedGroup.SecP384r1MLKEM1024: (97, 1568, 1568)}
OTHER_GROUPS = [NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1,
                NamedGroup.x448, NamedGroup.secp521r1, 0x0A0A, 0xFFFF]


@contextmanager
def patched_serialize(cls: type[Any], edit: Callable[[Any], Any]) -> Iterator[None]:
    """While active, ``cls(...).serialize()`` writes ``edit(message)`` instead (our
    Certificate messages are then encoded afresh each time, not kept per configuration:
    the edit reaches every connection, and no edited message outlives the patch)."""
    original = cls.serialize

    def serialize(self: Any) -> bytes:
        return original(edit(self))  # type: ignore[no-any-return]

    with mock.patch.object(cls, "serialize", serialize), \
            mock.patch.object(prepared, "certificate_messages", lambda config: {}):
        yield


SESSION = new_session(CLIENT_CONFIG, SERVER_CONFIG)
SESSION_BYTES = SESSION.to_bytes()


def resuming_client_hello() -> ClientHello:
    client = TLSConnection(CLIENT_CONFIG, "localhost", session=SESSION)
    client.initiate_connection()
    return parse_client_hello(split_records(client.data_to_send())[0][9:])


RESUMING_CLIENT_HELLO = resuming_client_hello()


# -- strategies for extension values ------------------------------------------------------

def u16_vector(prefix: int, values: list[int]) -> bytes:
    return (2 * len(values)).to_bytes(prefix, "big") + b"".join(
        v.to_bytes(2, "big") for v in values)


def key_share_entries(data: st.DataObject) -> bytes:
    """A key_share (client) with hybrid shares of every plausible length."""
    entries = b""
    groups = data.draw(st.lists(st.sampled_from([*HYBRIDS, *OTHER_GROUPS]), min_size=1,
                                max_size=3, unique=True), label="groups")
    for group in groups:
        lengths = HYBRID_LENGTHS.get(group)
        right = lengths[0] + lengths[1] if lengths else {
            NamedGroup.x25519: 32, NamedGroup.secp256r1: 65}.get(group, 97)
        length = data.draw(st.sampled_from(
            [right, right - 1, right + 1, 1, 32, 65, lengths[1] if lengths else 8]),
            label="length")
        filler = data.draw(st.sampled_from(["zero", "ff", "random", "point"]), label="filler")
        if filler == "zero":
            share = bytes(length)
        elif filler == "ff":
            share = b"\xff" * length
        elif filler == "point":  # 0x04 then garbage: an EC point off the curve
            share = (b"\x04" + random.Random(length).randbytes(length))[:length]
        else:
            share = random.Random(data.draw(st.integers(0, 2**16))).randbytes(length)
        entries += group.to_bytes(2, "big") + length.to_bytes(2, "big") + share
    return len(entries).to_bytes(2, "big") + entries


def extension_value(data: st.DataObject, ext_type: int, real: bytes | None) -> bytes:
    """A structured, random, or mutated value for one extension."""
    how = data.draw(st.sampled_from(["structured", "random", "mutate", "empty"]), label="how")
    if how == "mutate" and real:
        return mutate(data, real, max_ops=2)
    if how == "empty":
        return b""
    if how == "random":
        return data.draw(st.binary(max_size=60), label="ext data")
    if ext_type == ET.KEY_SHARE:
        return key_share_entries(data)
    if ext_type == ET.RECORD_SIZE_LIMIT:
        width = data.draw(st.sampled_from([2, 2, 1, 3]), label="width")
        limit = data.draw(st.integers(0, 0xFFFF), label="limit")
        return (limit % (1 << 8 * width)).to_bytes(width, "big")
    if ext_type in (ET.COMPRESS_CERTIFICATE, ET.SIGNATURE_ALGORITHMS_CERT,
                    ET.SUPPORTED_GROUPS, ET.SIGNATURE_ALGORITHMS):
        values = data.draw(st.lists(st.one_of(st.sampled_from([0, 1, 2, 3, 0x0807, 0x0403]),
                                              st.integers(0, 0xFFFF)), max_size=5),
                           label="values")
        prefix = 1 if ext_type == ET.COMPRESS_CERTIFICATE else 2
        return u16_vector(prefix, values)
    if ext_type == ET.CERTIFICATE_AUTHORITIES:
        names = data.draw(st.lists(st.one_of(
            st.just(CA.cert.subject.public_bytes()),
            st.binary(min_size=0, max_size=20)), max_size=3), label="names")
        body = b"".join(len(n).to_bytes(2, "big") + n for n in names)
        return len(body).to_bytes(2, "big") + body
    if ext_type in (ET.SERVER_CERTIFICATE_TYPE, ET.CLIENT_CERTIFICATE_TYPE):
        types = data.draw(st.lists(st.sampled_from([0, 2, 1, 255]), max_size=3), label="types")
        if data.draw(st.booleans(), label="one type"):  # as in EncryptedExtensions
            return bytes(types[:1])
        return bytes((len(types), *types))
    if ext_type == ET.PSK_KEY_EXCHANGE_MODES:
        modes = data.draw(st.lists(st.integers(0, 255), max_size=4), label="modes")
        return bytes((len(modes), *modes))
    if ext_type == ET.STATUS_REQUEST:  # CertificateStatusRequest (RFC 6066 section 8)
        return bytes((1,)) + data.draw(st.binary(max_size=8), label="ocsp request")
    return data.draw(st.binary(max_size=8), label="ext data")


CH_EXTENSIONS = [ET.KEY_SHARE, ET.SUPPORTED_GROUPS, ET.PRE_SHARED_KEY, ET.PSK_KEY_EXCHANGE_MODES,
                 ET.RECORD_SIZE_LIMIT, ET.COMPRESS_CERTIFICATE, ET.SIGNATURE_ALGORITHMS_CERT,
                 ET.CERTIFICATE_AUTHORITIES, ET.EARLY_DATA, ET.POST_HANDSHAKE_AUTH,
                 ET.STATUS_REQUEST, ET.SIGNATURE_ALGORITHMS, ET.SERVER_CERTIFICATE_TYPE,
                 ET.CLIENT_CERTIFICATE_TYPE]


# =====================================================================================
# The server reading ClientHello extensions
# =====================================================================================

@FUZZ
@given(st.data())
def test_server_client_hello_new_extensions(data: st.DataObject) -> None:
    """A resuming ClientHello with its new extensions replaced, mutated or dropped."""
    extensions = dict(RESUMING_CLIENT_HELLO.extensions)
    psk_value = extensions.pop(ET.PRE_SHARED_KEY)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        ext_type = data.draw(st.sampled_from(CH_EXTENSIONS), label="extension")
        if data.draw(st.integers(0, 5), label="drop") == 0:
            extensions.pop(ext_type, None)
            if ext_type == ET.PRE_SHARED_KEY:
                psk_value = b""
            continue
        real = psk_value if ext_type == ET.PRE_SHARED_KEY else extensions.get(ext_type)
        value = extension_value(data, ext_type, real)
        if ext_type == ET.PRE_SHARED_KEY:
            psk_value = value
        else:
            extensions[ext_type] = value
    if psk_value == RESUMING_CLIENT_HELLO.extensions[ET.PRE_SHARED_KEY]:
        # pre_shared_key untouched: bind it to the edited ClientHello, as a client
        # would, so that the server's parsers (not its binder check) meet the edits.
        offers = psk.client_offers(CLIENT_CONFIG, "localhost", SESSION, CLIENT_CONFIG.clock())
        raw = psk.write_client_hello(
            dataclasses.replace(RESUMING_CLIENT_HELLO, extensions=extensions), offers,
            lambda offer, truncated: psk.hash_of(offer.suite, truncated))
    else:
        pairs = list(extensions.items())
        if psk_value:
            pairs.append((ET.PRE_SHARED_KEY, psk_value))
        raw = client_hello_with_raw_extensions(RESUMING_CLIENT_HELLO, pairs)
    feed(new_server(SERVER_CONFIG), [hs_record(raw)])


@FUZZ
@given(st.data())
def test_server_hybrid_key_shares(data: st.DataObject) -> None:
    """Only hybrid shares (every group, every length near the right one, odd contents)."""
    extensions = dict(RESUMING_CLIENT_HELLO.extensions)
    del extensions[ET.PRE_SHARED_KEY]
    extensions[ET.KEY_SHARE] = key_share_entries(data)
    extensions[ET.SUPPORTED_GROUPS] = u16_vector(2, [*HYBRIDS, *OTHER_GROUPS])
    raw = client_hello_with_raw_extensions(RESUMING_CLIENT_HELLO, list(extensions.items()))
    feed(new_server(SERVER_CONFIG), [hs_record(raw)])


@pytest.mark.parametrize("group", HYBRIDS)
@pytest.mark.parametrize("filler", [b"\x00", b"\xff"])
def test_server_hybrid_share_of_right_length_but_invalid(group: int, filler: bytes) -> None:
    """An all-0xff ML-KEM encapsulation key fails FIPS 203's modulus check, an all-zero
    X25519/EC half is no point: illegal_parameter, never internal_error."""
    ecdh, kem, _ = HYBRID_LENGTHS[group]
    extensions = dict(RESUMING_CLIENT_HELLO.extensions)
    del extensions[ET.PRE_SHARED_KEY]
    share = filler * (ecdh + kem)
    extensions[ET.KEY_SHARE] = (len(share) + 4).to_bytes(2, "big") + group.to_bytes(
        2, "big") + len(share).to_bytes(2, "big") + share
    extensions[ET.SUPPORTED_GROUPS] = u16_vector(2, [group])
    raw = client_hello_with_raw_extensions(RESUMING_CLIENT_HELLO, list(extensions.items()))
    error = feed(new_server(SERVER_CONFIG), [hs_record(raw)])
    assert isinstance(error, TLSFatalAlert) and error.description == 47, error


# =====================================================================================
# The client reading a real server's messages, edited as the server writes them
# =====================================================================================

def client_meets(client_config_: Any, server_config_: Any,
                 *patches: Any) -> BaseException | None:
    """A handshake where the server's first flight is written under ``patches``."""
    client, server = new_client(client_config_), new_server(server_config_)
    hello = client.data_to_send()
    with contextlib_all(patches):
        server.receive_data(hello)
        flight = server.data_to_send()
    return feed(client, [flight])


@contextmanager
def contextlib_all(managers: tuple[Any, ...]) -> Iterator[None]:
    if not managers:
        yield
        return
    with managers[0], contextlib_all(managers[1:]):
        yield


@FUZZ
@given(st.data(), st.sampled_from(HYBRIDS))
def test_client_server_hello_hybrid_key_share(data: st.DataObject, group: int) -> None:
    ecdh, _, ciphertext = HYBRID_LENGTHS[group]
    right = ecdh + ciphertext
    length = data.draw(st.sampled_from([right, right - 1, right + 1, ecdh, ciphertext, 1]),
                       label="length")
    filler = data.draw(st.sampled_from([b"\x00", b"\xff", b"\x04", b"r"]), label="filler")
    share = (random.Random(length).randbytes(length) if filler == b"r"
             else filler * length)
    answered = data.draw(st.sampled_from([group, group, group, *HYBRIDS]),
                         label="group answered")

    def edit(sh: ServerHello) -> ServerHello:
        extensions = dict(sh.extensions)
        if ET.KEY_SHARE in extensions:
            extensions[ET.KEY_SHARE] = ext.encode_key_share_sh(answered, share)
        return dataclasses.replace(sh, extensions=extensions)

    config = client_config(CA, key_exchanges=[group])
    client_meets(config, SERVER_CONFIG, patched_serialize(ServerHello, edit))


HRR_SERVER_CONFIG = server_config(LEAF, ticket_keys=TICKET_KEYS,
                                  key_exchanges=[NamedGroup.SecP384r1MLKEM1024])


@FUZZ
@given(st.data())
def test_client_hello_retry_request(data: st.DataObject) -> None:
    """A HelloRetryRequest asking for any group (hybrids too), with odd cookies."""
    group = data.draw(st.sampled_from([*HYBRIDS, *OTHER_GROUPS]), label="group")
    cookie = data.draw(st.one_of(st.none(), st.binary(max_size=40)), label="cookie")
    mutated = data.draw(st.booleans(), label="mutate")

    def edit(sh: ServerHello) -> ServerHello:
        if not sh.is_hello_retry_request:
            return sh
        extensions = dict(sh.extensions)
        extensions[ET.KEY_SHARE] = group.to_bytes(2, "big")
        if cookie is not None:
            extensions[ET.COOKIE] = len(cookie).to_bytes(2, "big") + cookie
        if mutated:
            extensions[ET.KEY_SHARE] = mutate(data, extensions[ET.KEY_SHARE], max_ops=1)
        return dataclasses.replace(sh, extensions=extensions)

    client = TLSConnection(CLIENT_CONFIG, "localhost", session=SESSION)
    client.initiate_connection()
    server = new_server(HRR_SERVER_CONFIG)
    with patched_serialize(ServerHello, edit):
        server.receive_data(client.data_to_send())
        hrr = server.data_to_send()
    if feed(client, [hrr]) is None:  # the second ClientHello, to the real server
        feed(server, [client.data_to_send()])


@FUZZ
@given(st.data())
def test_server_second_client_hello(data: st.DataObject) -> None:
    """After a HelloRetryRequest, a second ClientHello (a resuming one) with edits."""
    may_change = [ET.KEY_SHARE, ET.EARLY_DATA, ET.COOKIE, ET.PADDING]
    edits = [(data.draw(st.sampled_from([*may_change, *may_change, *CH_EXTENSIONS]),
                        label="extension"), data)
             for _ in range(data.draw(st.integers(1, 2), label="edits"))]
    seen = []

    def edit(ch: ClientHello) -> ClientHello:
        seen.append(ch)
        if len(seen) == 1:
            return ch
        extensions = dict(ch.extensions)
        for ext_type, d in edits:
            if ext_type != ET.PRE_SHARED_KEY:
                extensions[ext_type] = extension_value(d, ext_type, extensions.get(ext_type))
        return dataclasses.replace(ch, extensions=extensions)

    client = TLSConnection(CLIENT_CONFIG, "localhost", session=SESSION)
    with patched_serialize(ClientHello, edit):
        client.initiate_connection()
        server = new_server(HRR_SERVER_CONFIG)
        server.receive_data(client.data_to_send())
        client.receive_data(server.data_to_send())
        second = client.data_to_send()
    if feed(server, [second]) is None:
        feed(client, [server.data_to_send()])


@FUZZ
@given(st.data())
def test_client_encrypted_extensions(data: st.DataObject) -> None:
    """record_size_limit (and its neighbours) in EncryptedExtensions."""
    edits = [(data.draw(st.sampled_from([ET.RECORD_SIZE_LIMIT, ET.EARLY_DATA,
                                         ET.SUPPORTED_GROUPS, ET.COMPRESS_CERTIFICATE,
                                         ET.CERTIFICATE_AUTHORITIES, ET.POST_HANDSHAKE_AUTH]),
                        label="extension"), data)
             for _ in range(data.draw(st.integers(1, 2), label="edits"))]
    values = [(t, extension_value(d, t, None)) for t, d in edits]

    def edit(ee: EncryptedExtensions) -> EncryptedExtensions:
        return EncryptedExtensions({**ee.extensions, **dict(values)})

    client_meets(CLIENT_CONFIG, SERVER_CONFIG, patched_serialize(EncryptedExtensions, edit))


@pytest.mark.parametrize("limit", [0, 63, 16386, 0xFFFF])
def test_client_record_size_limit_out_of_range(limit: int) -> None:
    def edit(ee: EncryptedExtensions) -> EncryptedExtensions:
        return EncryptedExtensions({**ee.extensions, ET.RECORD_SIZE_LIMIT:
                                    limit.to_bytes(2, "big")})

    error = client_meets(CLIENT_CONFIG, SERVER_CONFIG,
                         patched_serialize(EncryptedExtensions, edit))
    assert isinstance(error, TLSFatalAlert) and error.description == 47, error


def bomb(algorithm: int) -> bytes:
    """Ten MiB of zeros, compressed: a few KiB that decompress far beyond the bound."""
    return compression.compress(algorithm, bytes(10 * 2**20))


@FEWER
@given(st.data())
def test_client_compressed_certificate(data: st.DataObject) -> None:
    """CompressedCertificate with bad lengths, garbage, bombs; every algorithm."""
    algorithm = data.draw(st.sampled_from(
        [compression.ALGORITHMS[name][0] for name in compression.available()]), label="algo")
    what = data.draw(st.sampled_from(
        ["garbage", "mutated", "truncated", "bomb", "bad body", "real"]), label="what")
    length_edit = data.draw(st.sampled_from(
        ["same", "minus", "plus", "zero", "huge", "limit"]), label="length")
    claimed_algorithm = data.draw(st.sampled_from([algorithm, algorithm, 0, 4, 0xFFFF]),
                                  label="claimed")

    def edit(cc: CompressedCertificate) -> CompressedCertificate:
        real_body = _decompressed(cc)
        length = len(real_body)
        if what == "garbage":
            payload = data.draw(st.binary(min_size=1, max_size=300), label="garbage")
        elif what == "mutated":
            payload = mutate(data, cc.compressed_certificate_message)
        elif what == "truncated":
            payload = cc.compressed_certificate_message[:-5] or b"\x00"
        elif what == "bomb":
            payload, length = bomb(algorithm), 10 * 2**20
        elif what == "bad body":  # compresses well, but holds no valid Certificate
            bad = mutate(data, real_body)
            payload, length = compression.compress(algorithm, bad), len(bad)
        else:
            payload = cc.compressed_certificate_message
        length = {"same": length, "minus": length - 1, "plus": length + 1, "zero": 0,
                  "huge": 2**24 - 1, "limit": MAX_CERTIFICATE_LENGTH}[length_edit]
        return CompressedCertificate(claimed_algorithm, max(length, 0) % 2**24, payload)

    client_meets(CLIENT_CONFIG, SERVER_CONFIG, patched_serialize(CompressedCertificate, edit))


@FEWER
@given(st.data())
def test_server_compressed_client_certificate(data: st.DataObject) -> None:
    """The client's CompressedCertificate (client authentication), edited as it is written."""
    what = data.draw(st.sampled_from(["garbage", "mutated", "bomb", "bad body", "length"]),
                     label="what")

    def edit(cc: CompressedCertificate) -> CompressedCertificate:
        real_body = _decompressed(cc)
        if what == "garbage":
            payload = data.draw(st.binary(min_size=1, max_size=300), label="garbage")
            return dataclasses.replace(cc, compressed_certificate_message=payload)
        if what == "mutated":
            return dataclasses.replace(cc, compressed_certificate_message=mutate(
                data, cc.compressed_certificate_message))
        if what == "bomb":
            return dataclasses.replace(cc, compressed_certificate_message=bomb(cc.algorithm))
        if what == "bad body":
            bad = mutate(data, real_body)
            return CompressedCertificate(cc.algorithm, len(bad),
                                         compression.compress(cc.algorithm, bad))
        delta = data.draw(st.sampled_from([-1, 1, -len(real_body)]), label="delta")
        return dataclasses.replace(cc, uncompressed_length=len(real_body) + delta)

    name = data.draw(st.sampled_from(compression.available()), label="algorithm")
    client = new_client(AUTH_CLIENT_CONFIGS[name])
    server = new_server(AUTH_SERVER_CONFIG)
    server.receive_data(client.data_to_send())
    with patched_serialize(CompressedCertificate, edit):
        client.receive_data(server.data_to_send())
        flight = client.data_to_send()
    assert client.nconfig.certificate_compression is not None
    feed(server, [flight])


def _decompressed(cc: CompressedCertificate) -> bytes:
    return compression.decompress(cc.algorithm, cc.compressed_certificate_message,
                                  cc.uncompressed_length, MAX_CERTIFICATE_LENGTH)


@pytest.mark.parametrize("name", compression.available())
def test_client_compressed_certificate_bomb_is_bad_certificate(name: str) -> None:
    algorithm = compression.ALGORITHMS[name][0]

    def edit(cc: CompressedCertificate) -> CompressedCertificate:
        return CompressedCertificate(cc.algorithm, cc.uncompressed_length, bomb(algorithm))

    error = client_meets(client_config(CA, certificate_compression=[name]), SERVER_CONFIG,
                         patched_serialize(CompressedCertificate, edit))
    assert isinstance(error, TLSFatalAlert) and error.description == 42, error
    assert error.reason == "bad_compression"


@FUZZ
@given(st.data())
def test_client_certificate_request(data: st.DataObject) -> None:
    """CertificateRequest with odd certificate_authorities and friends."""
    edits = {}
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        ext_type = data.draw(st.sampled_from(
            [ET.CERTIFICATE_AUTHORITIES, ET.SIGNATURE_ALGORITHMS, ET.SIGNATURE_ALGORITHMS_CERT,
             ET.COMPRESS_CERTIFICATE, ET.STATUS_REQUEST, ET.OID_FILTERS, 0x1234]),
            label="extension")
        edits[ext_type] = extension_value(data, ext_type, None)
    context = data.draw(st.sampled_from([b"", b"", b"x"]), label="context")

    def edit(cr: CertificateRequest) -> CertificateRequest:
        real = dict(cr.extensions)
        for ext_type, value in edits.items():
            mutated = ext_type in real and data.draw(st.booleans(), label="mutate real")
            real[ext_type] = mutate(data, real[ext_type], max_ops=2) if mutated else value
        return CertificateRequest(context, real)

    client = new_client(AUTH_CLIENT_CONFIG)
    server = new_server(AUTH_SERVER_CONFIG)
    hello = client.data_to_send()
    with patched_serialize(CertificateRequest, edit):
        server.receive_data(hello)
        flight = server.data_to_send()
    if feed(client, [flight]) is None:  # the client answered: the server reads it
        feed(server, [client.data_to_send()])


def connected_with_ticket_patch(edit: Callable[[NewSessionTicket], NewSessionTicket]
                                ) -> tuple[TLSConnection, bytes]:
    client, server = new_client(CLIENT_CONFIG), new_server(SERVER_CONFIG)
    handshake(client, server)
    with patched_serialize(NewSessionTicket, edit):
        server.send_data(b"after the tickets")
        out = server.data_to_send()
    return client, out


@FUZZ
@given(st.data())
def test_client_new_session_ticket(data: st.DataObject) -> None:
    """NewSessionTicket with odd lifetimes, empty or huge tickets, huge extensions."""
    lifetime = data.draw(st.sampled_from([0, 1, 604800, 604801, 2**32 - 1]), label="lifetime")
    nonce = data.draw(st.sampled_from([b"", b"\x00", bytes(255)]), label="nonce")
    ticket = data.draw(st.sampled_from([b"", b"t", bytes(2**16 - 1)]), label="ticket")
    extensions: dict[int, bytes] = data.draw(st.dictionaries(
        st.sampled_from([ET.EARLY_DATA, ET.KEY_SHARE, 0x0A0A, 0xFFFF, ET.RECORD_SIZE_LIMIT]),
        st.one_of(st.binary(max_size=8), st.just(bytes(60000))), max_size=2), label="exts")

    def edit(nst: NewSessionTicket) -> NewSessionTicket:
        total = len(ticket) + sum(len(v) + 4 for v in extensions.values())
        exts = extensions if total < 2**16 - 300 else {}
        return NewSessionTicket(lifetime, nst.ticket_age_add, nonce, ticket, exts)

    client, out = connected_with_ticket_patch(edit)
    error = feed(client, [out])
    if error is None:
        assert client.is_connected()
        assert client.data_to_read() == b"after the tickets"


# =====================================================================================
# Sessions and tickets
# =====================================================================================

@FUZZ
@given(st.data())
def test_session_from_bytes_garbage(data: st.DataObject) -> None:
    """TLSSession.from_bytes: a session or TLSUsageError, nothing else."""
    blob = data.draw(st.one_of(st.binary(max_size=200),
                               st.builds(lambda b: SESSION_BYTES[:8] + b,
                                         st.binary(max_size=200)),
                               st.just(SESSION_BYTES).map(lambda b: b)), label="blob")
    if data.draw(st.booleans(), label="mutate"):
        blob = mutate(data, SESSION_BYTES)
    try:
        restored = TLSSession.from_bytes(blob)
    except TLSUsageError:
        return
    assert TLSSession.from_bytes(restored.to_bytes()) == restored  # a faithful round trip


@FEWER
@given(st.data())
def test_tampered_session_resumes_or_falls_back(data: st.DataObject) -> None:
    """A session whose bytes were tampered with (the ticket, or anything): a full
    handshake, a resumption, or an alert; never a Python error."""
    blob = mutate(data, SESSION_BYTES)
    try:
        tampered = TLSSession.from_bytes(blob)
    except TLSUsageError:
        return
    client = TLSConnection(CLIENT_CONFIG, "localhost", session=tampered)
    client.initiate_connection()
    server = new_server(SERVER_CONFIG)
    error = feed(server, [client.data_to_send()])
    if error is None:
        feed(client, [server.data_to_send()])


@FEWER
@given(st.data())
def test_tampered_ticket_means_a_full_handshake(data: st.DataObject) -> None:
    ticket = mutate(data, SESSION.ticket)
    if ticket == SESSION.ticket or not ticket or len(ticket) >= 2**16:
        return
    client = TLSConnection(CLIENT_CONFIG, "localhost",
                           session=dataclasses.replace(SESSION, ticket=ticket))
    client.initiate_connection()
    server = new_server(SERVER_CONFIG)
    handshake(client, server)
    assert client.is_connected() and server.is_connected()
    assert not server.nconfig.session_resumed and not client.nconfig.session_resumed


# =====================================================================================
# Bounds
# =====================================================================================

@pytest.mark.parametrize("excess", [0, 1])
def test_one_bound_for_certificates_compressed_or_not(excess: int) -> None:
    """MAX_CERTIFICATE_LENGTH bounds a Certificate body as announced in its
    handshake header and as a CompressedCertificate's uncompressed_length."""
    length = MAX_CERTIFICATE_LENGTH + excess
    client, server = new_client(CLIENT_CONFIG), new_server(SERVER_CONFIG)
    server.receive_data(client.data_to_send())
    sh, ccs, stream = server_messages(server, server.data_to_send())
    client.receive_data(sh + ccs)
    schedule = internals(server).schedule
    sealer = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    ee = split_messages(stream)[0]
    header = bytes((HandshakeType.CERTIFICATE,)) + length.to_bytes(3, "big")
    error = feed(client, [sealer.handshake(ee + header)])
    if excess:
        assert isinstance(error, DecodeError) and error.reason == "too_long", error
    else:
        assert error is None  # waiting for the rest of the message

    def edit(cc: CompressedCertificate) -> CompressedCertificate:
        return dataclasses.replace(cc, uncompressed_length=length)

    error = client_meets(CLIENT_CONFIG, SERVER_CONFIG,
                         patched_serialize(CompressedCertificate, edit))
    assert isinstance(error, BadCertificate), error
    assert error.reason == ("certificate_too_long" if excess else "bad_compression")


# =====================================================================================
# The same fuzzers on the hacl backend (its X25519, P-256, ChaCha20-Poly1305, hashes)
# =====================================================================================

@pytest.mark.skipif(importlib.util.find_spec("pyhacl") is None, reason="needs pyhacl")
@pytest.mark.parametrize("fuzzer", [
    test_server_hybrid_key_shares, test_client_server_hello_hybrid_key_share,
    test_server_client_hello_new_extensions, test_tampered_session_resumes_or_falls_back,
])
def test_hacl_backend(fuzzer: Callable[[], None]) -> None:
    before = siotls.crypto.installed() or "openssl"
    siotls.crypto.install("hacl")
    try:
        fuzzer()
    finally:
        siotls.crypto.install(before)


def _received_at_offset(blob: bytes) -> int:
    """Where ``received_at`` (uint64) sits in a session's bytes (see session.py)."""
    pos = 8 + 2
    pos += 1 + blob[pos]
    pos += 2 + int.from_bytes(blob[pos : pos + 2], "big")
    return pos + 12


@pytest.mark.parametrize("received_ms", [2**53 + 1, 2**64 - 1])
def test_session_received_at_out_of_range_is_a_usage_error(received_ms: int) -> None:
    """Bug: from_bytes took any uint64 of milliseconds, and to_bytes() then raised
    OverflowError (the float rounded past 2^64) or wrote another value."""
    blob = bytearray(SESSION_BYTES)
    pos = _received_at_offset(blob)
    blob[pos : pos + 8] = received_ms.to_bytes(8, "big")
    with pytest.raises(TLSUsageError):
        TLSSession.from_bytes(bytes(blob))


@pytest.mark.parametrize("received_ms", [0, 1_700_000_000_123, 1234567, 2**53])
def test_session_bytes_round_trip_to_the_millisecond(received_ms: int) -> None:
    """Bug: int() truncation lost a millisecond on about 1% of round trips."""
    blob = bytearray(SESSION_BYTES)
    pos = _received_at_offset(blob)
    blob[pos : pos + 8] = received_ms.to_bytes(8, "big")
    restored = TLSSession.from_bytes(bytes(blob))
    assert restored.to_bytes() == bytes(blob)
    for ms in random.Random(3).sample(range(2**45), 2000):
        assert round(dataclasses.replace(restored, received_at=ms / 1000).received_at
                     * 1000) == ms


def test_session_received_at_never_in_the_future() -> None:
    """Kept to the millisecond, rounded down: a session is usable at once."""
    for t in random.Random(5).sample(range(2**40), 2000):
        moment = t / 997
        assert moment - 0.001 < dataclasses.replace(SESSION, received_at=moment).received_at \
            <= moment


# =====================================================================================
# A stapled OCSP response (status_request in the leaf's CertificateEntry)
# =====================================================================================

OCSP_RESPONSE = ocsp_response(LEAF)
OCSP_SERVER_CONFIG = server_config(LEAF, ocsp_response=OCSP_RESPONSE)
OCSP_CLIENT_CONFIGS = {mode: client_config(CA, ocsp_stapling=mode)
                       for mode in ("request", "check", "require")}


@FUZZ
@given(st.data(), st.sampled_from(sorted(OCSP_CLIENT_CONFIGS)))
def test_client_stapled_ocsp_response(data: st.DataObject, mode: str) -> None:
    """A CertificateStatus mutated as DER, or as its TLS structure, or random."""
    real = ocsp.encode_certificate_status(OCSP_RESPONSE)
    how = data.draw(st.sampled_from(["der", "der", "structure", "random", "type"]), label="how")
    if how == "der":
        value = ocsp.encode_certificate_status(mutate(data, OCSP_RESPONSE))
    elif how == "structure":
        value = mutate(data, real)
    elif how == "random":
        value = data.draw(st.binary(max_size=40), label="random")
    else:
        value = bytes((data.draw(st.integers(0, 255), label="type"),)) + real[1:]

    def edit(certificate: Certificate) -> Certificate:
        if not certificate.certificate_list:
            return certificate
        first, *rest = certificate.certificate_list
        leaf = CertificateEntry(first.cert_data, {**first.extensions, ET.STATUS_REQUEST: value})
        return Certificate(certificate.certificate_request_context, [leaf, *rest])

    client_meets(OCSP_CLIENT_CONFIGS[mode], OCSP_SERVER_CONFIG,
                 patched_serialize(Certificate, edit))


# =====================================================================================
# Post-handshake authentication (RFC 8446 4.6.2): a CertificateRequest after the handshake
# =====================================================================================

PHA_CLIENT_CONFIG = dataclasses.replace(AUTH_CLIENT_CONFIG, post_handshake_auth=True)
PHA_SERVER_CONFIG = server_config(LEAF, truststore=CA.truststore())


@FUZZ
@given(st.data())
def test_client_post_handshake_certificate_request(data: st.DataObject) -> None:
    """Odd contexts and extensions in a post-handshake CertificateRequest; the client's
    answer, if any, then meets the real server."""
    context = data.draw(st.sampled_from([b"", b"\x00", bytes(255), None]), label="context")
    edits = {}
    for _ in range(data.draw(st.integers(0, 2), label="edits")):
        ext_type = data.draw(st.sampled_from(
            [ET.CERTIFICATE_AUTHORITIES, ET.SIGNATURE_ALGORITHMS, ET.SIGNATURE_ALGORITHMS_CERT,
             ET.COMPRESS_CERTIFICATE, ET.STATUS_REQUEST, ET.OID_FILTERS]), label="extension")
        edits[ext_type] = extension_value(data, ext_type, None)

    def edit(cr: CertificateRequest) -> CertificateRequest:
        return CertificateRequest(cr.certificate_request_context if context is None else context,
                                  {**cr.extensions, **edits})

    client, server = new_client(PHA_CLIENT_CONFIG), new_server(PHA_SERVER_CONFIG)
    handshake(client, server)
    with patched_serialize(CertificateRequest, edit):
        server.request_client_certificate()
        request = server.data_to_send()
    if feed(client, [request]) is None:
        feed(server, [client.data_to_send()])


# =====================================================================================
# Raw public keys (RFC 7250)
# =====================================================================================

RPK_SERVER_CONFIG = server_config(LEAF, send_raw_public_key=True)
RPK_CLIENT_CONFIG = TLSConfiguration(
    "client", peer_public_keys=[x509.load_der_x509_certificate(LEAF.cert_der).public_key()
                                .public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)])


@FUZZ
@given(st.data())
def test_client_raw_public_key(data: st.DataObject) -> None:
    """A raw-public-key Certificate with a mutated SubjectPublicKeyInfo, or odd
    certificate types in EncryptedExtensions."""
    mutate_spki = data.draw(st.booleans(), label="mutate the key")
    ee_type = data.draw(st.sampled_from([None, b"\x00", b"\x01", b"\x02", b"\xff", b"",
                                         b"\x01\\x02"]), label="server_certificate_type")

    def edit_certificate(certificate: Certificate) -> Certificate:
        if not mutate_spki or not certificate.certificate_list:
            return certificate
        entries = [CertificateEntry(mutate(data, e.cert_data), e.extensions)
                   for e in certificate.certificate_list]
        return Certificate(certificate.certificate_request_context, entries)

    def edit_ee(ee: EncryptedExtensions) -> EncryptedExtensions:
        if ee_type is None:
            return ee
        return EncryptedExtensions({**ee.extensions, ET.SERVER_CERTIFICATE_TYPE: ee_type})

    client_meets(RPK_CLIENT_CONFIG, RPK_SERVER_CONFIG,
                 patched_serialize(Certificate, edit_certificate),
                 patched_serialize(EncryptedExtensions, edit_ee))


def spki_with_unknown_curve() -> bytes:
    """The server's P-256 SubjectPublicKeyInfo naming a curve OID nobody knows."""
    spki = RPK_CLIENT_CONFIG.peer_public_keys[0]
    p256 = bytes.fromhex("06082a8648ce3d030107")  # namedCurve prime256v1
    assert p256 in spki
    return spki.replace(p256, bytes.fromhex("06082a8648ce3d030108"))


def test_raw_public_key_of_an_unknown_curve_is_an_alert() -> None:
    """Bug: cryptography's UnsupportedAlgorithm escaped normalize_spki (internal_error)."""
    odd = spki_with_unknown_curve()

    def edit(certificate: Certificate) -> Certificate:
        return Certificate(certificate.certificate_request_context, [CertificateEntry(odd)])

    error = client_meets(RPK_CLIENT_CONFIG, RPK_SERVER_CONFIG,
                         patched_serialize(Certificate, edit))
    assert isinstance(error, TLSFatalAlert) and error.reason == "malformed", error
    with pytest.raises(ValueError, match="SubjectPublicKeyInfo"):
        TLSConfiguration("client", peer_public_keys=[odd])


@FUZZ
@given(st.data())
def test_server_post_handshake_answer_mutated(data: st.DataObject) -> None:
    """The client's answer to a post-handshake CertificateRequest (Certificate, maybe
    compressed, CertificateVerify, Finished), opened, mutated and sealed again."""
    client, server = new_client(PHA_CLIENT_CONFIG), new_server(PHA_SERVER_CONFIG)
    handshake(client, server)
    server.request_client_certificate()
    client.receive_data(server.data_to_send())
    answer = client.data_to_send()
    secret = internals(server).schedule.client_application_traffic_secret
    suite = internals(server).schedule.suite
    opener = Sealer(suite, secret)
    stream = b"".join(opener.open(r)[1] for r in split_records(answer))
    payload = in_records(data, mutate(data, stream), Sealer(suite, secret))
    feed(server, chunked(data, payload))
    if not server.is_failed():
        server.send_data(b"still here")


def test_client_keeps_a_bounded_number_of_tickets() -> None:
    """However many NewSessionTickets the server sends, the client keeps the newest
    MAX_SESSION_TICKETS."""
    client, server = new_client(CLIENT_CONFIG), new_server(SERVER_CONFIG)
    handshake(client, server)
    schedule = internals(server).schedule
    sealer = Sealer(schedule.suite, schedule.server_application_traffic_secret)
    tickets = [NewSessionTicket(3600, n, n.to_bytes(2, "big"), b"ticket %d" % n, {}).serialize()
               for n in range(40)]
    assert feed(client, [sealer.handshake(*tickets)]) is None
    kept = client.session_tickets
    assert len(kept) == MAX_SESSION_TICKETS
    assert [s.ticket for s in kept] == [b"ticket %d" % n for n in range(32, 40)]


@pytest.mark.parametrize("position", [psk.MAX_IDENTITIES_TRIED - 1, psk.MAX_IDENTITIES_TRIED])
def test_server_looks_at_a_bounded_number_of_identities(position: int) -> None:
    """Identities past MAX_IDENTITIES_TRIED are not even opened: the good ticket there
    means a full handshake, one place earlier a resumption."""
    now = CLIENT_CONFIG.clock()
    real = psk.client_offers(CLIENT_CONFIG, "localhost", SESSION, now)[0]
    bogus = [dataclasses.replace(real, identity=b"unknown %d" % n, psk=bytes(32), session=None)
             for n in range(position)]
    raw = psk.write_client_hello(RESUMING_CLIENT_HELLO, [*bogus, real],
                                 lambda offer, truncated: psk.hash_of(offer.suite, truncated))
    server = new_server(SERVER_CONFIG)
    assert feed(server, [hs_record(raw)]) is None
    assert server.nconfig.session_resumed is (position < psk.MAX_IDENTITIES_TRIED)


# =====================================================================================
# 0-RTT: early data records and EndOfEarlyData, as the server reads them
# =====================================================================================

def early_server_config() -> TLSConfiguration:
    """A server taking 0-RTT, with a fresh register already past its start window."""
    register = MemoryStrikeRegister(window=20)
    register.started_at -= 20
    return dataclasses.replace(EARLY_SERVER_CONFIG, strike_register=register)


EARLY_SERVER_CONFIG = server_config(LEAF, ticket_keys=TICKET_KEYS, max_early_data=1024,
                                    strike_register=MemoryStrikeRegister(window=20))
EARLY_CLIENT_CONFIG = client_config(CA)


def early_session() -> TLSSession:
    session = new_session(EARLY_CLIENT_CONFIG, early_server_config())
    assert session.max_early_data_size
    return session


EARLY_SESSION = early_session()


@FUZZ
@given(st.data())
def test_server_early_data_mutated(data: st.DataObject) -> None:
    """The early data stream (application data, then EndOfEarlyData later) opened,
    mutated and sealed again under the client's early key; or its ciphertext mutated."""
    early = data.draw(st.binary(min_size=1, max_size=1500), label="early data")
    client = TLSConnection(EARLY_CLIENT_CONFIG, "localhost", session=EARLY_SESSION,
                           early_data=early)
    client.initiate_connection()
    server = TLSConnection(early_server_config())
    server.initiate_connection()
    hello, ccs, *protected = split_records(client.data_to_send())
    schedule = KeySchedule(crypto.CIPHER_SUITES[EARLY_SESSION.cipher_suite])
    schedule.use_psk(EARLY_SESSION.psk)
    schedule.update(hello[5:])
    schedule.enter_early()
    secret, suite = schedule.client_early_traffic_secret, schedule.suite
    if data.draw(st.booleans(), label="as plaintext"):
        stream = b"".join(Sealer(suite, secret).open(r)[1] for r in protected)
        content_type = data.draw(st.sampled_from([23, 23, 22, 21]), label="inner type")
        payload = in_records(data, mutate(data, stream), Sealer(suite, secret), content_type)
    else:
        payload = mutate(data, b"".join(protected))
    if feed(server, chunked(data, hello + ccs + payload)) is not None:
        return
    if feed(client, [server.data_to_send()]) is None:
        feed(server, [client.data_to_send()])
    assert len(server.received_early_data) <= EARLY_SERVER_CONFIG.max_early_data
