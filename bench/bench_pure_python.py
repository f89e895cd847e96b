"""siotls vs tlslite-ng, the other pure-Python TLS 1.3 stack, over socketpairs.

    python bench/bench_pure_python.py            # full run (about 1.5 min)
    python bench/bench_pure_python.py --quick    # short run (< 60 s)
    python bench/bench_pure_python.py --json     # print the results as JSON

tlslite-ng (``pip install tlslite-ng``) is a bench-only dependency: without it
this script says so and exits 0. Its API is socket-based, so both stacks run the
same way here: a ``socket.socketpair()``, the server in a thread, the client in
the main thread, blocking loops (siotls as in examples/client.py). siotls is
also measured in memory (as in bench_engine.py) for reference, and so is the
harness alone (the same socketpair + thread with no TLS at all).

TLS 1.3, x25519, TLS_AES_128_GCM_SHA256, an ECDSA P-256 leaf for localhost
signed by an ECDSA P-256 CA (bench/_common.py), no session tickets, no
certificate compression (siotls has none; tlslite's server would otherwise
zlib the certificate). tlslite does its record encryption in pure Python, or
with M2Crypto when that is importable (AES-CTR in OpenSSL, GHASH still in
Python); each available backend is run as its own column. See bench/README.md.
"""

from __future__ import annotations

# First: _common configures OpenSSL and makes the certificates (see its docstring).
from _common import HOSTNAME, TMPDIR, Credentials, make_credentials, siotls_handshake

# isort: split
import argparse
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from siotls.core.config import TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.iana import CipherSuites, NamedGroup
from siotls.trust import TrustStore

try:
    from tlslite.api import HandshakeSettings, X509CertChain, parsePEMKey
    from tlslite.api import TLSConnection as TlsliteConnection
    from tlslite.checker import Checker
    from tlslite.utils import cryptomath as tlslite_cryptomath
except ImportError:
    tlslite_cryptomath = None

CHUNK = 16384
RECV_SIZE = 65536
MIB = 1024 * 1024
# tlslite's cipherImplementations names -> what they mean / the column label
TLSLITE_BACKENDS = {"python": "pure Python", "openssl": "M2Crypto", "pycrypto": "PyCrypto"}
T = TypeVar("T")


# -- the implementations: handshake on a connected socket, then send / recv ------------------
class Plain:
    """No TLS: the harness alone (socketpair, server thread, blocking send/recv)."""

    label = "no TLS (harness)"
    slow = False

    def client_handshake(self, sock: socket.socket) -> None:
        return None

    server_handshake = client_handshake

    @staticmethod
    def send(conn: None, sock: socket.socket, data: bytes) -> None:
        sock.sendall(data)

    @staticmethod
    def recv(conn: None, sock: socket.socket) -> bytes:
        data = sock.recv(RECV_SIZE)
        if not data:
            raise EOFError("the peer hung up")
        return data


class SiotlsSockets:
    """siotls driven by blocking socket loops, like examples/client.py."""

    label = "siotls"
    slow = False

    def __init__(self, creds: Credentials) -> None:
        common = {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256],
                  "key_exchanges": [NamedGroup.x25519]}
        self.client_config = TLSConfiguration(
            "client", truststore=TrustStore([creds.ca_der]), **common)
        self.server_config = TLSConfiguration(
            "server", private_key=creds.key_der, certificate_chain=[creds.leaf_der],
            num_tickets=0, **common)  # like the ssl server (_common.ssl_contexts)

    @staticmethod
    def _handshake(conn: TLSConnection, sock: socket.socket) -> TLSConnection:
        conn.initiate_connection()
        if data := conn.data_to_send():
            sock.sendall(data)
        while not conn.is_post_handshake():
            data = sock.recv(RECV_SIZE)
            if not data:
                conn.close_receiving_end()  # raises: the peer hung up
            conn.receive_data(data)
            if data := conn.data_to_send():
                sock.sendall(data)
        return conn

    def client_handshake(self, sock: socket.socket) -> TLSConnection:
        return self._handshake(TLSConnection(self.client_config, HOSTNAME), sock)

    def server_handshake(self, sock: socket.socket) -> TLSConnection:
        return self._handshake(TLSConnection(self.server_config), sock)

    @staticmethod
    def send(conn: TLSConnection, sock: socket.socket, data: bytes) -> None:
        conn.send_data(data)
        sock.sendall(conn.data_to_send())

    @staticmethod
    def recv(conn: TLSConnection, sock: socket.socket) -> bytes:
        while not (data := conn.data_to_read()):
            raw = sock.recv(RECV_SIZE)
            if not raw:
                conn.close_receiving_end()  # raises
            conn.receive_data(raw)
            if out := conn.data_to_send():
                sock.sendall(out)
        return data

    @staticmethod
    def describe(client: TLSConnection) -> str:
        n = client.nconfig
        assert n.cipher_suite == CipherSuites.TLS_AES_128_GCM_SHA256, n.cipher_suite
        assert n.key_exchange == NamedGroup.x25519, n.key_exchange
        assert n.peer_verified
        return f"{n.cipher_suite.name}, {n.key_exchange.name}, {n.peer_signature_algorithm.name}"


class Tlslite:
    """tlslite-ng's TLSConnection, one record-cipher backend (cipherImplementations)."""

    slow = True

    def __init__(self, creds: Credentials, backend: str) -> None:
        self.backend = backend
        self.label = f"tlslite-ng {TLSLITE_BACKENDS[backend]}"
        self.chain = X509CertChain()
        self.chain.parsePemList(Path(creds.cert_file).read_text())
        self.key = parsePEMKey(Path(creds.key_file).read_text(), private=True)
        # tlslite has no path validation against trust anchors: the most it offers to
        # authenticate the server is pinning the leaf's fingerprint (siotls verifies the
        # chain up to the CA and the hostname, i.e. does more work).
        self.checker = Checker(x509Fingerprint=self.chain.getFingerprint())
        self.client_settings = self._settings()
        self.server_settings = self._settings()

    def _settings(self) -> HandshakeSettings:
        settings = HandshakeSettings()
        settings.minVersion = settings.maxVersion = (3, 4)
        settings.versions = [(3, 4)]
        settings.cipherNames = ["aes128gcm"]
        settings.cipherImplementations = [self.backend]
        # default key shares are x25519mlkem768 (if available), secp256r1 and x25519:
        # each computed in Python by the client, so only x25519 here.
        settings.eccCurves = ["x25519"]
        settings.keyShares = ["x25519"]
        settings.ticket_count = 0  # siotls servers send no NewSessionTicket
        settings.certificate_compression_send = []
        settings.certificate_compression_receive = []
        return settings

    def client_handshake(self, sock: socket.socket) -> Any:
        conn = TlsliteConnection(sock)
        conn.handshakeClientCert(settings=self.client_settings, checker=self.checker,
                                 serverName=HOSTNAME)
        return conn

    def server_handshake(self, sock: socket.socket) -> Any:
        conn = TlsliteConnection(sock)
        conn.handshakeServer(certChain=self.chain, privateKey=self.key,
                             settings=self.server_settings)
        return conn

    @staticmethod
    def send(conn: Any, sock: socket.socket, data: bytes) -> None:
        conn.write(data)

    @staticmethod
    def recv(conn: Any, sock: socket.socket) -> bytes:
        data = conn.read()
        if not data:
            raise EOFError("the peer closed")
        return data

    def describe(self, client: Any) -> str:
        assert client.version == (3, 4), client.version
        assert client.getCipherName() == "aes128gcm", client.getCipherName()
        implementation = client.getCipherImplementation()
        assert implementation == self.backend, (implementation, self.backend)
        return f"aes128gcm ({implementation}), x25519, {type(self.key).__name__}"


Impl = Plain | SiotlsSockets | Tlslite


class SiotlsMemory:
    """siotls client and server in memory, no sockets (as bench_engine.py)."""

    label = "siotls in memory"
    slow = False

    def __init__(self, sockets: SiotlsSockets) -> None:
        self.client_config, self.server_config = sockets.client_config, sockets.server_config

    def handshake(self) -> tuple[TLSConnection, TLSConnection]:
        client = TLSConnection(self.client_config, HOSTNAME)
        server = TLSConnection(self.server_config)
        siotls_handshake(client, server)
        return client, server

    def time_handshakes(self, count: int) -> list[float]:
        clock, samples = time.perf_counter, []
        for _ in range(count):
            start = clock()
            self.handshake()
            samples.append(clock() - start)
        return samples

    def time_bulk(self, nbytes: int) -> float:
        client, server = self.handshake()
        chunk = bytes(CHUNK)
        received = 0
        start = time.perf_counter()
        for _ in range(nbytes // CHUNK):
            client.send_data(chunk)
            server.receive_data(client.data_to_send())
            received += len(server.data_to_read())
        elapsed = time.perf_counter() - start
        assert received == nbytes, (received, nbytes)
        return nbytes / MIB / elapsed

    def time_echo(self, count: int) -> float:
        client, server = self.handshake()
        start = time.perf_counter()
        for _ in range(count):
            client.send_data(b"x")
            server.receive_data(client.data_to_send())
            server.send_data(server.data_to_read())
            client.receive_data(server.data_to_send())
            if client.data_to_read() != b"x":
                raise RuntimeError("siotls echo lost its byte")
        return count / (time.perf_counter() - start)


# -- the harness: a socketpair, the server in a thread, the client here -------------------------
def run_pair(client: Callable[[socket.socket], T], server: Callable[[socket.socket], object]) -> T:
    csock, ssock = socket.socketpair()
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server(ssock)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            failure.append(exc)
            ssock.shutdown(socket.SHUT_RDWR)  # so that the client is not left waiting

    thread = threading.Thread(target=serve, name="bench-server")
    thread.start()
    try:
        result = client(csock)
    except BaseException:
        csock.shutdown(socket.SHUT_RDWR)
        thread.join()
        if failure:
            raise RuntimeError("the server side failed too") from failure[0]
        raise
    else:
        thread.join()
        if failure:
            raise RuntimeError("the server side failed") from failure[0]
        return result
    finally:
        csock.close()
        ssock.close()


def time_handshakes(impl: Impl, count: int) -> list[float]:
    """Per connection: socketpair + server thread + both handshakes, until both are done."""
    clock, samples = time.perf_counter, []
    for _ in range(count):
        start = clock()
        run_pair(impl.client_handshake, impl.server_handshake)
        samples.append(clock() - start)
    return samples


def time_bulk(impl: Impl, nbytes: int) -> float:
    """MiB/s: after the handshake, the client writes ``nbytes`` in 16 KiB writes; the clock
    runs (in the client) from the server's go byte to its byte saying it got everything."""

    def client(sock: socket.socket) -> float:
        conn = impl.client_handshake(sock)
        impl.recv(conn, sock)  # go
        chunk, send = bytes(CHUNK), impl.send
        start = time.perf_counter()
        for _ in range(nbytes // CHUNK):
            send(conn, sock, chunk)
        if impl.recv(conn, sock) != b"d":
            raise RuntimeError("bulk: wrong end byte")
        return time.perf_counter() - start

    def server(sock: socket.socket) -> None:
        conn = impl.server_handshake(sock)
        impl.send(conn, sock, b"g")
        received, recv = 0, impl.recv
        while received < nbytes:
            received += len(recv(conn, sock))
        if received != nbytes:
            raise RuntimeError(f"bulk: got {received} bytes, not {nbytes}")
        impl.send(conn, sock, b"d")

    return nbytes / MIB / run_pair(client, server)


def time_echo(impl: Impl, count: int) -> float:
    """1-byte round trips per second on one connection."""

    def client(sock: socket.socket) -> float:
        conn = impl.client_handshake(sock)
        impl.recv(conn, sock)  # go
        send, recv = impl.send, impl.recv
        start = time.perf_counter()
        for _ in range(count):
            send(conn, sock, b"x")
            if recv(conn, sock) != b"x":
                raise RuntimeError("echo lost its byte")
        return time.perf_counter() - start

    def server(sock: socket.socket) -> None:
        conn = impl.server_handshake(sock)
        impl.send(conn, sock, b"g")
        send, recv = impl.send, impl.recv
        for _ in range(count):
            send(conn, sock, recv(conn, sock))

    return count / run_pair(client, server)


def describe(impl: SiotlsSockets | Tlslite) -> str:
    """Handshake once, check what was negotiated, and say it."""
    return run_pair(lambda sock: impl.describe(impl.client_handshake(sock)),
                    impl.server_handshake)


# -- what tlslite computes with -------------------------------------------------------------------
def tlslite_crypto() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    cm = tlslite_cryptomath
    pycryptodome = version("pycryptodome")
    return {
        "tlslite_ng": version("tlslite-ng"),
        "backends": [b for b, on in (("python", True), ("openssl", cm.m2cryptoLoaded),
                                     ("pycrypto", cm.pycryptoLoaded)) if on],
        "m2crypto": version("M2Crypto") if cm.m2cryptoLoaded else None,
        "pycrypto_used": bool(cm.pycryptoLoaded),
        # tlslite's check wants PyCrypto's ``AES.AESCipher``, which pycryptodome lacks
        "pycryptodome_installed_but_unused": bool(pycryptodome and not cm.pycryptoLoaded),
        "pycryptodome": pycryptodome,
        "ecdsa": version("ecdsa"),
        "gmpy2": bool(cm.GMPY2_LOADED or importlib.util.find_spec("gmpy2")),
    }


def crypto_summary(info: dict[str, Any]) -> list[str]:
    lines = [
        f"tlslite-ng {info['tlslite_ng']}: x25519 in pure Python (tlslite/utils/x25519.py);"
        f" ECDSA with python-ecdsa {info['ecdsa']}"
        + (" (with gmpy2)" if info["gmpy2"] else " (pure Python, no gmpy2)")
        + "; SHA-256/HMAC with hashlib (C).",
        "AES-128-GCM records: pure Python AES-CTR + GHASH (tlslite/utils/aesgcm.py)",
    ]
    if info["m2crypto"]:
        lines.append(f"  and with M2Crypto {info['m2crypto']}: AES-CTR in OpenSSL, GHASH still"
                     " in Python (openssl_aesgcm.py)")
    else:
        lines.append("  (M2Crypto not importable: `pip install m2crypto`, needs swig and"
                     " OpenSSL headers, adds an OpenSSL AES-CTR column)")
    if info["pycrypto_used"]:
        lines.append("  and with PyCrypto: AES block function in C, GHASH in Python")
    if info["pycryptodome_installed_but_unused"]:
        lines.append(f"  pycryptodome {info['pycryptodome']} is installed but tlslite does not use"
                     " it (its check wants PyCrypto's AES.AESCipher)")
    return lines


# -- the run ---------------------------------------------------------------------------------
def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        params = {"rounds": 5, "handshakes": 15, "bulk_mib": 32, "bulk_mib_tlslite": 1,
                  "echoes": 4000, "echoes_tlslite": 400}
    else:
        params = {"rounds": 9, "handshakes": 40, "bulk_mib": 128, "bulk_mib_tlslite": 2,
                  "echoes": 15000, "echoes_tlslite": 1500}
    creds = make_credentials(TMPDIR.name)
    siotls = SiotlsSockets(creds)
    memory = SiotlsMemory(siotls)
    crypto = tlslite_crypto()
    tlslites = [Tlslite(creds, backend) for backend in crypto["backends"]]
    impls: list[Impl] = [Plain(), siotls, *tlslites]
    negotiated = {impl.label: describe(impl) for impl in (siotls, *tlslites)}
    everyone: list[Impl | SiotlsMemory] = [memory, *impls]

    def bulk_bytes(impl: Impl | SiotlsMemory) -> int:
        return params["bulk_mib_tlslite" if impl.slow else "bulk_mib"] * MIB

    def echoes(impl: Impl | SiotlsMemory) -> int:
        return params["echoes_tlslite" if impl.slow else "echoes"]

    def measure(impl: Impl | SiotlsMemory, what: str, scale: float = 1) -> Any:
        gc.collect()
        if isinstance(impl, SiotlsMemory):
            func = {"hs": impl.time_handshakes, "bulk": impl.time_bulk, "echo": impl.time_echo}
            return func[what](max(1, int(scale)))
        func = {"hs": time_handshakes, "bulk": time_bulk, "echo": time_echo}[what]
        return func(impl, max(1, int(scale)))

    for impl in everyone:  # warm up
        measure(impl, "hs", 2)
        measure(impl, "bulk", bulk_bytes(impl) // 8)
        measure(impl, "echo", echoes(impl) // 10)

    hs: dict[str, list[float]] = {impl.label: [] for impl in everyone}
    bulk: dict[str, list[float]] = {impl.label: [] for impl in everyone}
    echo: dict[str, list[float]] = {impl.label: [] for impl in everyone}
    start = time.perf_counter()
    for round_ in range(params["rounds"]):
        # alternate the order so that nobody always runs first
        order = everyone if round_ % 2 == 0 else everyone[::-1]
        for impl in order:
            hs[impl.label] += measure(impl, "hs", params["handshakes"])
        for impl in order:
            bulk[impl.label].append(measure(impl, "bulk", bulk_bytes(impl)))
        for impl in order:
            echo[impl.label].append(measure(impl, "echo", echoes(impl)))
    timed = time.perf_counter() - start

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "mode": "quick" if args.quick else "full",
        "params": params,
        "timed_seconds": round(timed, 1),
        "negotiated": negotiated,
        "tlslite_crypto": crypto,
        "handshake_ms": {
            label: {"median": statistics.median(s) * 1e3, "p90": quantile(s, 0.9) * 1e3,
                    "samples": len(s)}
            for label, s in hs.items()},
        "bulk_mib_per_s": {label: {"median": statistics.median(s), "samples": len(s)}
                           for label, s in bulk.items()},
        "echo_round_trips_per_s": {label: {"median": statistics.median(s), "samples": len(s)}
                                   for label, s in echo.items()},
    }
    med = {key: {label: v["median"] for label, v in results[key].items()}
           for key in ("handshake_ms", "bulk_mib_per_s", "echo_round_trips_per_s")}
    results["ratios_siotls_over_tlslite"] = {
        t.label: {
            "handshake_time": med["handshake_ms"][siotls.label] / med["handshake_ms"][t.label],
            "handshake_p90": (results["handshake_ms"][siotls.label]["p90"]
                              / results["handshake_ms"][t.label]["p90"]),
            "bulk_throughput": (med["bulk_mib_per_s"][siotls.label]
                                / med["bulk_mib_per_s"][t.label]),
            "echo_rate": (med["echo_round_trips_per_s"][siotls.label]
                          / med["echo_round_trips_per_s"][t.label]),
        } for t in tlslites}
    return results


def print_table(r: dict[str, Any]) -> None:
    p = r["params"]
    print(f"siotls vs tlslite-ng over socketpairs (server thread + client thread) | Python"
          f" {r['python']} | {r['mode']} run ({r['timed_seconds']} s timed)")
    pin = r.get("pinned_cpu")
    print("TLS 1.3, x25519, AES-128-GCM, ECDSA P-256 leaf + P-256 CA, no tickets; "
          + (f"process pinned to CPU {pin}" if pin is not None else "threads on any CPU"))
    print(f"{p['rounds']} interleaved rounds: {p['handshakes']} handshakes each;"
          f" bulk {p['bulk_mib']} MiB (tlslite {p['bulk_mib_tlslite']} MiB) in 16 KiB writes;"
          f" {p['echoes']} echoes (tlslite {p['echoes_tlslite']}); medians")
    for label, text in r["negotiated"].items():
        print(f"  {label}: {text}")
    for line in crypto_summary(r["tlslite_crypto"]):
        print(line)
    print()
    hs, bulk, echo = r["handshake_ms"], r["bulk_mib_per_s"], r["echo_round_trips_per_s"]
    head = ("handshake ms", "p90 ms", "bulk MiB/s", "echo rt/s")
    print(f"{'':<26}" + "".join(f"{h:>14}" for h in head))
    for label in hs:
        print(f"{label:<26}{hs[label]['median']:>14.3f}{hs[label]['p90']:>14.3f}"
              f"{bulk[label]['median']:>14.2f}{echo[label]['median']:>14.0f}")
    print("\nratios siotls (sockets) / tlslite-ng: time < 1 and throughput > 1 = siotls faster")
    print(f"{'':<26}" + "".join(f"{h:>14}" for h in head))
    for label, ratio in r["ratios_siotls_over_tlslite"].items():
        print(f"{'vs ' + label:<26}{ratio['handshake_time']:>14.3f}{ratio['handshake_p90']:>14.3f}"
              f"{ratio['bulk_throughput']:>14.1f}{ratio['echo_rate']:>14.1f}")


def pin_to_one_cpu() -> int | None:
    """Keep this process (both threads) on one CPU; the CPU's number, None if not possible.

    The GIL lets only one of the two threads run at a time anyway; on two CPUs each
    hand-off is a cross-CPU wake-up, whose latency then dominates the echo figures
    (and varies from run to run with where the scheduler puts the threads)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (< 60 s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-openssl-conf", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-pin", action="store_true",
                        help="let the two threads run on any CPU (default: pinned to one)")
    args = parser.parse_args()
    if tlslite_cryptomath is None:
        print("tlslite-ng is not installed, nothing to compare siotls with: it is a bench-only"
              " dependency, `pip install tlslite-ng` to run this benchmark.")
        sys.exit(0)
    pinned = None if args.no_pin else pin_to_one_cpu()
    results = run(args)
    results["pinned_cpu"] = pinned
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
