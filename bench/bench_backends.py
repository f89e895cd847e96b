"""The two crypto backends of siotls side by side: ``'openssl'`` and ``'hacl'``.

    python bench/bench_backends.py            # full run (about 30 s)
    python bench/bench_backends.py --quick    # short run (about 5 s)
    python bench/bench_backends.py --json     # print the results as JSON

A siotls client and a siotls server in memory, in the configuration HACL* covers
entirely: TLS_CHACHA20_POLY1305_SHA256, x25519, an ECDSA P-256 leaf (signed by an
ECDSA P-256 CA). Each backend is installed in turn (``siotls.crypto.install``) and
measured the same way: full handshakes (client and server, certificate validation
included: that part is ``cryptography``'s on both), bulk transfer of 16 KiB records
(ChaCha20-Poly1305 sealing and opening), and each primitive alone, through
:mod:`siotls.core.crypto` (so with what siotls adds around pyhacl: key export,
DER signatures). Medians of interleaved rounds (each round measures both
backends); the ratio column is hacl / openssl (for times, above 1 means hacl is
slower; for throughputs, above 1 means hacl is faster).
"""

from __future__ import annotations

from _common import TMPDIR, Credentials, make_credentials

# isort: split
import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import siotls
from siotls.core import crypto
from siotls.core.config import TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.iana import CipherSuites, NamedGroup, SignatureScheme
from siotls.trust import TrustStore

CHUNK = 16384
BACKENDS = ("openssl", "hacl")


def configs(creds: Credentials) -> tuple[TLSConfiguration, TLSConfiguration]:
    common = {"cipher_suites": [CipherSuites.TLS_CHACHA20_POLY1305_SHA256],
              "key_exchanges": [NamedGroup.x25519]}
    client = TLSConfiguration("client", truststore=TrustStore([creds.ca_der]),
                              **common)
    server = TLSConfiguration("server", private_key=creds.key_der,
                              certificate_chain=[creds.leaf_der], **common)
    return client, server


def handshake(client_config: TLSConfiguration, server_config: TLSConfiguration
              ) -> tuple[TLSConnection, TLSConnection]:
    client = TLSConnection(client_config, server_hostname="localhost")
    server = TLSConnection(server_config)
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    assert client.is_post_handshake() and server.is_post_handshake()
    return client, server


def time_handshakes(client_config: TLSConfiguration, server_config: TLSConfiguration,
                    count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        handshake(client_config, server_config)
    return (time.perf_counter() - start) / count


def time_bulk(pair: tuple[TLSConnection, TLSConnection], mib: int) -> float:
    """MiB/s from client to server, sealed and opened, in 16 KiB records."""
    client, server = pair
    payload = os.urandom(CHUNK)
    chunks = mib * 1024 * 1024 // CHUNK
    start = time.perf_counter()
    for _ in range(chunks):
        client.send_data(payload)
        server.receive_data(client.data_to_send())
        server.data_to_read()
    return mib / (time.perf_counter() - start)


def primitives() -> dict[str, Callable[[], object]]:
    """One call of each primitive the hacl backend takes over, through siotls.core.crypto."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    suite = crypto.CIPHER_SUITES[CipherSuites.TLS_CHACHA20_POLY1305_SHA256]
    aead = suite.aead(os.urandom(32))
    nonce, record = os.urandom(12), os.urandom(CHUNK)
    sealed = aead.encrypt(nonce, record, b"header")
    _, peer_share = crypto.generate_key_share(NamedGroup.x25519)
    ecdsa = crypto.SIGNATURE_SCHEMES[SignatureScheme.ecdsa_secp256r1_sha256]
    ecdsa_key = ec.generate_private_key(ec.SECP256R1())
    ecdsa_sig = ecdsa.sign(ecdsa_key, b"x" * 130)
    eddsa = crypto.SIGNATURE_SCHEMES[SignatureScheme.ed25519]
    eddsa_key = ed25519.Ed25519PrivateKey.generate()
    eddsa_sig = eddsa.sign(eddsa_key, b"x" * 130)
    transcript = os.urandom(8192)

    def x25519() -> bytes:
        private, _ = crypto.generate_key_share(NamedGroup.x25519)
        return crypto.key_exchange(NamedGroup.x25519, private, peer_share)

    def sha256_transcript() -> bytes:
        h = crypto.new_hash(hashes.SHA256())
        h.update(transcript)
        return h.finalize()

    return {
        "chacha20-poly1305 seal 16 KiB": lambda: aead.encrypt(nonce, record, b"header"),
        "chacha20-poly1305 open 16 KiB": lambda: aead.decrypt(nonce, sealed, b"header"),
        "x25519 keygen + exchange": x25519,
        "ecdsa p-256 sign": lambda: ecdsa.sign(ecdsa_key, b"x" * 130),
        "ecdsa p-256 verify": lambda: ecdsa.verify(ecdsa_key.public_key(), ecdsa_sig,
                                                   b"x" * 130),
        "ed25519 sign": lambda: eddsa.sign(eddsa_key, b"x" * 130),
        "ed25519 verify": lambda: eddsa.verify(eddsa_key.public_key(), eddsa_sig, b"x" * 130),
        "sha-256 of 8 KiB": sha256_transcript,
        "hkdf-expand-label (32 B)": lambda: crypto.hkdf_expand(
            hashes.SHA256(), transcript[:32], b"\x00\x20\x0ftls13 c hs traffic\x00", 32),
    }


def time_call(fn: Callable[[], object], budget: float) -> float:
    """Seconds per call, over as many calls as fit in ``budget`` seconds (at least 3)."""
    fn()
    count, start = 0, time.perf_counter()
    while count < 3 or time.perf_counter() - start < budget:
        fn()
        count += 1
    return (time.perf_counter() - start) / count


def run(args: argparse.Namespace) -> dict[str, object]:
    """Interleaved rounds: in each, every backend is installed in turn and measured once."""
    creds = make_credentials(TMPDIR.name)
    client_config, server_config = configs(creds)
    rounds, count, mib = (3, 20, 4) if args.quick else (9, 40, 8)
    budget = 0.03 if args.quick else 0.1
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in BACKENDS}
    work: dict[str, dict[str, Callable[[], object]]] = {}
    pairs: dict[str, tuple[TLSConnection, TLSConnection]] = {}
    for name in BACKENDS:
        siotls.crypto.install(name)
        pairs[name] = handshake(client_config, server_config)
        report = siotls.crypto.report(pairs[name][0].nconfig)
        assert {k: v for k, v in report.items() if k != "x509"} == {
            "aead": name, "hash": name, "key_exchange": name, "peer_signature": name}, report
        work[name] = primitives()
    for _ in range(rounds):
        for name in BACKENDS:
            siotls.crypto.install(name)
            row = samples[name]
            row.setdefault("handshake (ms)", []).append(
                1e3 * time_handshakes(client_config, server_config, count))
            row.setdefault("bulk chacha20 (MiB/s)", []).append(time_bulk(pairs[name], mib))
            for label, fn in work[name].items():
                row.setdefault(f"{label} (us)", []).append(1e6 * time_call(fn, budget))
    siotls.crypto.install("openssl")
    results = {name: {key: statistics.median(values) for key, values in row.items()}
               for name, row in samples.items()}
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "params": {"quick": args.quick, "rounds": rounds, "handshakes_per_round": count,
                   "bulk_mib": mib},
        "results": results,
        "ratio_hacl_over_openssl": {key: results["hacl"][key] / results["openssl"][key]
                                    for key in results["openssl"]},
    }


def print_table(r: dict[str, object]) -> None:
    results = r["results"]
    ratios = r["ratio_hacl_over_openssl"]
    assert isinstance(results, dict) and isinstance(ratios, dict)
    print(f"siotls crypto backends: Python {r['python']} on {r['machine']}; "
          f"TLS_CHACHA20_POLY1305_SHA256, x25519, ECDSA P-256; medians; {r['params']}\n")
    print(f"{'':34} {'openssl':>10} {'hacl':>10} {'hacl/openssl':>13}")
    for key in results["openssl"]:
        print(f"{key:34} {results['openssl'][key]:10.2f} {results['hacl'][key]:10.2f} "
              f"{ratios[key]:13.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
