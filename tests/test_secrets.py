"""Secrets leave the process only where the user pointed them (issue 13, "Secrets").

``log_keys=True`` with neither a ``keylog`` hook nor SSLKEYLOGFILE is refused
when the configuration is made; with a hook or the file, no log record of any
logger carries a secret; and the parsed private key is cached on its
configuration, not in a process-wide cache keyed by the key's bytes.
"""

from __future__ import annotations

import gc
import logging
import types
import weakref
from pathlib import Path

import pytest

from helpers import client_config, connection_pair, handshake, server_config
from siotls import TLSConfiguration
from siotls.core import crypto

LABELS = {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
          "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"}


@pytest.mark.parametrize("side", ["client", "server"])
def test_log_keys_without_a_destination_is_refused(
        side: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    make = client_config if side == "client" else server_config
    with pytest.raises(ValueError, match="log_keys=True needs a keylog hook or the SSLKEYLOGFILE"):
        make(log_keys=True)
    # ... also when changed on an existing configuration.
    with pytest.raises(ValueError, match="SSLKEYLOGFILE"):
        make().copy(log_keys=True)


def test_an_empty_sslkeylogfile_is_no_destination(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", "")
    assert not client_config().log_keys
    with pytest.raises(ValueError, match="SSLKEYLOGFILE"):
        client_config(log_keys=True)


def _secrets_logged(caplog: pytest.LogCaptureFixture, secrets: set[str]) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if any(secret in record.getMessage() for secret in secrets)
            or record.name.startswith("siotls.keylog")]


def test_the_hook_gets_the_secrets_and_no_logger_does(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    caplog.set_level(logging.DEBUG)  # every logger, every level
    lines: list[str] = []
    client, server = connection_pair({"log_keys": True, "keylog": lines.append},
                                     {"log_keys": True, "keylog": lines.append})
    handshake(client, server)
    client.send_data(b"ping")
    server.receive_data(client.data_to_send())
    assert server.data_to_read() == b"ping"
    assert {line.split()[0] for line in lines} == LABELS
    assert len(lines) == 10
    secrets = {line.split()[2] for line in lines}
    assert _secrets_logged(caplog, secrets) == []


def test_sslkeylogfile_read_at_configuration_and_no_logger(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    caplog.set_level(logging.DEBUG)
    client, server = connection_pair({"log_keys": True})
    # The file named when the configuration was made is used, whatever happens later.
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "elsewhere.log"))
    handshake(client, server)
    lines = keylog.read_text().splitlines()
    assert len(lines) == 10  # both sides' configurations were made with the variable set
    assert not (tmp_path / "elsewhere.log").exists()
    assert _secrets_logged(caplog, {line.split()[2] for line in lines}) == []


def test_no_process_wide_cache_of_private_keys() -> None:
    assert not hasattr(crypto.load_credentials, "cache_info")
    config = server_config()
    key, schemes = config.credentials()
    assert schemes
    assert config.copy().credentials()[0] is not key  # a new configuration parses again
    ref = weakref.ref(config)
    del config, schemes
    gc.collect()
    assert ref() is None
    holders = [r for r in gc.get_referrers(key) if not isinstance(r, types.FrameType)]
    assert holders == [], "the parsed private key outlived its configuration"


def test_credentials_without_a_key() -> None:
    with pytest.warns(UserWarning):
        config = TLSConfiguration("client")
    with pytest.raises(ValueError, match="no private_key"):
        config.credentials()
