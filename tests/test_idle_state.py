"""What a connection keeps once CONNECTED (memory per idle connection, issue 11).

The handshake-only state goes; what post-handshake messages need stays, and
still works: KeyUpdate, exporters, tickets, post-handshake authentication.
"""

from __future__ import annotations

import pytest

from helpers import connected, flow
from internals import internals
from siotls.core.state import State
from test_pha import client_config as pha_client_config
from test_pha import connected as pha_connected

HANDSHAKE_ONLY_SECRETS = (
    "early_secret", "handshake_secret", "master_secret", "client_handshake_traffic_secret",
    "server_handshake_traffic_secret", "client_early_traffic_secret")
KEPT_SECRETS = (
    "client_application_traffic_secret", "server_application_traffic_secret",
    "exporter_master_secret", "resumption_master_secret")


def test_the_handshake_only_state_goes() -> None:
    client, server = connected({}, {})
    for conn in (client, server):
        view = internals(conn)
        assert view.state is State.CONNECTED
        schedule = view.schedule
        assert all(getattr(schedule, name) == b"" for name in HANDSHAKE_ONLY_SECRETS)
        assert all(len(getattr(schedule, name)) == 32 for name in KEPT_SECRETS)
        assert schedule._transcript is None  # no post_handshake_auth offered
        assert not hasattr(conn, "__dict__")  # slotted
        assert not hasattr(view.handshake, "__dict__")
        # the message handlers are per class (no table per connection)
        assert not any("handlers" in name for cls in type(view.handshake).__mro__
                       for name in getattr(cls, "__slots__", ()))
    handshake = internals(client).handshake
    assert handshake.client_hello is None  # type: ignore[union-attr]
    assert handshake.client_hello_raw == b""  # type: ignore[union-attr]
    assert handshake.peer_public_key is None


def test_what_stays_still_works() -> None:
    client, server = connected({}, {})
    server.send_data(b"tickets go first")
    flow(server, client)
    assert client.data_to_read() == b"tickets go first"
    assert client.session_tickets  # the resumption master secret was there
    assert (client.export_keying_material(b"EXPERIMENTAL x", b"", 32)
            == server.export_keying_material(b"EXPERIMENTAL x", b"", 32))
    client.update_keys(request_peer_update=True)
    flow(client, server)
    server.send_data(b"after the update")
    flow(server, client)
    assert client.data_to_read() == b"after the update"


@pytest.mark.parametrize("offered", [True, False])
def test_the_transcript_stays_for_post_handshake_auth(offered: bool) -> None:
    c, s = pha_connected(pha_client_config(pha=offered))
    for conn in (c, s):
        assert (internals(conn).schedule._transcript is not None) is offered
    if offered:
        s.request_client_certificate()
        flow(s, c)
        flow(c, s)
        assert s.nconfig.post_handshake_authentications == 1
