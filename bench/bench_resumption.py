"""Resumed handshakes vs full ones, siotls and Python's ``ssl``, in the same run, in memory.

    python bench/bench_resumption.py            # full run (about 20 s)
    python bench/bench_resumption.py --quick    # short run (about 4 s)
    python bench/bench_resumption.py --json     # print the results as JSON

Setup as in bench_engine.py (TLS 1.3, x25519, TLS_AES_128_GCM_SHA256, an ECDSA
P-256 leaf, certificate and hostname verification on the client), but both
servers send tickets (2 after a full handshake; ``ssl``: ``num_tickets = 2``,
OpenSSL then sends 1 after a resumption, as siotls does).

One timed *connection* is: from nothing to both sides post-handshake, then the
server writes one byte and the client reads it. The byte makes both stacks
issue and deliver their tickets within the timing (siotls sends them with the
server's first data, OpenSSL at the end of its handshake), so the ticket cost
is counted on both sides. A resumed connection uses a session of the previous
connection of the same series (a chain, as a client that keeps its newest
ticket would), with psk_dhe_ke for both stacks; ``siotls resumed psk_ke`` is
siotls with both sides allowing psk_ke (no x25519 at all).

The series are interleaved round by round and the medians reported (the
machine is noisy), with the ratios. Target (issue 8): a siotls resumed
handshake at most 0.5x Python's ssl *full* handshake.
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
from _common import HOSTNAME, TMPDIR, Credentials, make_credentials, siotls_handshake, ssl_contexts

# isort: split
import argparse
import json
import os
import platform
import ssl
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from siotls import InsecureWarning, TLSConfiguration, TLSConnection, TLSSession
from siotls.core.tickets import TicketKeys
from siotls.iana import CipherSuites, NamedGroup, PskKeyExchangeMode
from siotls.trust import TrustStore

TARGET_RESUMED_VS_SSL_FULL = 0.5


class SiotlsSeries:
    """siotls connections, full or resuming the previous connection's session."""

    def __init__(self, creds: Credentials, resume: bool, psk_ke: bool = False) -> None:
        common: dict[str, Any] = {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256],
                                  "key_exchanges": [NamedGroup.x25519]}
        if psk_ke:
            common["psk_key_exchange_modes"] = [PskKeyExchangeMode.psk_ke]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureWarning)
            self.client_config = TLSConfiguration(
                "client", truststore=TrustStore([creds.ca_der]), **common)
            self.server_config = TLSConfiguration(
                "server", private_key=creds.key_der, certificate_chain=[creds.leaf_der],
                ticket_keys=TicketKeys.generate(os.urandom), **common)
        self.resume = resume
        self.psk_ke = psk_ke
        self.session: TLSSession | None = None
        self.connect()  # the first session

    def connect(self) -> None:
        client = TLSConnection(self.client_config, HOSTNAME,
                               session=self.session if self.resume else None)
        server = TLSConnection(self.server_config)
        siotls_handshake(client, server)
        server.send_data(b"x")  # the tickets go out with it
        client.receive_data(server.data_to_send())
        if client.data_to_read() != b"x":
            raise RuntimeError("siotls lost the byte")
        if self.resume and self.session is not None:
            if not client.nconfig.session_resumed or not server.nconfig.session_resumed:
                raise RuntimeError("siotls did not resume")
            if (client.nconfig.key_exchange is None) != self.psk_ke:
                raise RuntimeError("siotls used the wrong PSK mode")
        self.session = client.session


class SslSeries:
    """``ssl`` connections (SSLObject + MemoryBIO), full or resuming the previous one."""

    def __init__(self, creds: Credentials, resume: bool) -> None:
        self.client_context, self.server_context = ssl_contexts(creds)
        self.server_context.num_tickets = 2  # OpenSSL's default, as siotls's
        self.resume = resume
        self.session: ssl.SSLSession | None = None
        self.connect()

    def connect(self) -> None:
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        client = self.client_context.wrap_bio(
            c_in, c_out, server_hostname=HOSTNAME,
            session=self.session if self.resume else None)
        server = self.server_context.wrap_bio(s_in, s_out, server_side=True)
        client_done = server_done = False
        for _ in range(8):
            if not client_done:
                try:
                    client.do_handshake()
                    client_done = True
                except ssl.SSLWantReadError:
                    pass
            if c_out.pending:
                s_in.write(c_out.read())
            if not server_done:
                try:
                    server.do_handshake()
                    server_done = True
                except ssl.SSLWantReadError:
                    pass
            if s_out.pending:
                c_in.write(s_out.read())
            if client_done and server_done:
                break
        else:
            raise RuntimeError("ssl handshake did not complete")
        if c_out.pending:  # nothing expected, but keep the BIOs drained
            s_in.write(c_out.read())
        server.write(b"x")
        c_in.write(s_out.read())
        if client.read() != b"x":
            raise RuntimeError("ssl lost the byte")
        if self.resume and self.session is not None and not client.session_reused:
            raise RuntimeError("ssl did not resume")
        self.session = client.session


def measure(series: dict[str, Callable[[], None]], rounds: int, per_round: int
            ) -> dict[str, list[float]]:
    clock = time.perf_counter
    samples: dict[str, list[float]] = {name: [] for name in series}
    names = list(series)
    for number in range(rounds):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            connect = series[name]
            for _ in range(per_round):
                start = clock()
                connect()
                samples[name].append(clock() - start)
    return samples


def run(args: argparse.Namespace) -> dict[str, Any]:
    creds = make_credentials(TMPDIR.name)
    series: dict[str, Callable[[], None]] = {
        "ssl full": SslSeries(creds, resume=False).connect,
        "ssl resumed": SslSeries(creds, resume=True).connect,
        "siotls full": SiotlsSeries(creds, resume=False).connect,
        "siotls resumed": SiotlsSeries(creds, resume=True).connect,
        "siotls resumed psk_ke": SiotlsSeries(creds, resume=True, psk_ke=True).connect,
    }
    for connect in series.values():  # warm up
        for _ in range(20):
            connect()
    rounds, per_round = (10, 20) if args.quick else (30, 40)
    samples = measure(series, rounds, per_round)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {
        "siotls resumed / siotls full": medians["siotls resumed"] / medians["siotls full"],
        "siotls resumed / ssl full": medians["siotls resumed"] / medians["ssl full"],
        "siotls resumed / ssl resumed": medians["siotls resumed"] / medians["ssl resumed"],
        "ssl resumed / ssl full": medians["ssl resumed"] / medians["ssl full"],
        "siotls full / ssl full": medians["siotls full"] / medians["ssl full"],
        "siotls resumed psk_ke / ssl full":
            medians["siotls resumed psk_ke"] / medians["ssl full"],
    }
    return {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "openssl (ssl)": ssl.OPENSSL_VERSION,
        "connections per series": rounds * per_round,
        "median_ms": {name: value * 1000 for name, value in medians.items()},
        "ratios": ratios,
        "target": {"siotls resumed / ssl full <=": TARGET_RESUMED_VS_SSL_FULL,
                   "met": ratios["siotls resumed / ssl full"] <= TARGET_RESUMED_VS_SSL_FULL},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--no-openssl-conf", action="store_true",
                        help="leave OpenSSL's suite order alone (see _common.py)")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Python {result['python']}, {result['openssl (ssl)']}, "
          f"{result['connections per series']} connections per series (medians)")
    for name, value in result["median_ms"].items():
        print(f"  {name:24} {value:8.3f} ms")
    for name, value in result["ratios"].items():
        print(f"  {name:34} {value:6.2f}")
    target = result["target"]
    print(f"target: siotls resumed / ssl full <= {TARGET_RESUMED_VS_SSL_FULL}: "
          f"{'met' if target['met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
