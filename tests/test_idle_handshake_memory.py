"""What an idle connection no longer keeps of its handshake (issue 11, handshake second
pass): the peer's chain is the bytes the configuration met first (not a copy per
connection), the randoms and the legacy_session_id are gone; the key log, the chain and
the verified path still say what they said."""

from __future__ import annotations

import warnings

import pytest

from certs import make_ca
from helpers import client_config, connected_pair, server_config
from internals import internals
from siotls import InsecureWarning, TLSConfiguration


@pytest.mark.parametrize("verify", [True, False])
def test_the_same_chain_is_kept_once_and_the_path_agrees(verify: bool) -> None:
    ca = make_ca()
    leaf = ca.intermediate().issue()  # leaf and intermediate sent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureWarning)
        client_cfg = client_config(ca) if verify else TLSConfiguration("client")
    server_cfg = server_config(leaf)
    first, _ = connected_pair(client_cfg, server_cfg)
    second, _ = connected_pair(client_cfg, server_cfg)
    one, two = first.nconfig, second.nconfig
    assert one.peer_certificate_chain == tuple(leaf.chain_der)
    assert two.peer_certificate_chain is one.peer_certificate_chain
    for nconfig in (one, two):
        assert nconfig.peer_verified is verify
        path, chain = nconfig.peer_verified_path, nconfig.peer_certificate_chain
        if verify:
            assert path[0] is chain[0]
            assert all(any(der is sent for sent in chain) for der in path[:len(chain)])
        else:
            assert path == ()


def test_another_chain_is_its_own() -> None:
    ca = make_ca()
    client_cfg = client_config(ca)
    first, _ = connected_pair(client_cfg, server_config(ca.issue(("localhost", "a.test"))))
    second, _ = connected_pair(client_cfg, server_config(ca.issue(("localhost", "b.test"))))
    assert first.nconfig.peer_certificate_chain != second.nconfig.peer_certificate_chain


def test_randoms_dropped_once_connected_key_log_complete() -> None:
    lines: list[str] = []
    ca = make_ca()
    client, server = connected_pair(client_config(ca, log_keys=True, keylog=lines.append),
                                    server_config(ca.issue()))
    labels = [line.split()[0] for line in lines]
    assert labels == ["SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                      "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"]
    assert len({line.split()[1] for line in lines}) == 1  # one client random, 32 bytes
    assert len(bytes.fromhex(lines[0].split()[1])) == 32
    for conn in (client, server):
        assert internals(conn).handshake.client_random == b""
    assert internals(client).handshake.legacy_session_id == b""
