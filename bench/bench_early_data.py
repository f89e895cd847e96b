"""What 0-RTT costs in CPU: resumed handshakes with and without early data, in memory.

    python bench/bench_early_data.py            # about 10 s
    python bench/bench_early_data.py --quick    # about 3 s

Setup as in bench_resumption.py (TLS 1.3, x25519, TLS_AES_128_GCM_SHA256, an
ECDSA P-256 leaf, verification on the client, psk_dhe_ke). Three series of
siotls resumed connections, interleaved: without early data; with 128 bytes of
early data accepted (the in-memory strike register asked inline); and with it
refused by a server that allows none (the records skipped by trial decryption).
One timed connection is the handshake plus the server's first byte (which
carries the new ticket) and, with 0-RTT, the server reading the early data.
Each resumes with the ticket of the previous connection of its series (the refused
series: always the first ticket, from a server that allowed early data).

Round trips, which are 0-RTT's point (the server reads the request one round
trip earlier), do not show in memory; this measures the extra key derivation,
the register's check and the EndOfEarlyData.
"""

from __future__ import annotations

from _common import HOSTNAME, TMPDIR, Credentials, make_credentials, siotls_handshake

# isort: split
import argparse
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from siotls import TLSConfiguration, TLSConnection, TLSSession
from siotls.core.tickets import TicketKeys
from siotls.iana import CipherSuites, NamedGroup
from siotls.stores import MemoryStrikeRegister
from siotls.trust import TrustStore

EARLY = b"x" * 128


class Series:
    def __init__(self, creds: Credentials, early: bool, server_allows: bool) -> None:
        common: dict[str, Any] = {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256],
                                  "key_exchanges": [NamedGroup.x25519]}
        self.client_config = TLSConfiguration("client", truststore=TrustStore([creds.ca_der]),
                                              **common)
        register = MemoryStrikeRegister(max_entries=10**6)
        register.started_at -= register.window  # past the start rule
        keys = TicketKeys.generate(os.urandom)
        server = {"private_key": creds.key_der, "certificate_chain": [creds.leaf_der],
                  "ticket_keys": keys, **common}
        self.issuer = TLSConfiguration("server", max_early_data=16384,
                                       strike_register=register, **server)
        self.server_config = self.issuer if server_allows else TLSConfiguration(
            "server", **server)
        self.early = early
        self.expected = "not sent" if not early else (
            "accepted" if server_allows else "rejected")
        self.session: TLSSession | None = None
        self.connect(self.issuer)  # the first session, allowing early data

    def connect(self, server_config: TLSConfiguration | None = None) -> None:
        resuming = self.session is not None
        client = TLSConnection(self.client_config, HOSTNAME, session=self.session,
                               early_data=EARLY if self.early and resuming else None)
        server = TLSConnection(server_config or self.server_config)
        siotls_handshake(client, server)
        if data := client.data_to_send():  # the Finished (and EndOfEarlyData)
            server.receive_data(data)
        server.data_to_read_early()
        server.send_data(b"x")
        client.receive_data(server.data_to_send())
        if resuming and (not server.nconfig.session_resumed
                         or server.nconfig.early_data != self.expected):
            raise RuntimeError(f"unexpected: {server.nconfig}")
        if server_config is not None or self.server_config is self.issuer:
            self.session = client.session  # else: keep the issuer's ticket, which allows 0-RTT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    creds = make_credentials(TMPDIR.name)
    series = {
        "resumed": Series(creds, early=False, server_allows=True),
        "resumed + 0-RTT accepted": Series(creds, early=True, server_allows=True),
        "resumed + 0-RTT refused": Series(creds, early=True, server_allows=False),
    }
    rounds, per_round = (10, 20) if args.quick else (30, 40)
    samples: dict[str, list[float]] = {name: [] for name in series}
    for _ in range(20):  # warm up
        for one in series.values():
            one.connect()
    for number in range(rounds):
        names = list(series) if number % 2 == 0 else list(series)[::-1]
        for name in names:
            for _ in range(per_round):
                start = time.perf_counter()
                series[name].connect()
                samples[name].append(time.perf_counter() - start)
    base = statistics.median(samples["resumed"])
    print(f"siotls, {rounds * per_round} connections per series, median per connection:")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:26} {median * 1000:7.3f} ms  ({median / base:.2f}x resumed)")


if __name__ == "__main__":
    main()
