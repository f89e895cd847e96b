"""siotls vs Python's ``ssl`` (SSLObject + MemoryBIO on both sides), in memory.

    python bench/bench_engine.py            # full run (about 30 s)
    python bench/bench_engine.py --quick    # short run (about 5 s)
    python bench/bench_engine.py --json     # print the results as JSON

TLS 1.3, x25519, TLS_AES_128_GCM_SHA256, an ECDSA P-256 leaf signed by an ECDSA
P-256 CA (made with ``cryptography`` at startup). See bench/README.md.

Python 3.11's ``ssl`` cannot choose TLS 1.3 cipher suites (no
``set_ciphersuites``), and OpenSSL prefers TLS_AES_256_GCM_SHA384. So this script
points ``OPENSSL_CONF`` at a generated config whose ``system_default`` section sets
``Ciphersuites = TLS_AES_128_GCM_SHA256``, *before* ``ssl`` is imported. The suite
that ``ssl`` really negotiated is reported; should it not be AES-128-GCM (e.g. with
``--no-openssl-conf``), siotls is also run with that suite and the ratios use it.
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
from _common import HOSTNAME, TMPDIR, Credentials, make_credentials, siotls_handshake, ssl_contexts

# isort: split
import argparse
import gc
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import time
import warnings

from siotls.core.config import InsecureWarning, TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.iana import CipherSuites, NamedGroup
from siotls.trust import TrustStore

CHUNK = 16384
MIB = 1024 * 1024
OPENSSL_SUITE_NAMES = {
    "TLS_AES_128_GCM_SHA256": CipherSuites.TLS_AES_128_GCM_SHA256,
    "TLS_AES_256_GCM_SHA384": CipherSuites.TLS_AES_256_GCM_SHA384,
    "TLS_CHACHA20_POLY1305_SHA256": CipherSuites.TLS_CHACHA20_POLY1305_SHA256,
}
# Issue 11's targets, as ratios against ssl measured in the same run.
TARGET_HANDSHAKE_RATIO = 0.9  # siotls time / ssl time (chain verification), at most
TARGET_UNVERIFIED_RATIO = 0.8  # the same without chain verification, at most
TARGET_BULK_RATIO = 2.0  # siotls throughput / ssl throughput, at least
TARGET_ECHO_TIME_RATIO = 1.2  # siotls time per echo / ssl's, at most
TARGET_RSS_RATIO = 0.3  # siotls RSS per idle pair / ssl's, at most
TARGET_IMPORT_RATIO = 2.0  # `import siotls` / `import ssl`, at most



# -- the two implementations -----------------------------------------------------------
class Siotls:
    """siotls client and server configurations; pairs are (client, server) TLSConnections."""

    def __init__(self, creds: Credentials, suite: CipherSuites, *, verify: bool = True,
                 cache: bool = True) -> None:
        """``cache=False``: a trust store without verification cache (each chain checked
        in full, as on a first connection)."""
        self.label = f"siotls {suite.name.removeprefix('TLS_').removesuffix('_SHA256')}"
        self.label = self.label.removesuffix("_SHA384")
        self.suite = suite
        common = {"cipher_suites": [suite], "key_exchanges": [NamedGroup.x25519]}
        with warnings.catch_warnings():  # verify=False: the InsecureWarning is the point
            warnings.simplefilter("ignore", InsecureWarning)
            self.client_config = TLSConfiguration(
                "client", truststore=TrustStore([creds.ca_der], cache_size=128 if cache else 0)
                if verify else None, **common)
        self.server_config = TLSConfiguration(
            "server", private_key=creds.key_der, certificate_chain=[creds.leaf_der],
            num_tickets=0, **common)  # like the ssl server (_common.ssl_contexts)

    def handshake(self) -> tuple[TLSConnection, TLSConnection]:
        client = TLSConnection(self.client_config, HOSTNAME)
        server = TLSConnection(self.server_config)
        siotls_handshake(client, server)
        if client.data_to_send() or server.data_to_send():
            raise RuntimeError("siotls left bytes unsent after the handshake")
        return client, server

    def handshake_sides(self) -> tuple[float, float]:
        """One handshake, each side's own calls timed apart: (client s, server s).

        Client: its construction, ClientHello, then the server's flight to its
        Finished. Server: its construction, the ClientHello to its flight, then the
        client's Finished (what :meth:`handshake` runs, in the same order).
        """
        clock = time.perf_counter
        start = clock()
        client = TLSConnection(self.client_config, HOSTNAME)
        client.initiate_connection()
        hello = client.data_to_send()
        client_done = clock()
        server = TLSConnection(self.server_config)
        server.initiate_connection()
        server.receive_data(hello)
        flight = server.data_to_send()
        server_done = clock()
        client.receive_data(flight)
        finished = client.data_to_send()
        client_end = clock()
        server.receive_data(finished)
        server_end = clock()
        if not (client.is_post_handshake() and server.is_post_handshake()) \
                or server.data_to_send():
            raise RuntimeError("siotls: the per-side handshake did not complete")
        return (client_done - start) + (client_end - server_done), \
            (server_done - client_done) + (server_end - client_end)

    def negotiated_suite(self, pair: tuple[TLSConnection, TLSConnection]) -> str:
        return pair[0].nconfig.cipher_suite.name

    @staticmethod
    def bulk(pair: tuple[TLSConnection, TLSConnection], chunks: int) -> int:
        client, server = pair
        chunk = bytes(CHUNK)
        send, flush = client.send_data, client.data_to_send
        receive, read = server.receive_data, server.data_to_read
        received = 0
        for _ in range(chunks):
            send(chunk)
            receive(flush())
            received += len(read())
        return received

    @staticmethod
    def echo(pair: tuple[TLSConnection, TLSConnection], count: int) -> None:
        client, server = pair
        for _ in range(count):
            client.send_data(b"x")
            server.receive_data(client.data_to_send())
            server.send_data(server.data_to_read())
            client.receive_data(server.data_to_send())
            if client.data_to_read() != b"x":
                raise RuntimeError("siotls echo lost its byte")


class SslEnd:
    """One side of an ``ssl`` connection: the SSLObject and its two memory BIOs."""

    __slots__ = ("incoming", "obj", "outgoing")

    def __init__(self, context: ssl.SSLContext, **kwargs: object) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, **kwargs)


class Ssl:
    """``ssl`` client and server contexts; pairs are (client, server) SslEnds."""

    label = "ssl"

    def __init__(self, creds: Credentials, *, verify: bool = True) -> None:
        self.client_context, self.server_context = ssl_contexts(creds)
        if not verify:
            self.client_context.check_hostname = False
            self.client_context.verify_mode = ssl.CERT_NONE

    def handshake(self) -> tuple[SslEnd, SslEnd]:
        client = SslEnd(self.client_context, server_hostname=HOSTNAME)
        server = SslEnd(self.server_context, server_side=True)
        client_done = server_done = False
        for _ in range(8):
            if not client_done:
                try:
                    client.obj.do_handshake()
                    client_done = True
                except ssl.SSLWantReadError:
                    pass
            if client.outgoing.pending:
                server.incoming.write(client.outgoing.read())
            if not server_done:
                try:
                    server.obj.do_handshake()
                    server_done = True
                except ssl.SSLWantReadError:
                    pass
            if server.outgoing.pending:
                client.incoming.write(server.outgoing.read())
            if client_done and server_done:
                break
        else:
            raise RuntimeError("ssl handshake did not complete")
        if client.outgoing.pending or server.outgoing.pending:
            raise RuntimeError("ssl left bytes unsent after the handshake")
        return client, server

    def handshake_sides(self) -> tuple[float, float]:
        """:meth:`Siotls.handshake_sides` with ``ssl``: (client s, server s)."""
        clock = time.perf_counter
        start = clock()
        client = SslEnd(self.client_context, server_hostname=HOSTNAME)
        try:  # noqa: SIM105 (timed: no contextlib.suppress object in ssl's time)
            client.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = client.outgoing.read()
        client_done = clock()
        server = SslEnd(self.server_context, server_side=True)
        server.incoming.write(hello)
        try:  # noqa: SIM105 (timed: no contextlib.suppress object in ssl's time)
            server.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        flight = server.outgoing.read()
        server_done = clock()
        client.incoming.write(flight)
        client.obj.do_handshake()
        finished = client.outgoing.read()
        client_end = clock()
        server.incoming.write(finished)
        server.obj.do_handshake()
        server_end = clock()
        if server.outgoing.pending:
            raise RuntimeError("ssl: the per-side handshake left bytes unsent")
        return (client_done - start) + (client_end - server_done), \
            (server_done - client_done) + (server_end - client_end)

    def negotiated_suite(self, pair: tuple[SslEnd, SslEnd]) -> str:
        name, version, _ = pair[0].obj.cipher()
        assert version == "TLSv1.3", version
        return name

    @staticmethod
    def bulk(pair: tuple[SslEnd, SslEnd], chunks: int) -> int:
        client, server = pair
        chunk = bytes(CHUNK)
        write, flush = client.obj.write, client.outgoing.read
        feed, read = server.incoming.write, server.obj.read
        received = 0
        for _ in range(chunks):
            write(chunk)
            feed(flush())
            try:
                while True:
                    received += len(read(4 * CHUNK))
            except ssl.SSLWantReadError:
                pass
        return received

    @staticmethod
    def echo(pair: tuple[SslEnd, SslEnd], count: int) -> None:
        client, server = pair
        for _ in range(count):
            client.obj.write(b"x")
            server.incoming.write(client.outgoing.read())
            server.obj.write(server.obj.read())
            client.incoming.write(server.outgoing.read())
            if client.obj.read() != b"x":
                raise RuntimeError("ssl echo lost its byte")


def make_impls(creds: Credentials) -> tuple[Ssl, list[Siotls], str]:
    """ssl, the siotls variants to run (AES-128-GCM + ssl's suite if different), ssl's suite."""
    ssl_impl = Ssl(creds)
    ssl_suite = ssl_impl.negotiated_suite(ssl_impl.handshake())
    siotls_impls = [Siotls(creds, CipherSuites.TLS_AES_128_GCM_SHA256)]
    if ssl_suite != "TLS_AES_128_GCM_SHA256":
        siotls_impls.append(Siotls(creds, OPENSSL_SUITE_NAMES[ssl_suite]))
    for impl in siotls_impls:
        assert impl.negotiated_suite(impl.handshake()) == impl.suite.name
    return ssl_impl, siotls_impls, ssl_suite


# -- measurements --------------------------------------------------------------------------
def time_handshakes(impl: Ssl | Siotls, count: int) -> list[float]:
    clock = time.perf_counter
    samples = []
    for _ in range(count):
        start = clock()
        impl.handshake()
        samples.append(clock() - start)
    return samples


def time_sides(impl: Ssl | Siotls, count: int) -> list[tuple[float, float]]:
    """``count`` handshakes, (client seconds, server seconds) each."""
    return [impl.handshake_sides() for _ in range(count)]


def time_bulk(impl: Ssl | Siotls, mib: int) -> float:
    """MiB/s for ``mib`` MiB, client to server, in 16 KiB writes (after a handshake)."""
    pair = impl.handshake()
    chunks = mib * MIB // CHUNK
    start = time.perf_counter()
    received = impl.bulk(pair, chunks)
    elapsed = time.perf_counter() - start
    assert received == chunks * CHUNK, (received, chunks * CHUNK)
    return mib / elapsed


def time_echo(impl: Ssl | Siotls, count: int) -> float:
    """1-byte echo round trips per second."""
    pair = impl.handshake()
    start = time.perf_counter()
    impl.echo(pair, count)
    return count / (time.perf_counter() - start)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: peak RSS, a poorer measure
        import resource

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss if sys.platform == "darwin" else maxrss * 1024


def memory_child(impl_name: str, count: int, keep: str) -> dict[str, float]:
    """Run in a fresh process: bytes per kept connection, by RSS (and tracemalloc)."""
    creds = make_credentials(TMPDIR.name)
    ssl_impl, siotls_impls, _ = make_impls(creds)
    impl = ssl_impl if impl_name == "ssl" else siotls_impls[0]
    select = {"pair": lambda p: p, "client": lambda p: p[0], "server": lambda p: p[1]}[keep]
    for _ in range(20):  # warm up: lazy imports, caches, allocator arenas
        impl.echo(impl.handshake(), 10)
    result: dict[str, float] = {}
    gc.collect()
    before = rss_bytes()
    kept = []
    for _ in range(count):
        pair = impl.handshake()
        impl.echo(pair, 1)
        kept.append(select(pair))
    del pair
    gc.collect()
    result["rss"] = (rss_bytes() - before) / count
    if keep == "pair":
        import tracemalloc

        del kept
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        pairs = []
        for _ in range(count):
            pair = impl.handshake()
            impl.echo(pair, 1)
            pairs.append(pair)
        del pair
        gc.collect()
        both = tracemalloc.get_traced_memory()[0] - base
        servers = [p[1] for p in pairs]
        del pairs
        gc.collect()
        server_only = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        del servers
        result.update(tm_pair=both / count, tm_server=server_only / count,
                      tm_client=(both - server_only) / count)
    return result


def measure_memory(count: int, impls: list[str]) -> dict[str, dict[str, float]]:
    """Memory per idle connection, one fresh subprocess per (implementation, what is kept)."""
    results: dict[str, dict[str, float]] = {}
    for keep in ("pair", "client", "server"):
        for impl in impls:
            args = [sys.executable, __file__, "--memory-child", impl, str(count), keep]
            if "--no-openssl-conf" in sys.argv:
                args.append("--no-openssl-conf")
            out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
            child = json.loads(out)
            entry = results.setdefault(impl, {})
            entry[f"rss_{keep}"] = child.pop("rss")
            entry.update(child)
    return results


def measure_imports(runs: int, creds: Credentials) -> dict[str, dict[str, float]]:
    """``import ssl`` and ``import siotls`` in fresh interpreters, minus ``python -c pass``.

    Medians of ``runs`` interleaved runs, of wall time and of the child's CPU time
    (user + system: less sensitive to other jobs on a shared machine). Bytecode is
    cached first (in a temporary prefix when PYTHONDONTWRITEBYTECODE is set), as
    in a deployment; ``siotls`` is the one this script imports.
    """
    import resource

    env = dict(os.environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        env["PYTHONPYCACHEPREFIX"] = os.path.join(TMPDIR.name, "pycache")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [
        os.path.dirname(os.path.dirname(sys.modules["siotls"].__file__ or "")),
        env.get("PYTHONPATH")]))
    statements = {"pass": "pass", "ssl": "import ssl", "siotls": "import siotls",
                  "ssl + first handshake": FIRST_HANDSHAKE_SSL,
                  "siotls + first handshake": FIRST_HANDSHAKE_SIOTLS}
    wall: dict[str, list[float]] = {name: [] for name in statements}
    cpu: dict[str, list[float]] = {name: [] for name in statements}
    for round_ in range(runs + 1):  # round 0 writes the bytecode caches
        for name, statement in statements.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", statement, creds.ca_file, creds.cert_file,
                            creds.key_file], env=env, check=True)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if round_:
                wall[name].append(elapsed)
                cpu[name].append(after.ru_utime + after.ru_stime
                                 - before.ru_utime - before.ru_stime)
    results = {}
    for name in statements:
        if name != "pass":
            results[name] = {
                "wall_ms": (statistics.median(wall[name]) - statistics.median(wall["pass"])) * 1e3,
                "cpu_ms": (statistics.median(cpu[name]) - statistics.median(cpu["pass"])) * 1e3}
    return results


#: ``import`` and a first handshake, in memory: what a process pays before its
#: first connection (the lazily imported parts of the handshake included).
#: argv: CA, certificate and key PEM files.
FIRST_HANDSHAKE_SIOTLS = """\
import sys, siotls, siotls.pem, siotls.trust
ca, cert, key = (open(path, 'rb').read() for path in sys.argv[1:4])
chain = siotls.pem.decode_pem_certificate_chain
client = siotls.TLSConnection(siotls.TLSConfiguration(
    'client', truststore=siotls.trust.TrustStore(chain(ca))), 'localhost')
server = siotls.TLSConnection(siotls.TLSConfiguration(
    'server', certificate_chain=chain(cert), private_key=siotls.pem.decode_pem_private_key(key)))
client.initiate_connection()
server.initiate_connection()
for _ in range(4):
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
assert client.is_post_handshake() and server.is_post_handshake()
"""
FIRST_HANDSHAKE_SSL = """\
import sys, ssl
ca, cert, key = sys.argv[1:4]
server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_context.load_cert_chain(cert, key)
ends = []
for context, kwargs in ((ssl.create_default_context(cafile=ca), {'server_hostname': 'localhost'}),
                        (server_context, {'server_side': True})):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ends.append((context.wrap_bio(incoming, outgoing, **kwargs), incoming, outgoing))
done = [False, False]
for _ in range(6):
    for i, (obj, incoming, outgoing) in enumerate(ends):
        if not done[i]:
            try:
                obj.do_handshake()
                done[i] = True
            except ssl.SSLWantReadError:
                pass
        ends[1 - i][1].write(outgoing.read())
assert all(done)
"""


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> dict:
    if args.quick:
        rounds, handshakes, mib, echoes, mem_count, import_runs = 9, 60, 64, 10000, 200, 9
    else:
        rounds, handshakes, mib, echoes, mem_count, import_runs = 25, 150, 128, 30000, 1000, 25
    creds = make_credentials(TMPDIR.name)
    ssl_impl, siotls_impls, ssl_suite = make_impls(creds)
    impls: list[Ssl | Siotls] = [ssl_impl, *siotls_impls]
    # The handshake without chain verification (client verifies nothing), both stacks.
    unverified: list[Ssl | Siotls] = [
        Ssl(creds, verify=False), Siotls(creds, siotls_impls[-1].suite, verify=False)]
    hs_unverified: dict[str, list[float]] = {i.label: [] for i in unverified}
    # The verified handshake with the trust store's verification cache off.
    uncached = Siotls(creds, siotls_impls[-1].suite, cache=False)
    hs_uncached: list[float] = []
    hs: dict[str, list[float]] = {i.label: [] for i in impls}
    # The same handshake, each side timed apart (ssl and the like-for-like siotls).
    sided = [ssl_impl, siotls_impls[-1]]
    sides: dict[str, list[tuple[float, float]]] = {i.label: [] for i in sided}
    bulk: dict[str, list[float]] = {i.label: [] for i in impls}
    echo: dict[str, list[float]] = {i.label: [] for i in impls}
    for impl in [*unverified, uncached]:
        time_handshakes(impl, 5)
    for impl in sided:
        time_sides(impl, 5)
    for impl in impls:  # warm up
        time_handshakes(impl, 5)
        time_bulk(impl, 1)
        time_echo(impl, 200)
    start = time.perf_counter()
    for round_ in range(rounds):
        # alternate the order so that neither side always runs first
        order = impls if round_ % 2 == 0 else impls[::-1]
        for impl in order:
            gc.collect()
            hs[impl.label] += time_handshakes(impl, handshakes)
        for impl in sided if round_ % 2 == 0 else sided[::-1]:
            gc.collect()
            sides[impl.label] += time_sides(impl, handshakes)
        gc.collect()
        hs_uncached += time_handshakes(uncached, handshakes)
        for impl in unverified if round_ % 2 == 0 else unverified[::-1]:
            gc.collect()
            hs_unverified[impl.label] += time_handshakes(impl, handshakes)
        for impl in order:
            gc.collect()
            bulk[impl.label].append(time_bulk(impl, mib))
        for impl in order:
            gc.collect()
            echo[impl.label].append(time_echo(impl, echoes))
    timed = time.perf_counter() - start
    memory = measure_memory(mem_count, ["ssl", "siotls"])
    imports = measure_imports(import_runs, creds)
    like = siotls_impls[-1].label  # the siotls run with ssl's suite
    results = {
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "mode": "quick" if args.quick else "full",
        "ssl_cipher_suite": ssl_suite,
        "siotls_like_for_like": like,
        "params": {"rounds": rounds, "handshakes_per_round": handshakes, "bulk_mib": mib,
                   "echoes_per_round": echoes, "memory_connections": mem_count},
        "timed_seconds": round(timed, 1),
        "handshake_ms": {
            label: {"median": statistics.median(s) * 1e3, "p90": quantile(s, 0.9) * 1e3,
                    "samples": len(s)}
            for label, s in hs.items()},
        "bulk_mib_per_s": {label: {"median": statistics.median(s), "samples": len(s)}
                           for label, s in bulk.items()},
        "echo_round_trips_per_s": {label: {"median": statistics.median(s), "samples": len(s)}
                                   for label, s in echo.items()},
        "handshake_unverified_ms": {
            label: {"median": statistics.median(s) * 1e3, "samples": len(s)}
            for label, s in hs_unverified.items()},
        "handshake_sides_ms": {
            label: {"client": statistics.median(c for c, _ in s) * 1e3,
                    "server": statistics.median(v for _, v in s) * 1e3, "samples": len(s)}
            for label, s in sides.items()},
        "handshake_uncached_ms": {"median": statistics.median(hs_uncached) * 1e3,
                                  "samples": len(hs_uncached)},
        "memory_bytes_per_connection": memory,
        "imports": imports,
        "import_runs": import_runs,
    }
    results["ratios"] = ratios = {}
    for impl in siotls_impls:
        hs_ratio = (results["handshake_ms"][impl.label]["median"]
                    / results["handshake_ms"]["ssl"]["median"])
        bulk_ratio = (results["bulk_mib_per_s"][impl.label]["median"]
                      / results["bulk_mib_per_s"]["ssl"]["median"])
        echo_ratio = (results["echo_round_trips_per_s"][impl.label]["median"]
                      / results["echo_round_trips_per_s"]["ssl"]["median"])
        ratios[impl.label] = {"handshake_time": hs_ratio, "bulk_throughput": bulk_ratio,
                              "echo_rate": echo_ratio}
    unverified_ms = results["handshake_unverified_ms"]
    ratios["handshake_unverified_time"] = (
        unverified_ms[unverified[1].label]["median"] / unverified_ms["ssl"]["median"])
    sides_ms = results["handshake_sides_ms"]
    ratios["handshake_client_time"] = sides_ms[like]["client"] / sides_ms["ssl"]["client"]
    ratios["handshake_server_time"] = sides_ms[like]["server"] / sides_ms["ssl"]["server"]
    ratios["handshake_uncached_time"] = (
        results["handshake_uncached_ms"]["median"] / results["handshake_ms"]["ssl"]["median"])
    ratios["import_cpu"] = imports["siotls"]["cpu_ms"] / imports["ssl"]["cpu_ms"]
    ratios["import_wall"] = imports["siotls"]["wall_ms"] / imports["ssl"]["wall_ms"]
    ratios["first_handshake_cpu"] = (imports["siotls + first handshake"]["cpu_ms"]
                                     / imports["ssl + first handshake"]["cpu_ms"])
    results["targets"] = {
        "handshake_time_ratio_max": TARGET_HANDSHAKE_RATIO,
        "handshake_met": ratios[like]["handshake_time"] <= TARGET_HANDSHAKE_RATIO,
        "bulk_throughput_ratio_min": TARGET_BULK_RATIO,
        "bulk_met": ratios[like]["bulk_throughput"] >= TARGET_BULK_RATIO,
        "unverified_time_ratio_max": TARGET_UNVERIFIED_RATIO,
        "unverified_met": ratios["handshake_unverified_time"] <= TARGET_UNVERIFIED_RATIO,
        "echo_time_ratio_max": TARGET_ECHO_TIME_RATIO,
        "echo_met": 1 / ratios[like]["echo_rate"] <= TARGET_ECHO_TIME_RATIO,
        "import_ratio_max": TARGET_IMPORT_RATIO,
        "import_met": ratios["import_cpu"] <= TARGET_IMPORT_RATIO,
    }
    return results


def _target(sign: str, value: float, met: bool) -> str:
    return f"target {sign} {value}: " + ("met" if met else "NOT met")


def print_table(r: dict) -> None:
    like = r["siotls_like_for_like"]
    labels = ["ssl", *(label for label in r["handshake_ms"] if label != "ssl")]
    print(f"siotls vs ssl, in memory | Python {r['python']} | {r['openssl']} | {r['mode']} run"
          f" ({r['timed_seconds']} s timed)")
    print(f"TLS 1.3, x25519, ECDSA P-256 leaf + P-256 CA; ssl negotiated {r['ssl_cipher_suite']}"
          f"; like-for-like siotls: {like}")
    p = r["params"]
    print(f"{p['rounds']} interleaved rounds: {p['handshakes_per_round']} handshakes,"
          f" {p['bulk_mib']} MiB bulk, {p['echoes_per_round']} echoes each; medians\n")
    width = max(len(label) for label in labels) + 2

    def row(name: str, cells: list[str], ratio: str = "") -> None:
        print(f"{name:<30}" + "".join(f"{c:>{width + 6}}" for c in cells) + f"  {ratio}")

    row("", labels, "ratio siotls/ssl")
    hs, bulk, echo = r["handshake_ms"], r["bulk_mib_per_s"], r["echo_round_trips_per_s"]
    ratios = r["ratios"]

    def ratio_text(key: str) -> str:
        return "  ".join(f"{ratios[label][key]:.2f}" for label in labels[1:])

    row("handshake median (ms)", [f"{hs[label]['median']:.3f}" for label in labels],
        ratio_text("handshake_time") + "  ("
        + _target("<=", TARGET_HANDSHAKE_RATIO, r["targets"]["handshake_met"]) + ")")
    row("handshake p90 (ms)", [f"{hs[label]['p90']:.3f}" for label in labels])
    unverified = r["handshake_unverified_ms"]
    row("handshake, no verification (ms)",
        [f"{unverified['ssl']['median']:.3f}",
         *(f"{unverified[label]['median']:.3f}" if label in unverified else "-"
           for label in labels[1:])],
        f"{ratios['handshake_unverified_time']:.2f}  (like-for-like suite; "
        + _target("<=", TARGET_UNVERIFIED_RATIO, r["targets"]["unverified_met"]) + ")")
    sides = r["handshake_sides_ms"]
    for side in ("client", "server"):
        row(f"handshake, {side} side (ms)",
            [f"{sides['ssl'][side]:.3f}",
             *(f"{sides[label][side]:.3f}" if label in sides else "-"
               for label in labels[1:])],
            f"{ratios[f'handshake_{side}_time']:.2f}  (its own calls only, like-for-like)")
    row("handshake, cache off (ms)",
        [f"{hs['ssl']['median']:.3f}", f"{r['handshake_uncached_ms']['median']:.3f}"],
        f"{ratios['handshake_uncached_time']:.2f}  (verification cache off, like-for-like)")
    row("bulk (MiB/s)", [f"{bulk[label]['median']:.1f}" for label in labels],
        ratio_text("bulk_throughput") + "  ("
        + _target(">=", TARGET_BULK_RATIO, r["targets"]["bulk_met"]) + ")")
    row("1-byte echo (round trips/s)", [f"{echo[label]['median']:.0f}" for label in labels],
        ratio_text("echo_rate") + "  (time: " + "  ".join(
            f"{1 / ratios[label]['echo_rate']:.2f}" for label in labels[1:]) + "; "
        + _target("<=", TARGET_ECHO_TIME_RATIO, r["targets"]["echo_met"]) + ")")
    mem = r["memory_bytes_per_connection"]
    n = p["memory_connections"]
    print(f"\nmemory per idle handshaken connection ({n} kept, fresh process each, KiB):")
    print(f"{'':<30}{'ssl':>12}{'siotls':>12}  ratio")
    for key, name in (("rss_pair", "RSS per pair"), ("rss_client", "RSS per client"),
                      ("rss_server", "RSS per server")):
        a, b = mem["ssl"][key], mem["siotls"][key]
        ratio = b / a if a > 0 else float("nan")
        print(f"{name:<30}{a / 1024:>12.1f}{b / 1024:>12.1f}  {ratio:.2f}")
    rss_met = mem["siotls"]["rss_pair"] <= TARGET_RSS_RATIO * mem["ssl"]["rss_pair"]
    print(f"{'':<30}{'':>12}{'':>12}  (RSS per pair "
          + _target("<=", TARGET_RSS_RATIO, rss_met) + ")")
    for key, name in (("tm_pair", "tracemalloc per pair"), ("tm_client", "tracemalloc client"),
                      ("tm_server", "tracemalloc server")):
        a, b = mem["ssl"][key], mem["siotls"][key]
        print(f"{name:<30}{a / 1024:>12.1f}{b / 1024:>12.1f}  (ssl: Python objects only)")
    imports = r["imports"]
    print(f"\nimports, fresh interpreters, minus `python -c pass` (medians of {r['import_runs']}"
          " interleaved runs, bytecode cached):")
    print(f"{'':<30}{'wall ms':>12}{'CPU ms':>12}  siotls / ssl (wall, CPU)")
    for name, value in imports.items():
        ssl_value = imports["ssl + first handshake" if "handshake" in name else "ssl"]
        print(f"{'import ' + name:<30}"
              f"{value['wall_ms']:>12.1f}{value['cpu_ms']:>12.1f}  "
              f"{value['wall_ms'] / ssl_value['wall_ms']:.2f}  "
              f"{value['cpu_ms'] / ssl_value['cpu_ms']:.2f}")
    print(f"{'':<30}{'':>12}{'':>12}  (import siotls CPU "
          + _target("<=", TARGET_IMPORT_RATIO, r["targets"]["import_met"]) + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (< 30 s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-openssl-conf", action="store_true",
                        help="leave OpenSSL's default TLS 1.3 suites (AES-256-GCM first)")
    parser.add_argument("--memory-child", nargs=3, metavar=("IMPL", "COUNT", "KEEP"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        impl, count, keep = args.memory_child
        print(json.dumps(memory_child(impl, int(count), keep)))
        return
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
