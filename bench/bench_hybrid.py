"""The cost of post-quantum key exchange: siotls's handshake on X25519MLKEM768 next
to siotls on x25519 and Python's ``ssl`` on x25519, in memory, same run.

    python bench/bench_hybrid.py            # 300 handshakes each (about 20 s)
    python bench/bench_hybrid.py --quick    # 60 each
    python bench/bench_hybrid.py --json

Client and server in one process (the setup of bench_engine.py: TLS 1.3,
TLS_AES_128_GCM_SHA256, ECDSA P-256 leaf, certificate and hostname verification).
Rows, interleaved round by round:

* ``siotls X25519MLKEM768``: both sides restricted to the hybrid;
* ``siotls default``: the defaults, the client key-shares X25519MLKEM768 and x25519
  (one X25519 key for both) and the server picks the hybrid;
* ``siotls x25519``: both sides on x25519 only (the baseline);
* ``ssl x25519``: Python's ``ssl`` (its OpenSSL has no ML-KEM before 3.5).

Target: the hybrid handshake at most 1.2x the x25519 one. The siotls rows are also
split per side (the time spent in the client's calls and in the server's), since
in real life each side pays only its own share: the client makes the ML-KEM key
and decapsulates, the server only encapsulates.
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
from _common import TMPDIR, Credentials, make_credentials

# isort: split
import argparse
import json
import statistics
import time

from bench_engine import Siotls, Ssl

from siotls.core.config import TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.iana import CipherSuites, NamedGroup
from siotls.trust import TrustStore

TARGET_RATIO = 1.2  # hybrid handshake time / x25519 handshake time, at most


class SiotlsGroups(Siotls):
    """siotls with the given named groups (``None``: the defaults) on both sides."""

    def __init__(self, creds: Credentials, label: str,
                 groups: list[NamedGroup] | None) -> None:
        super().__init__(creds, CipherSuites.TLS_AES_128_GCM_SHA256)
        self.label = label
        common = {"cipher_suites": [self.suite]}
        if groups is not None:
            common["key_exchanges"] = groups
        self.client_config = TLSConfiguration(
            "client", truststore=TrustStore([creds.ca_der]), **common)
        self.server_config = TLSConfiguration(
            "server", private_key=creds.key_der, certificate_chain=[creds.leaf_der], **common)


def sided_handshake(impl: SiotlsGroups) -> tuple[float, float]:
    """One handshake; (seconds in the client's calls, seconds in the server's)."""
    clock = time.perf_counter
    start = clock()
    client = TLSConnection(impl.client_config, "localhost")
    client.initiate_connection()
    hello = client.data_to_send()
    client_time = clock() - start
    start = clock()
    server = TLSConnection(impl.server_config)
    server.initiate_connection()
    server.receive_data(hello)
    flight = server.data_to_send()
    server_time = clock() - start
    start = clock()
    client.receive_data(flight)
    finished = client.data_to_send()
    client_time += clock() - start
    start = clock()
    server.receive_data(finished)
    server_time += clock() - start
    assert client.is_post_handshake() and server.is_post_handshake()
    return client_time, server_time


def run(rounds: int, per_round: int) -> dict[str, object]:
    creds = make_credentials(TMPDIR.name)
    impls: list[Siotls | Ssl] = [
        SiotlsGroups(creds, "siotls X25519MLKEM768", [NamedGroup.X25519MLKEM768]),
        SiotlsGroups(creds, "siotls default", None),
        SiotlsGroups(creds, "siotls x25519", [NamedGroup.x25519]),
        Ssl(creds),
    ]
    impls[-1].label = "ssl x25519"
    groups = {}
    for impl in impls:
        pair = impl.handshake()
        if isinstance(impl, Siotls):
            groups[impl.label] = pair[1].nconfig.key_exchange.name  # type: ignore[union-attr]
    samples: dict[str, list[float]] = {impl.label: [] for impl in impls}
    clock = time.perf_counter
    for round_number in range(rounds):
        order = impls if round_number % 2 == 0 else impls[::-1]
        for impl in order:
            for _ in range(per_round):
                start = clock()
                impl.handshake()
                samples[impl.label].append(clock() - start)
    sides: dict[str, tuple[list[float], list[float]]] = {
        impl.label: ([], []) for impl in impls if isinstance(impl, SiotlsGroups)}
    for round_number in range(rounds):
        order = impls if round_number % 2 == 0 else impls[::-1]
        for impl in order:
            if isinstance(impl, SiotlsGroups):
                for _ in range(per_round):
                    client_time, server_time = sided_handshake(impl)
                    sides[impl.label][0].append(client_time)
                    sides[impl.label][1].append(server_time)
    medians = {label: statistics.median(values) for label, values in samples.items()}
    baseline = medians["siotls x25519"]
    side_medians = {label: (statistics.median(c), statistics.median(s))
                    for label, (c, s) in sides.items()}
    client_base, server_base = side_medians["siotls x25519"]
    return {
        "client_side_ms": {label: round(c * 1000, 3) for label, (c, _) in side_medians.items()},
        "server_side_ms": {label: round(s * 1000, 3) for label, (_, s) in side_medians.items()},
        "client_side_ratio": {label: round(c / client_base, 3)
                              for label, (c, _) in side_medians.items()},
        "server_side_ratio": {label: round(s / server_base, 3)
                              for label, (_, s) in side_medians.items()},
        "handshakes_per_row": rounds * per_round,
        "groups": groups,
        "median_ms": {label: round(value * 1000, 3) for label, value in medians.items()},
        "ratio_to_siotls_x25519": {label: round(value / baseline, 3)
                                   for label, value in medians.items()},
        "target_ratio": TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 handshakes per row")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-openssl-conf", action="store_true",
                        help="leave OpenSSL's configuration alone (see _common.py)")
    args = parser.parse_args()
    result = run(rounds=6 if args.quick else 30, per_round=10)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['handshakes_per_row']} full handshakes per row, in memory, medians")
    ratios = result["ratio_to_siotls_x25519"]
    assert isinstance(ratios, dict)
    for label, median in result["median_ms"].items():  # type: ignore[union-attr]
        group = result["groups"].get(label, "x25519")  # type: ignore[union-attr]
        print(f"  {label:24} {median:8.3f} ms   {ratios[label]:5.2f}x   ({group})")
    print("per side (siotls rows): client ms, ratio | server ms, ratio")
    for label, client_ms in result["client_side_ms"].items():  # type: ignore[union-attr]
        print(f"  {label:24} {client_ms:8.3f} ms  "
              f"{result['client_side_ratio'][label]:5.2f}x | "  # type: ignore[index]
              f"{result['server_side_ms'][label]:8.3f} ms  "  # type: ignore[index]
              f"{result['server_side_ratio'][label]:5.2f}x")  # type: ignore[index]
    hybrid = ratios["siotls X25519MLKEM768"]
    verdict = "met" if hybrid <= TARGET_RATIO else "MISSED"
    print(f"target: X25519MLKEM768 <= {TARGET_RATIO}x siotls x25519: {verdict} ({hybrid:.2f}x)")


if __name__ == "__main__":
    main()
