"""Issue 11, fourth review: a connected pair driven by random sequences of the
calls whose fast paths changed (``send_data`` of any size and buffer type,
``data_to_send`` whole or in pieces, ``data_to_read`` with and without a size,
``update_keys``, a post-handshake CertificateRequest, ``close_sending_end``),
the bytes moved in random cuttings.

Nothing may be lost, duplicated or reordered: what the receiver reads is what
was sent, the peer's close_notify comes after all of it, no error is raised
(a reused sequence number or a record behind a handshake message not yet
packed would fail to decrypt or be read out of order), and ``waiting_for_peer``
is never true while something is queued or readable.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from certs import make_ca
from helpers import client_config, connected_pair, server_config
from siotls import TLSConnection

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

_CA = make_ca()
_CLIENT_LEAF = _CA.issue(("client.test",), client=True)
CONFIGS = {
    "default": (client_config(_CA), server_config(_CA.issue())),
    # small records on both sides, and the client offers post-handshake auth
    "limited": (client_config(_CA, record_size_limit=64, post_handshake_auth=True,
                              certificate_chain=_CLIENT_LEAF.chain_der,
                              private_key=_CLIENT_LEAF.key_der),
                server_config(_CA.issue(), record_size_limit=64, truststore=_CA.truststore())),
}

OP = st.one_of(
    st.tuples(st.just("send"), st.tuples(st.integers(0, 400), st.integers(0, 2))),
    st.tuples(st.just("flush"), st.one_of(st.none(), st.integers(1, 200))),
    st.tuples(st.just("read"), st.one_of(st.none(), st.integers(0, 300))),
    st.tuples(st.just("deliver"), st.integers(1, 300)),
    st.tuples(st.just("update"), st.booleans()),
    st.tuples(st.just("pha"), st.none()),
)


def _check_waiting(conn: TLSConnection) -> None:
    if conn.waiting_for_peer:
        assert conn.can_receive
        assert not conn.data_to_send(), "waiting_for_peer with something to send"


class Side:
    def __init__(self, conn: TLSConnection) -> None:
        self.conn = conn
        self.sent = bytearray()
        self.wire = bytearray()  # flushed, not yet delivered to the peer
        self.read = bytearray()


@SETTINGS
@given(st.lists(st.tuples(st.booleans(), OP), min_size=1, max_size=25),
       st.sampled_from(sorted(CONFIGS)))
# A CertificateRequest waiting to be packed, then one record's worth of data: the
# send fast path must not take it (nor data_to_send's), or the request stays behind.
@example([(False, ("send", (5, 0))), (False, ("flush", None)), (False, ("deliver", 300)),
          (False, ("pha", None)), (False, ("send", (5, 0))), (False, ("flush", None)),
          (False, ("deliver", 300)), (True, ("flush", None)), (True, ("deliver", 300)),
          (False, ("flush", None))], "limited")
def test_random_calls_lose_nothing(ops: list[tuple[bool, tuple[object, object]]],
                                   config: str) -> None:
    client, server = connected_pair(*CONFIGS[config])
    sides = {True: Side(client), False: Side(server)}
    counter = 0
    for from_client, (op, arg) in ops:
        me, peer = sides[from_client], sides[not from_client]
        conn = me.conn
        if op == "send" and conn.can_send:
            size, kind = arg  # type: ignore[misc]
            counter += 1
            data = bytes((counter % 256,)) * size
            conn.send_data(OP_KIND[kind](data))
            me.sent += data
        elif op == "flush":
            me.wire += conn.data_to_send(arg)  # type: ignore[arg-type]
        elif op == "read":
            got = conn.data_to_read(arg)  # type: ignore[arg-type]
            assert arg is None or len(got) <= arg  # type: ignore[operator]
            me.read += got
        elif op == "deliver" and me.wire:
            assert isinstance(arg, int)
            chunk, me.wire[:arg] = bytes(me.wire[:arg]), b""
            peer.conn.receive_data(chunk)
        elif op == "update" and conn.can_send:
            conn.update_keys(request_peer_update=bool(arg))
        elif (op == "pha" and conn is server and config == "limited"
              and not server.client_certificate_pending and conn.can_send):
            server.request_client_certificate()
        _check_waiting(client)
        _check_waiting(server)
    # The end: everything moves (a post-handshake authentication completes), then
    # both close, and everything is read.
    for turn in range(8):
        for me_key in (True, False):
            me, peer = sides[me_key], sides[not me_key]
            if turn >= 4 and me.conn.can_send:
                me.conn.close_sending_end()
            me.wire += me.conn.data_to_send()
            if me.wire:
                peer.conn.receive_data(bytes(me.wire))
                me.wire.clear()
            peer.read += peer.conn.data_to_read()
    if config == "limited":
        assert server.nconfig.post_handshake_auth
        assert not server.client_certificate_pending
    for me_key in (True, False):
        me, peer = sides[me_key], sides[not me_key]
        assert peer.conn.close_notify_received
        assert bytes(peer.read) == bytes(me.sent)


OP_KIND = (bytes, bytearray, memoryview)
