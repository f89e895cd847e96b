"""The core against the RFC 8448 example handshake traces (TLS_AES_128_GCM_SHA256).

Sections: 3 (1-RTT), 4 (PSK resumption with 0-RTT), 5 (HelloRetryRequest),
6 (client authentication), 7 (middlebox compatibility). Checked here:

* every HKDF-Extract / HKDF-Expand-Label step the RFC prints;
* the key schedule (:class:`KeySchedule`) fed the RFC's handshake messages;
* record protection (:class:`RecordLayer`) of every record, both ways;
* parse/serialize round trips of every handshake message, and the extensions;
* ECDHE and the CertificateVerify signatures.

Section 4 needs a PSK, which :class:`KeySchedule` does not take: its early
secret is injected (``schedule.early_secret = HKDF-Extract(0, PSK)``), the
rest of the ladder is ours.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519

from siotls.core import crypto
from siotls.core import extensions as ext
from siotls.core.handshake import certificate_verify_content
from siotls.core.keyschedule import (
    KeySchedule,
    finished_verify_data,
    hkdf_expand_label,
    traffic_keys,
)
from siotls.core.messages import (
    HELLO_RETRY_REQUEST_RANDOM,
    Finished,
    parse_certificate,
    parse_certificate_request,
    parse_certificate_verify,
    parse_client_hello,
    parse_encrypted_extensions,
    parse_finished,
    parse_new_session_ticket,
    parse_server_hello,
)
from siotls.core.record import RecordLayer
from siotls.iana import CipherSuites, ContentType, HandshakeType, NamedGroup, SignatureScheme
from siotls.iana import ExtensionType as ET
from vectors import SECTIONS, VECTORS, named, records, rsa_key_numbers, section

if VECTORS is None:  # tests/data/rfc8448.json is part of the repository
    raise RuntimeError("the RFC 8448 vectors are missing (tests/data/rfc8448.json)")

SUITE = crypto.CIPHER_SUITES[CipherSuites.TLS_AES_128_GCM_SHA256]
EMPTY_HASH = hashlib.sha256(b"").digest()
CONTENT_TYPES = {
    "change_cipher_spec": ContentType.CHANGE_CIPHER_SPEC, "alert": ContentType.ALERT,
    "handshake": ContentType.HANDSHAKE, "application_data": ContentType.APPLICATION_DATA,
}


def test_vectors_are_aes128_gcm_sha256() -> None:
    for number in SECTIONS:
        assert section(number)["suite"]["cipher_suite_code"] == "1301"


# ---------------------------------------------------------------------------
# Every HKDF step printed in the traces
# ---------------------------------------------------------------------------

def _fields(step: dict[str, Any]) -> dict[str, bytes]:
    return {f["name"]: bytes.fromhex(f["hex"]) for f in step["fields"]}


def _parse_hkdf_label(info: bytes) -> tuple[int, bytes, bytes]:
    length = int.from_bytes(info[:2], "big")
    label_end = 3 + info[2]
    label = info[3:label_end]
    context = info[label_end + 1:]
    assert info[label_end] == len(context)
    assert label.startswith(b"tls13 ")
    return length, label[len(b"tls13 "):], context


def _hkdf_steps() -> list[Any]:
    params = []
    for number in SECTIONS:
        for i, step in enumerate(section(number)["trace"]):
            names = {f["name"] for f in step["fields"]}
            label = step["action"].split('"')[1] if '"' in step["action"] else step["action"]
            if {"salt", "IKM", "secret"} <= names:
                params.append(
                    pytest.param(number, i, "extract", id=f"s{number}-{i}-extract-{label}"))
            if {"PRK", "info", "expanded"} <= names:
                params.append(pytest.param(number, i, "", id=f"s{number}-{i}-expand-{label}"))
            for prefix in ("key ", "iv "):
                if {"PRK", prefix + "info", prefix + "expanded"} <= names:
                    params.append(pytest.param(number, i, prefix,
                                               id=f"s{number}-{i}-{prefix.strip()}-{label}"))
    return params


@pytest.mark.parametrize(("number", "index", "kind"), _hkdf_steps())
def test_hkdf_step(number: int, index: int, kind: str) -> None:
    fields = _fields(section(number)["trace"][index])
    if kind == "extract":
        assert crypto.hkdf_extract(SUITE.hash, fields["salt"], fields["IKM"]) == fields["secret"]
        return
    length, label, context = _parse_hkdf_label(fields[kind + "info"])
    if "hash" in fields:
        assert context == fields["hash"]
    expanded = hkdf_expand_label(SUITE, fields["PRK"], label, context, length)
    assert expanded == fields[kind + "expanded"]
    if "finished" in fields and "binder hash" in fields:  # the PSK binder
        assert finished_verify_data(SUITE, fields["PRK"], fields["binder hash"]) \
            == fields["finished"]


# ---------------------------------------------------------------------------
# Handshake messages, in transcript order
# ---------------------------------------------------------------------------

SERVER_FLIGHT = ("encrypted_extensions", "certificate_request", "server_certificate",
                 "server_certificate_verify", "server_finished")
CLIENT_FLIGHT = ("client_certificate", "client_certificate_verify", "client_finished")
HELLOS = ("client_hello", "client_hello_1", "hello_retry_request", "client_hello_2",
          "server_hello")


def transcript_names(number: int) -> list[str]:
    """The handshake messages of a section, in transcript order (without NST)."""
    n = named(number)
    order = [*HELLOS, *SERVER_FLIGHT, "end_of_early_data", *CLIENT_FLIGHT]
    return [name for name in order if name in n]


def schedule_through(number: int, last: str) -> KeySchedule:
    """A KeySchedule whose transcript holds the messages up to ``last`` included."""
    n = named(number)
    schedule = KeySchedule(SUITE)
    for name in transcript_names(number):
        if name == "hello_retry_request":
            schedule.restart_after_hello_retry()
        schedule.update(n[name])
        if name == last:
            return schedule
    raise AssertionError(f"{last} not in section {number}")


@pytest.mark.parametrize("number", SECTIONS)
def test_flights_are_the_messages(number: int) -> None:
    """Sanity of the vectors: the flights are the messages, back to back."""
    n = named(number)
    assert b"".join(n[m] for m in SERVER_FLIGHT if m in n) == n["server_encrypted_flight_payload"]
    assert b"".join(n[m] for m in CLIENT_FLIGHT if m in n) == n["client_encrypted_flight_payload"]


# ---------------------------------------------------------------------------
# Key schedule
# ---------------------------------------------------------------------------

@functools.cache
def run_schedule(number: int) -> dict[str, bytes]:
    """Walk the key schedule as a peer would, recording every value the RFC prints."""
    n = named(number)
    schedule = KeySchedule(SUITE)
    out: dict[str, bytes] = {}
    if number == 4:
        # KeySchedule has no PSK input: inject the PSK early secret.
        schedule.early_secret = crypto.hkdf_extract(SUITE.hash, b"", n["psk"])
        binder_key = schedule.derive_secret(schedule.early_secret, b"res binder", EMPTY_HASH)
        prefix = n["client_hello_prefix_for_binder"]
        assert n["client_hello"].startswith(prefix)
        binder_hash = hashlib.sha256(prefix).digest()
        out["binder_key"] = binder_key
        out["binder_hash"] = binder_hash
        out["binder_finished_key"] = hkdf_expand_label(SUITE, binder_key, b"finished", b"", 32)
        out["binder"] = finished_verify_data(SUITE, binder_key, binder_hash)
    early = schedule.early_secret
    out["early_secret"] = early
    out["derived_secret_for_handshake"] = schedule.derive_secret(early, b"derived", EMPTY_HASH)

    if number == 5:
        schedule.update(n["client_hello_1"])
        schedule.restart_after_hello_retry()
        schedule.update(n["hello_retry_request"])
        schedule.update(n["client_hello_2"])
    else:
        schedule.update(n["client_hello"])
    if number == 4:
        out["transcript_hash_client_hello"] = schedule.transcript_hash()
        out["client_early_traffic_secret"] = schedule.derive_secret(early, b"c e traffic")
        out["early_exporter_master_secret"] = schedule.derive_secret(early, b"e exp master")

    schedule.update(n["server_hello"])
    schedule.enter_handshake(n["ecdhe_shared_secret"])
    out["transcript_hash_through_server_hello"] = schedule.transcript_hash()
    out["handshake_secret"] = schedule.handshake_secret
    out["client_handshake_traffic_secret"] = schedule.client_handshake_traffic_secret
    out["server_handshake_traffic_secret"] = schedule.server_handshake_traffic_secret
    out["derived_secret_for_master"] = schedule.derive_secret(
        schedule.handshake_secret, b"derived", EMPTY_HASH)

    for name in SERVER_FLIGHT[:-1]:
        if name in n:
            schedule.update(n[name])
    server_hs = schedule.server_handshake_traffic_secret
    out["server_finished_key"] = hkdf_expand_label(SUITE, server_hs, b"finished", b"", 32)
    out["server_finished_verify_data"] = schedule.finished(server_hs)
    schedule.update(n["server_finished"])

    schedule.enter_application()
    out["transcript_hash_through_server_finished"] = schedule.transcript_hash()
    out["master_secret"] = schedule.master_secret
    out["client_application_traffic_secret_0"] = schedule.client_application_traffic_secret
    out["server_application_traffic_secret_0"] = schedule.server_application_traffic_secret
    out["exporter_master_secret"] = schedule.exporter_master_secret

    for name in ("end_of_early_data", *CLIENT_FLIGHT[:-1]):
        if name in n:
            schedule.update(n[name])
    client_hs = schedule.client_handshake_traffic_secret
    out["client_finished_key"] = hkdf_expand_label(SUITE, client_hs, b"finished", b"", 32)
    out["client_finished_verify_data"] = schedule.finished(client_hs)
    schedule.update(n["client_finished"])

    schedule.enter_resumption()
    out["transcript_hash_through_client_finished"] = schedule.transcript_hash()
    out["resumption_master_secret"] = schedule.resumption_master_secret
    if "ticket_nonce" in n:
        out["resumption_psk"] = schedule.resumption_psk(n["ticket_nonce"])

    for epoch, side, secret in (
        ("early", "client", out.get("client_early_traffic_secret")),
        ("handshake", "client", out["client_handshake_traffic_secret"]),
        ("handshake", "server", out["server_handshake_traffic_secret"]),
        ("application", "client", out["client_application_traffic_secret_0"]),
        ("application", "server", out["server_application_traffic_secret_0"]),
    ):
        if secret is not None:
            key, iv = traffic_keys(SUITE, secret)
            out[f"{side}_{epoch}_write_key"] = key
            out[f"{side}_{epoch}_write_iv"] = iv
    return out


SCHEDULE_VALUES = (
    "early_secret", "derived_secret_for_handshake", "handshake_secret",
    "transcript_hash_through_server_hello",
    "client_handshake_traffic_secret", "server_handshake_traffic_secret",
    "derived_secret_for_master", "master_secret",
    "server_finished_key", "server_finished_verify_data",
    "transcript_hash_through_server_finished",
    "client_application_traffic_secret_0", "server_application_traffic_secret_0",
    "exporter_master_secret",
    "client_finished_key", "client_finished_verify_data",
    "transcript_hash_through_client_finished", "resumption_master_secret", "resumption_psk",
    "client_handshake_write_key", "client_handshake_write_iv",
    "server_handshake_write_key", "server_handshake_write_iv",
    "client_application_write_key", "client_application_write_iv",
    "server_application_write_key", "server_application_write_iv",
    # section 4
    "binder_key", "binder_hash", "binder_finished_key", "binder",
    "transcript_hash_client_hello", "client_early_traffic_secret",
    "early_exporter_master_secret", "client_early_write_key", "client_early_write_iv",
)


@pytest.mark.parametrize(("number", "name"), [
    pytest.param(number, name, id=f"s{number}-{name}")
    for number in SECTIONS for name in SCHEDULE_VALUES if name in section(number)["named"]])
def test_key_schedule(number: int, name: str) -> None:
    assert run_schedule(number)[name].hex() == named(number)[name].hex()


@pytest.mark.parametrize("number", [n for n in SECTIONS if n != 4])
def test_no_psk_early_secret(number: int) -> None:
    """Without a PSK the early secret is HKDF-Extract(0, 0): the same in 3, 5, 6, 7."""
    assert KeySchedule(SUITE).early_secret == named(number)["early_secret"]


def test_section_4_psk_is_section_3_resumption_psk() -> None:
    assert run_schedule(3)["resumption_psk"] == named(4)["psk"]


@pytest.mark.parametrize("number", SECTIONS)
@pytest.mark.parametrize("side", ["server", "client"])
def test_finished_message(number: int, side: str) -> None:
    n = named(number)
    raw = n[f"{side}_finished"]
    verify_data = run_schedule(number)[f"{side}_finished_verify_data"]
    assert Finished(verify_data).serialize() == raw
    assert parse_finished(raw[4:], SUITE.hash_length).verify_data == verify_data


def test_hello_retry_transcript_is_message_hash() -> None:
    """RFC 8446 4.4.1: CH1 is replaced by message_hash(254) || 00 00 20 || Hash(CH1)."""
    n = named(5)
    schedule = KeySchedule(SUITE)
    schedule.update(n["client_hello_1"])
    schedule.restart_after_hello_retry()
    schedule.update(n["hello_retry_request"])
    expected = hashlib.sha256(
        bytes((HandshakeType.MESSAGE_HASH, 0, 0, 32)) + hashlib.sha256(n["client_hello_1"]).digest()
        + n["hello_retry_request"]).digest()
    assert schedule.transcript_hash() == expected


# ---------------------------------------------------------------------------
# Record protection
# ---------------------------------------------------------------------------

def record_secret(number: int, record: dict[str, Any]) -> bytes:
    n = named(number)
    epoch, side = record["epoch"], record["direction"]
    if epoch == "early":
        return n["client_early_traffic_secret"]
    if epoch == "handshake":
        return n[f"{side}_handshake_traffic_secret"]
    return n[f"{side}_application_traffic_secret_0"]


def _record_id(number: int, index: int, record: dict[str, Any]) -> str:
    epoch = record.get("epoch", "plain")
    return f"s{number}-{index}-{record['direction']}-{epoch}-{record['content']}"


def _record_params(encrypted: bool) -> list[Any]:
    return [pytest.param(number, i, id=_record_id(number, i, record))
            for number in SECTIONS for i, record in enumerate(records(number))
            if record["encrypted"] == encrypted]


def _same_key_prefix(number: int, index: int) -> list[dict[str, Any]]:
    """The records under the same key as record ``index``, up to it, in order."""
    target = records(number)[index]
    group = [r for r in records(number)[: index + 1]
             if r["encrypted"] and r["direction"] == target["direction"]
             and r["epoch"] == target["epoch"]]
    assert [r["seq"] for r in group] == list(range(len(group)))
    return group


@pytest.mark.parametrize(("number", "index"), _record_params(encrypted=True))
def test_protect_record(number: int, index: int) -> None:
    target = records(number)[index]
    layer = RecordLayer()
    layer.set_write_key(SUITE, record_secret(number, target))
    for record in _same_key_prefix(number, index):
        assert layer.write_seq == record["seq"]
        layer.write(record["inner_content_type"], bytes.fromhex(record["payload"]))
        assert layer.flush().hex() == record["record"]
    assert layer.write_seq == target["seq"] + 1


@pytest.mark.parametrize(("number", "index"), _record_params(encrypted=True))
def test_unprotect_record(number: int, index: int) -> None:
    target = records(number)[index]
    layer = RecordLayer()
    layer.set_read_key(SUITE, record_secret(number, target))
    for record in _same_key_prefix(number, index):
        opened = list(layer.read_records(bytes.fromhex(record["record"])))
        assert [(t, bytes(p).hex(), prot) for t, p, prot in opened] == [
            (record["inner_content_type"], record["payload"], True)]
    assert layer.buffered == 0


@pytest.mark.parametrize(("number", "index"), _record_params(encrypted=False))
def test_plaintext_record(number: int, index: int) -> None:
    record = records(number)[index]
    content_type = CONTENT_TYPES[record["content"]]
    raw = bytes.fromhex(record["record"])
    payload = bytes.fromhex(record["payload"])
    writer = RecordLayer()
    if content_type == ContentType.CHANGE_CIPHER_SPEC:
        writer.write_change_cipher_spec()
    else:
        # RFC 8446 5.1: an initial ClientHello MAY use 0x0301; the traces do.
        writer.first_record_version = int.from_bytes(raw[1:3], "big")
        writer.write(content_type, payload)
    assert writer.flush() == raw
    reader = RecordLayer()
    assert [(t, bytes(p), prot) for t, p, prot in reader.read_records(raw)] == [
        (content_type, payload, False)]


@pytest.mark.parametrize("fragment", [16, 100, 2**14])
@pytest.mark.parametrize("pad", [0, 1, 300])
def test_fragmented_padded_round_trip(fragment: int, pad: int) -> None:
    """The §3 server flight under its key, fragmented and padded, reads back whole."""
    n = named(3)
    payload = n["server_encrypted_flight_payload"]
    writer = RecordLayer(max_fragment_size=fragment, padding=lambda content_type, size: pad)
    writer.set_write_key(SUITE, n["server_handshake_traffic_secret"])
    writer.write(ContentType.HANDSHAKE, payload)
    data = writer.flush()
    count = -(-len(payload) // fragment)
    assert len(data) == len(payload) + count * (5 + 1 + pad + 16)
    reader = RecordLayer()
    reader.set_read_key(SUITE, n["server_handshake_traffic_secret"])
    opened = list(reader.read_records(data))
    assert len(opened) == count
    assert all(t == ContentType.HANDSHAKE and prot for t, _, prot in opened)
    assert b"".join(bytes(p) for _, p, _ in opened) == payload
    if fragment == 2**14 and pad == 0:
        assert data == bytes.fromhex(records(3)[2]["record"])


def _stream_params() -> list[Any]:
    return [pytest.param(number, side, id=f"s{number}-{side}")
            for number in SECTIONS for side in ("client", "server")]


def _direction(number: int, side: str) -> list[dict[str, Any]]:
    return [r for r in records(number) if r["direction"] == side]


@pytest.mark.parametrize(("number", "side"), _stream_params())
def test_write_whole_direction(number: int, side: str) -> None:
    """One record layer writes everything one side sends, switching keys as it goes."""
    sent = _direction(number, side)
    layer = RecordLayer()
    layer.first_record_version = int.from_bytes(bytes.fromhex(sent[0]["record"])[1:3], "big")
    epoch = None
    for record in sent:
        payload = bytes.fromhex(record["payload"])
        if record["encrypted"]:
            if record["epoch"] != epoch:
                epoch = record["epoch"]
                layer.set_write_key(SUITE, record_secret(number, record))
            layer.write(record["inner_content_type"], payload)
        elif record["content"] == "change_cipher_spec":
            layer.write_change_cipher_spec()
        else:
            layer.write(CONTENT_TYPES[record["content"]], payload)
    assert layer.flush().hex() == "".join(r["record"] for r in sent)


@pytest.mark.parametrize("chunk", [0, 1, 5, 7, 100])
@pytest.mark.parametrize(("number", "side"), _stream_params())
def test_read_whole_direction(number: int, side: str, chunk: int) -> None:
    """One record layer reads everything one side sends, in chunks; the generator
    is lazy, so the next key is installed between two records of one call."""
    sent = _direction(number, side)
    stream = bytes.fromhex("".join(r["record"] for r in sent))
    pieces = [stream] if not chunk else [stream[i:i + chunk] for i in range(0, len(stream), chunk)]
    layer = RecordLayer()
    got: list[tuple[int, str, bool]] = []
    epoch = None

    def prepare(position: int) -> None:
        nonlocal epoch
        if position < len(sent):
            record = sent[position]
            if record["encrypted"] and record["epoch"] != epoch:
                epoch = record["epoch"]
                layer.set_read_key(SUITE, record_secret(number, record))

    prepare(0)
    for piece in pieces:
        for content_type, payload, protected in layer.read_records(piece):
            got.append((content_type, bytes(payload).hex(), protected))
            prepare(len(got))
    expected = [(r.get("inner_content_type", CONTENT_TYPES[r["content"]]), r["payload"],
                 r["encrypted"]) for r in sent]
    assert got == expected
    assert layer.buffered == 0


# ---------------------------------------------------------------------------
# Handshake messages: parse, serialize, extensions
# ---------------------------------------------------------------------------

PARSERS: dict[str, tuple[int, Any]] = {
    "client_hello": (HandshakeType.CLIENT_HELLO, parse_client_hello),
    "client_hello_1": (HandshakeType.CLIENT_HELLO, parse_client_hello),
    "client_hello_2": (HandshakeType.CLIENT_HELLO, parse_client_hello),
    "server_hello": (HandshakeType.SERVER_HELLO, parse_server_hello),
    "hello_retry_request": (HandshakeType.SERVER_HELLO, parse_server_hello),
    "encrypted_extensions": (HandshakeType.ENCRYPTED_EXTENSIONS, parse_encrypted_extensions),
    "certificate_request": (HandshakeType.CERTIFICATE_REQUEST, parse_certificate_request),
    "server_certificate": (HandshakeType.CERTIFICATE, parse_certificate),
    "client_certificate": (HandshakeType.CERTIFICATE, parse_certificate),
    "server_certificate_verify": (HandshakeType.CERTIFICATE_VERIFY, parse_certificate_verify),
    "client_certificate_verify": (HandshakeType.CERTIFICATE_VERIFY, parse_certificate_verify),
    "server_finished": (HandshakeType.FINISHED,
                        lambda body: parse_finished(body, SUITE.hash_length)),
    "client_finished": (HandshakeType.FINISHED,
                        lambda body: parse_finished(body, SUITE.hash_length)),
    "new_session_ticket": (HandshakeType.NEW_SESSION_TICKET, parse_new_session_ticket),
}
ALLOWED_IN = {
    "client_hello": ext.CH, "client_hello_1": ext.CH, "client_hello_2": ext.CH,
    "server_hello": ext.SH, "hello_retry_request": ext.HRR, "encrypted_extensions": ext.EE,
    "certificate_request": ext.CR, "new_session_ticket": ext.NST,
}


def parse(number: int, name: str) -> Any:
    raw = named(number)[name]
    return PARSERS[name][1](memoryview(raw)[4:])


@pytest.mark.parametrize(("number", "name"), [
    pytest.param(number, name, id=f"s{number}-{name}")
    for number in SECTIONS for name in PARSERS if name in section(number)["named"]])
def test_message_round_trip(number: int, name: str) -> None:
    raw = named(number)[name]
    assert raw[0] == PARSERS[name][0]
    assert int.from_bytes(raw[1:4], "big") == len(raw) - 4
    message = parse(number, name)
    assert message.serialize().hex() == raw.hex()
    if name in ALLOWED_IN:
        ext.check_allowed(message.extensions, ALLOWED_IN[name])
    if name.endswith("certificate"):
        for entry in message.certificate_list:
            ext.check_allowed(entry.extensions, ext.CT)


RESPONSES = {  # response -> the ClientHello it answers
    "hello_retry_request": "client_hello_1", "server_hello": "client_hello",
    "encrypted_extensions": "client_hello", "server_certificate": "client_hello",
}


@pytest.mark.parametrize(("number", "name"), [
    pytest.param(number, name, id=f"s{number}-{name}")
    for number in SECTIONS for name in RESPONSES if name in section(number)["named"]])
def test_responses_only_carry_offered_extensions(number: int, name: str) -> None:
    hello = RESPONSES[name] if number != 5 or name == "hello_retry_request" else "client_hello_2"
    offered = parse(number, hello).extensions
    message = parse(number, name)
    if name.endswith("certificate"):
        for entry in message.certificate_list:
            ext.check_offered(entry.extensions, offered, "Certificate")
    else:
        ext.check_offered(message.extensions, offered, name)


def test_end_of_early_data_bytes() -> None:
    # There is no EndOfEarlyData class in siotls.core.messages; just its shape.
    assert named(4)["end_of_early_data"] == bytes((HandshakeType.END_OF_EARLY_DATA, 0, 0, 0))


def _hello_shares() -> list[Any]:
    """(section, message, group, public key name) for every key_share the RFC prints."""
    params = []
    for number in SECTIONS:
        if number == 5:
            items = [("client_hello_1", NamedGroup.x25519, "client_x25519_public_key"),
                     ("client_hello_2", NamedGroup.secp256r1, "client_p256_public_key"),
                     ("server_hello", NamedGroup.secp256r1, "server_p256_public_key")]
        else:
            items = [("client_hello", NamedGroup.x25519, "client_x25519_public_key"),
                     ("server_hello", NamedGroup.x25519, "server_x25519_public_key")]
        params += [pytest.param(number, *item, id=f"s{number}-{item[0]}") for item in items]
    return params


@pytest.mark.parametrize(("number", "name", "group", "public_key"), _hello_shares())
def test_hello_key_share(number: int, name: str, group: int, public_key: str) -> None:
    hello = parse(number, name)
    data = hello.extensions[ET.KEY_SHARE]
    expected = named(number)[public_key]
    if name.startswith("client"):
        assert ext.decode_key_share_ch(data) == [(group, expected)]
        assert ext.decode_supported_versions_ch(hello.extensions[ET.SUPPORTED_VERSIONS]) \
            == [0x0304]
        assert CipherSuites.TLS_AES_128_GCM_SHA256 in hello.cipher_suites
    else:
        assert ext.decode_key_share_sh(data) == (group, expected)
        assert ext.decode_u16(hello.extensions[ET.SUPPORTED_VERSIONS], "sv") == 0x0304
        assert hello.cipher_suite == CipherSuites.TLS_AES_128_GCM_SHA256
        assert not hello.is_hello_retry_request


def test_section_3_client_hello_extensions() -> None:
    ch = parse(3, "client_hello")
    assert ch.legacy_version == 0x0303
    assert ch.legacy_session_id == b""
    assert ch.cipher_suites == [0x1301, 0x1303, 0x1302]
    assert ch.legacy_compression_methods == b"\x00"
    assert list(ch.extensions) == [
        ET.SERVER_NAME, ET.RENEGOTIATION_INFO, ET.SUPPORTED_GROUPS, ET.SESSION_TICKET,
        ET.KEY_SHARE, ET.SUPPORTED_VERSIONS, ET.SIGNATURE_ALGORITHMS,
        ET.PSK_KEY_EXCHANGE_MODES, ET.RECORD_SIZE_LIMIT]
    assert ext.decode_server_name(ch.extensions[ET.SERVER_NAME]) == "server"
    assert ext.decode_supported_groups(ch.extensions[ET.SUPPORTED_GROUPS]) == [
        NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1, NamedGroup.secp521r1,
        0x0100, 0x0101, 0x0102, 0x0103, 0x0104]  # ffdhe2048..8192
    schemes = ext.decode_signature_algorithms(ch.extensions[ET.SIGNATURE_ALGORITHMS])
    assert len(schemes) == 15
    assert schemes[:3] == [SignatureScheme.ecdsa_secp256r1_sha256,
                           SignatureScheme.ecdsa_secp384r1_sha384,
                           SignatureScheme.ecdsa_secp521r1_sha512]
    assert SignatureScheme.rsa_pss_rsae_sha256 in schemes
    assert ext.decode_psk_key_exchange_modes(ch.extensions[ET.PSK_KEY_EXCHANGE_MODES]) == [1]
    assert ext.decode_u16(ch.extensions[ET.RECORD_SIZE_LIMIT], "record_size_limit") == 0x4001
    assert ch.extensions[ET.RENEGOTIATION_INFO] == b"\x00"
    assert ch.extensions[ET.SESSION_TICKET] == b""
    assert ch.random == named(3)["client_hello"][6:38]


def test_section_3_encrypted_extensions() -> None:
    ee = parse(3, "encrypted_extensions")
    assert ext.decode_supported_groups(ee.extensions[ET.SUPPORTED_GROUPS])[:4] == [
        NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1, NamedGroup.secp521r1]
    ext.decode_empty(ee.extensions[ET.SERVER_NAME], "server_name")
    assert ext.decode_u16(ee.extensions[ET.RECORD_SIZE_LIMIT], "record_size_limit") == 0x4001
    ext.check_offered(ee.extensions, parse(3, "client_hello").extensions, "EncryptedExtensions")


def test_section_3_new_session_ticket() -> None:
    nst = parse(3, "new_session_ticket")
    assert nst.ticket_nonce == named(3)["ticket_nonce"]
    assert nst.ticket_lifetime == 30
    assert len(nst.ticket) == 178
    assert list(nst.extensions) == [ET.EARLY_DATA]
    assert int.from_bytes(nst.extensions[ET.EARLY_DATA], "big") == 1024  # max_early_data_size


def test_section_4_client_hello_offers_the_ticket() -> None:
    ch = parse(4, "client_hello")
    assert list(ch.extensions)[-1] == ET.PRE_SHARED_KEY  # RFC 8446 4.2.11: must be last
    ext.decode_empty(ch.extensions[ET.EARLY_DATA], "early_data")
    psk = ch.extensions[ET.PRE_SHARED_KEY]
    ticket = parse(3, "new_session_ticket").ticket
    # identities<7..2^16-1>: one PskIdentity (ticket, obfuscated_ticket_age)
    assert psk[:2] == (2 + len(ticket) + 4).to_bytes(2, "big")
    assert psk[2:4] == len(ticket).to_bytes(2, "big")
    assert psk[4:4 + len(ticket)] == ticket
    # binders<33..2^16-1>: one 32-byte binder, the RFC's
    assert psk[-35:] == b"\x00\x21\x20" + named(4)["binder"]
    sh = parse(4, "server_hello")
    assert sh.extensions[ET.PRE_SHARED_KEY] == b"\x00\x00"  # selected_identity 0
    ee = parse(4, "encrypted_extensions")
    ext.decode_empty(ee.extensions[ET.EARLY_DATA], "early_data")


def test_section_5_hello_retry_request() -> None:
    hrr = parse(5, "hello_retry_request")
    assert hrr.is_hello_retry_request
    assert hrr.random == HELLO_RETRY_REQUEST_RANDOM
    assert hrr.cipher_suite == CipherSuites.TLS_AES_128_GCM_SHA256
    assert ext.decode_u16(hrr.extensions[ET.KEY_SHARE], "key_share") == NamedGroup.secp256r1
    assert ext.decode_u16(hrr.extensions[ET.SUPPORTED_VERSIONS], "sv") == 0x0304
    cookie = ext.decode_cookie(hrr.extensions[ET.COOKIE])
    assert len(cookie) == 114
    ch1, ch2 = parse(5, "client_hello_1"), parse(5, "client_hello_2")
    assert ext.decode_cookie(ch2.extensions[ET.COOKIE]) == cookie
    assert ET.COOKIE not in ch1.extensions
    assert (ch2.random, ch2.legacy_session_id, ch2.cipher_suites) \
        == (ch1.random, ch1.legacy_session_id, ch1.cipher_suites)
    assert ext.decode_server_name(ch2.extensions[ET.SERVER_NAME]) == "server"
    # ClientHello2 comes with padding to 512 bytes
    assert set(ch2.extensions[ET.PADDING]) == {0}


def test_section_6_certificate_request() -> None:
    cr = parse(6, "certificate_request")
    assert cr.certificate_request_context == b""
    schemes = ext.decode_signature_algorithms(cr.extensions[ET.SIGNATURE_ALGORITHMS])
    assert SignatureScheme.rsa_pss_rsae_sha256 in schemes
    assert parse(6, "client_certificate").certificate_request_context == b""


def test_section_7_session_id_echo() -> None:
    ch, sh = parse(7, "client_hello"), parse(7, "server_hello")
    assert len(ch.legacy_session_id) == 32
    assert sh.legacy_session_id_echo == ch.legacy_session_id


# ---------------------------------------------------------------------------
# ECDHE
# ---------------------------------------------------------------------------

def _ecdhe_params() -> list[Any]:
    params = []
    for number in SECTIONS:
        curve = "p256" if number == 5 else "x25519"
        params += [pytest.param(number, curve, side, id=f"s{number}-{curve}-{side}")
                   for side in ("client", "server")]
    return params


def _private_key(number: int, curve: str, side: str) -> Any:
    raw = named(number)[f"{side}_{curve}_private_key"]
    if curve == "x25519":
        return x25519.X25519PrivateKey.from_private_bytes(raw)
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


@pytest.mark.parametrize(("number", "curve", "side"), _ecdhe_params())
def test_ecdhe(number: int, curve: str, side: str) -> None:
    n = named(number)
    peer = "server" if side == "client" else "client"
    group = NamedGroup.x25519 if curve == "x25519" else NamedGroup.secp256r1
    key = _private_key(number, curve, side)
    if curve == "x25519":
        public = key.public_key().public_bytes_raw()
    else:
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert public == n[f"{side}_{curve}_public_key"]
    shared = crypto.key_exchange(group, key, n[f"{peer}_{curve}_public_key"])
    assert shared == n["ecdhe_shared_secret"]


def test_section_5_first_x25519_key() -> None:
    key = _private_key(5, "x25519", "client")
    assert key.public_key().public_bytes_raw() == named(5)["client_x25519_public_key"]


# ---------------------------------------------------------------------------
# CertificateVerify
# ---------------------------------------------------------------------------

def _cv_params() -> list[Any]:
    return [pytest.param(number, side, id=f"s{number}-{side}")
            for number in SECTIONS for side in ("server", "client")
            if f"{side}_certificate_verify" in section(number)["named"]]


def _leaf(number: int, side: str) -> x509.Certificate:
    certificate = parse(number, f"{side}_certificate")
    return x509.load_der_x509_certificate(certificate.certificate_list[0].cert_data)


@pytest.mark.parametrize(("number", "side"), _cv_params())
def test_certificate_verify_signature(number: int, side: str) -> None:
    cv = parse(number, f"{side}_certificate_verify")
    transcript_hash = schedule_through(number, f"{side}_certificate").transcript_hash()
    content = certificate_verify_content(side, transcript_hash)
    public_key, kind = crypto.certificate_public_key(_leaf(number, side))
    scheme = crypto.SIGNATURE_SCHEMES[cv.algorithm]
    assert scheme.key_kind == kind[0]
    assert cv.algorithm in crypto.schemes_for_key(kind)
    scheme.verify(public_key, cv.signature, content)
    other = "client" if side == "server" else "server"
    with pytest.raises(crypto.InvalidSignature):
        scheme.verify(public_key, cv.signature,
                      certificate_verify_content(other, transcript_hash))


def _section_2_rsa_key() -> rsa.RSAPrivateKey:
    k = rsa_key_numbers()
    public = rsa.RSAPublicNumbers(k["public_exponent"], k["modulus"])
    return rsa.RSAPrivateNumbers(k["prime1"], k["prime2"], k["private_exponent"], k["exponent1"],
                                 k["exponent2"], k["coefficient"], public).private_key()


@pytest.mark.parametrize("number", [n for n in SECTIONS if n in (3, 5, 7)])
def test_section_2_key_signs_like_the_server(number: int) -> None:
    """The §2 key is the server certificate's: it passes check_key_pair, and a fresh
    (randomized PSS) signature over the same content verifies with the certificate."""
    key = _section_2_rsa_key()
    leaf = _leaf(number, "server")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    crypto.check_key_pair(der, leaf.public_bytes(serialization.Encoding.DER))
    cv = parse(number, "server_certificate_verify")
    assert cv.algorithm == SignatureScheme.rsa_pss_rsae_sha256
    content = certificate_verify_content(
        "server", schedule_through(number, "server_certificate").transcript_hash())
    scheme = crypto.SIGNATURE_SCHEMES[SignatureScheme.rsa_pss_rsae_sha256]
    signature = scheme.sign(key, content)
    assert len(signature) == len(cv.signature) == 128
    scheme.verify(leaf.public_key(), signature, content)
