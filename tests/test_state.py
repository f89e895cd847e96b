"""The handshake state tables (:mod:`siotls.core.state`) checked as data, without
bytes: the paths of RFC 8446 appendix A, what each side may never receive, and
that :meth:`Handshake.handle` enforces the table both ways."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from helpers import server_config
from siotls import TLSNegotiatedConfiguration
from siotls.core.errors import InternalError, UnexpectedMessage
from siotls.core.record import RecordLayer
from siotls.core.server import ServerHandshake
from siotls.core.state import CLIENT_TRANSITIONS, SERVER_TRANSITIONS, TRANSITIONS, State
from siotls.iana import HandshakeType as HT

S = State
#: Where each side waits for its first message (the client has sent its ClientHello).
FIRST = {"client": S.WAIT_SH, "server": S.START}


def walk(side: str, steps: Sequence[tuple[HT, State]]) -> State:
    """Follow ``(message, next state)`` steps through the table, checking each is allowed."""
    table = TRANSITIONS[side]
    state = FIRST[side]
    for message, target in steps:
        assert message in table[state], f"{message.name} not accepted in {state.name}"
        assert target in table[state][message], f"{message.name}: {state.name} -> {target.name}"
        state = target
    return state


@pytest.mark.parametrize(("side", "steps"), [
    pytest.param("client", [(HT.SERVER_HELLO, S.WAIT_EE), (HT.ENCRYPTED_EXTENSIONS, S.WAIT_CERT_CR),
                            (HT.CERTIFICATE, S.WAIT_CV), (HT.CERTIFICATE_VERIFY, S.WAIT_FINISHED),
                            (HT.FINISHED, S.CONNECTED)], id="client-1rtt"),
    pytest.param("client", [(HT.SERVER_HELLO, S.WAIT_SH), (HT.SERVER_HELLO, S.WAIT_EE),
                            (HT.ENCRYPTED_EXTENSIONS, S.WAIT_CERT_CR),
                            (HT.CERTIFICATE_REQUEST, S.WAIT_CERT), (HT.CERTIFICATE, S.WAIT_CV),
                            (HT.CERTIFICATE_VERIFY, S.WAIT_FINISHED), (HT.FINISHED, S.CONNECTED),
                            (HT.NEW_SESSION_TICKET, S.CONNECTED), (HT.KEY_UPDATE, S.CONNECTED)],
                 id="client-hrr-client-auth-post-handshake"),
    pytest.param("server", [(HT.CLIENT_HELLO, S.WAIT_FINISHED), (HT.FINISHED, S.CONNECTED),
                            (HT.KEY_UPDATE, S.CONNECTED)], id="server-1rtt"),
    pytest.param("server", [(HT.CLIENT_HELLO, S.START), (HT.CLIENT_HELLO, S.WAIT_CERT),
                            (HT.CERTIFICATE, S.WAIT_CV), (HT.CERTIFICATE_VERIFY, S.WAIT_FINISHED),
                            (HT.FINISHED, S.CONNECTED)], id="server-hrr-client-auth"),
])
def test_appendix_a_paths(side: str, steps: list[tuple[HT, State]]) -> None:
    assert walk(side, steps) is S.CONNECTED


@pytest.mark.parametrize("side", ["client", "server"])
def test_every_state_is_reachable_and_leads_on(side: str) -> None:
    table = TRANSITIONS[side]
    seen, todo = set(), [FIRST[side]]
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        assert state in table, f"{state.name} is a dead end"
        for targets in table[state].values():
            todo.extend(targets)
    assert seen == set(table), "states in the table that no path reaches"
    assert S.CONNECTED in seen


def test_what_each_side_never_receives() -> None:
    def accepted(table: dict[State, dict[int, frozenset[State]]]) -> set[int]:
        return {message for row in table.values() for message in row}
    # Messages only the other side sends (EndOfEarlyData: the client's).
    assert accepted(CLIENT_TRANSITIONS).isdisjoint(
        {HT.CLIENT_HELLO, HT.END_OF_EARLY_DATA, HT.MESSAGE_HASH})
    assert accepted(SERVER_TRANSITIONS).isdisjoint(
        {HT.SERVER_HELLO, HT.ENCRYPTED_EXTENSIONS, HT.CERTIFICATE_REQUEST,
         HT.NEW_SESSION_TICKET, HT.MESSAGE_HASH})
    # The server reads EndOfEarlyData only in WAIT_EOED, after accepting 0-RTT.
    assert [state for state, row in SERVER_TRANSITIONS.items()
            if HT.END_OF_EARLY_DATA in row] == [S.WAIT_EOED]
    # After the handshake only post-handshake messages (RFC 8446 4.6), post-handshake
    # authentication included (siotls.core.pha checks that it was offered and asked for).
    assert set(CLIENT_TRANSITIONS[S.CONNECTED]) == {
        HT.NEW_SESSION_TICKET, HT.KEY_UPDATE, HT.CERTIFICATE_REQUEST}
    assert set(SERVER_TRANSITIONS[S.CONNECTED]) == {
        HT.KEY_UPDATE, HT.CERTIFICATE, HT.CERTIFICATE_VERIFY, HT.FINISHED}
    # Once the handshake keys are in, no Hello goes back to the start (no renegotiation).
    assert [state for state, row in CLIENT_TRANSITIONS.items() if HT.SERVER_HELLO in row] \
        == [S.WAIT_SH]
    assert [state for state, row in SERVER_TRANSITIONS.items() if HT.CLIENT_HELLO in row] \
        == [S.START]


def _server_handshake() -> ServerHandshake:
    config = server_config()
    return ServerHandshake(config, RecordLayer(), TLSNegotiatedConfiguration(),
                           None)


def test_handle_refuses_what_the_table_does_not_list(monkeypatch: pytest.MonkeyPatch) -> None:
    handshake = _server_handshake()
    handshake.state = S.WAIT_FINISHED
    called: list[int] = []
    for message in (HT.CLIENT_HELLO, HT.CERTIFICATE, HT.KEY_UPDATE, 99):
        monkeypatch.setitem(ServerHandshake._HANDLERS, message,
                            lambda self, body, raw, m=message: called.append(m))
        with pytest.raises(UnexpectedMessage, match="in state WAIT_FINISHED"):
            handshake.handle(message, memoryview(b""), b"")
    assert called == [], "a handler ran for a message the table refuses"


def test_handle_refuses_a_transition_the_table_does_not_list(
        monkeypatch: pytest.MonkeyPatch) -> None:
    handshake = _server_handshake()
    handshake.state = S.WAIT_FINISHED

    def wrong_handler(self: ServerHandshake, body: memoryview, raw: bytes) -> None:
        self.state = S.WAIT_CV  # FINISHED may only lead to CONNECTED

    monkeypatch.setitem(ServerHandshake._HANDLERS, HT.FINISHED, wrong_handler)
    with pytest.raises(InternalError, match="illegal transition to WAIT_CV"):
        handshake.handle(HT.FINISHED, memoryview(b""), b"")


def test_the_client_table_has_no_start_row() -> None:
    """The client leaves START when it sends its ClientHello, before any input."""
    assert S.START not in CLIENT_TRANSITIONS
