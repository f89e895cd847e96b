"""siotls.compat's blocking SSLSocket vs Python's ``ssl.SSLSocket``, over loopback.

    python bench/bench_compat_socket.py            # full run (about 30 s)
    python bench/bench_compat_socket.py --quick    # short run (< 10 s)
    python bench/bench_compat_socket.py --json     # print the results as JSON

Both ends use the same stack: ``ssl`` contexts (``_common.ssl_contexts``) or
``siotls.compat.SSLContext`` contexts with the same certificates, each end a
blocking socket on 127.0.0.1, the server in a forked process (in a thread it
would fight the client for the GIL, which ``ssl`` releases in its C code and
siotls, Python code, holds). TLS 1.3, x25519,
TLS_AES_128_GCM_SHA256 (``_common`` configures OpenSSL), certificate and host name
verification on the client, no session tickets. The implementations alternate
each round; medians over the rounds:

1. **handshakes/s**: connect + handshake + one byte back + close, one after the other.
2. **MiB/s**: the client ``sendall``s N MiB in 64 KiB writes, the server reads it
   all and answers one byte.
3. **1-byte echo**: round trips per second on one connection.
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
from _common import HOSTNAME, TMPDIR, make_credentials, ssl_contexts

# isort: split
import argparse
import json
import multiprocessing
import socket
import ssl
import statistics
import time
from collections.abc import Callable
from typing import Any

from siotls.compat import SSLContext
from siotls.core.config import TLSConfiguration
from siotls.iana import NamedGroup
from siotls.trust import TrustStore

HOST = "127.0.0.1"
MIB = 2**20
WRITE_SIZE = 2**16


def siotls_contexts(creds: Any) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    client = SSLContext.from_config(TLSConfiguration(
        "client", truststore=TrustStore([creds.ca_der]), key_exchanges=[NamedGroup.x25519]))
    server = SSLContext.from_config(TLSConfiguration(
        "server", certificate_chain=[creds.leaf_der], private_key=creds.key_der,
        key_exchanges=[NamedGroup.x25519]))
    return client, server


def serve(listener: socket.socket, context: ssl.SSLContext,
          handle: Callable[[ssl.SSLSocket], None], count: int) -> Any:
    def run() -> None:
        for _ in range(count):
            sock, _ = listener.accept()
            with context.wrap_socket(sock, server_side=True) as tls:
                handle(tls)

    process = multiprocessing.get_context("fork").Process(target=run, daemon=True)
    process.start()
    return process


def answer_one_byte(tls: ssl.SSLSocket) -> None:
    tls.sendall(b"!")


def measure_handshakes(contexts: tuple[ssl.SSLContext, ssl.SSLContext], count: int) -> float:
    client, server = contexts
    with socket.create_server((HOST, 0)) as listener:
        thread = serve(listener, server, answer_one_byte, count)
        start = time.perf_counter()
        for _ in range(count):
            sock = socket.create_connection(listener.getsockname())
            with client.wrap_socket(sock, server_hostname=HOSTNAME) as tls:
                assert tls.recv(1) == b"!"
        elapsed = time.perf_counter() - start
        thread.join(10)
    return count / elapsed


def measure_bulk(contexts: tuple[ssl.SSLContext, ssl.SSLContext], mib: int) -> float:
    client, server = contexts
    size = mib * MIB

    def drain(tls: ssl.SSLSocket) -> None:
        received = 0
        while received < size:
            received += len(tls.recv(2**17))
        tls.sendall(b"!")

    chunk = b"\x00" * WRITE_SIZE
    with socket.create_server((HOST, 0)) as listener:
        thread = serve(listener, server, drain, 1)
        sock = socket.create_connection(listener.getsockname())
        with client.wrap_socket(sock, server_hostname=HOSTNAME) as tls:
            start = time.perf_counter()
            for _ in range(size // WRITE_SIZE):
                tls.sendall(chunk)
            assert tls.recv(1) == b"!"
            elapsed = time.perf_counter() - start
        thread.join(10)
    return mib / elapsed


def measure_echo(contexts: tuple[ssl.SSLContext, ssl.SSLContext], count: int) -> float:
    client, server = contexts

    def echo(tls: ssl.SSLSocket) -> None:
        for _ in range(count):
            tls.sendall(tls.recv(1))

    with socket.create_server((HOST, 0)) as listener:
        thread = serve(listener, server, echo, 1)
        sock = socket.create_connection(listener.getsockname())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with client.wrap_socket(sock, server_hostname=HOSTNAME) as tls:
            start = time.perf_counter()
            for _ in range(count):
                tls.sendall(b"x")
                assert tls.recv(1) == b"x"
            elapsed = time.perf_counter() - start
        thread.join(10)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-openssl-conf", action="store_true", help="see _common.py")
    args = parser.parse_args()
    rounds, handshakes, mib, echoes = (3, 50, 16, 500) if args.quick else (5, 200, 64, 2000)
    creds = make_credentials(TMPDIR.name)
    stacks = {"ssl": ssl_contexts(creds), "siotls": siotls_contexts(creds)}
    measures: dict[str, Callable[[Any], float]] = {
        "handshakes/s": lambda c: measure_handshakes(c, handshakes),
        "MiB/s": lambda c: measure_bulk(c, mib),
        "echo round trips/s": lambda c: measure_echo(c, echoes),
    }
    results: dict[str, dict[str, list[float]]] = {
        name: {stack: [] for stack in stacks} for name in measures}
    for index in range(rounds):
        order = list(stacks) if index % 2 == 0 else list(stacks)[::-1]
        for name, measure in measures.items():
            for stack in order:
                results[name][stack].append(measure(stacks[stack]))
    medians = {name: {stack: statistics.median(values) for stack, values in by_stack.items()}
               for name, by_stack in results.items()}
    if args.json:
        print(json.dumps(medians, indent=2))
        return
    print(f"{'':<20}{'ssl':>12}{'siotls':>12}{'ratio':>8}")
    for name, by_stack in medians.items():
        ratio = by_stack["siotls"] / by_stack["ssl"]
        print(f"{name:<20}{by_stack['ssl']:>12.1f}{by_stack['siotls']:>12.1f}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
