"""siotls vs Python's ``ssl`` over loopback, server and client in separate processes.

    python bench/bench_loopback.py                  # 3 runs, asyncio, trio and anyio (~5 min)
    python bench/bench_loopback.py --quick          # 3 short runs (~2 min)
    python bench/bench_loopback.py --frameworks asyncio --runs 5
    python bench/bench_loopback.py --frameworks trio anyio   # or trio,anyio
    python bench/bench_loopback.py --json           # results as JSON
    python bench/bench_loopback.py --no-pin         # let the scheduler place the processes

As deployments run: the server in its own process pinned to one CPU
(``os.sched_setaffinity``), the client in this process pinned to another, on
127.0.0.1. For each framework a fresh server process serves both stacks
(``ssl`` and siotls, an echo port and a sink port each), so both see the same
process history; the client alternates the stacks every round. Per framework:

* asyncio: ``asyncio.open_connection``/``start_server`` with ``ssl=`` against
  ``siotls.asyncio.open_connection``/``start_server`` with ``config=``;
* trio: ``trio.SSLStream`` (``serve_ssl_over_tcp``) against ``siotls.trio.TLSStream``
  (``serve_tls_over_tcp``);
* anyio (asyncio backend): ``anyio.connect_tcp(ssl_context=)`` and
  ``anyio.streams.tls.TLSListener`` against ``siotls.anyio.connect`` and
  ``create_tls_listener``.

Measured, medians over the rounds of one run (a run = one server process):

1. **connections/s**: sequential connect + handshake + a 1-byte round trip + close
   (the round trip makes the server finish its side of the handshake);
2. **MB/s**: one connection streams N MiB in 64 KiB writes to the server, which
   answers one byte once it has read them all;
3. **1-byte echo**: round trips per second on one connection.

With each, the CPU time the server and the client used (``/proc/<pid>/stat`` and
``time.process_time``) per connection, per MB and per echo: less sensitive than
the rates to other jobs on a shared machine.

Same TLS setup as the other benchmarks (``_common.py``): TLS 1.3, x25519,
TLS_AES_128_GCM_SHA256, ECDSA P-256 leaf + CA, client verifies, no tickets.
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
from _common import HOSTNAME, TMPDIR, Credentials, make_credentials, ssl_contexts

# isort: split
import argparse
import contextlib
import dataclasses
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from siotls.core.config import TLSConfiguration
from siotls.iana import CipherSuites, NamedGroup
from siotls.trust import TrustStore

HOST = "127.0.0.1"
MIB = 2**20
WRITE_SIZE = 2**16
READ_SIZE = 2**16
STACKS = ("ssl", "siotls")
FRAMEWORKS = ("asyncio", "trio", "anyio")
METRICS = ("connections_per_s", "mb_per_s", "echo_round_trips_per_s")
#: CPU time, server + client, in microseconds per connection, per MB and per echo.
CPU_METRICS = ("cpu_us_per_connection", "cpu_us_per_mb", "cpu_us_per_echo")
TARGETS = {"connections_per_s": 1.2, "mb_per_s": 1.2, "echo_round_trips_per_s": 1.0}


@dataclasses.dataclass
class Params:
    rounds: int
    connections: int
    mib: int
    echoes: int


class Stream(Protocol):
    async def send(self, data: bytes) -> None: ...
    async def receive(self) -> bytes: ...  # b"" at EOF
    async def close(self) -> None: ...


# -- the TLS setup of each stack -------------------------------------------------------------
class Setup:
    def __init__(self, creds: Credentials) -> None:
        self.ssl_client, self.ssl_server = ssl_contexts(creds)
        common: dict[str, Any] = {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256],
                                  "key_exchanges": [NamedGroup.x25519]}
        self.siotls_client = TLSConfiguration(
            "client", truststore=TrustStore([creds.ca_der]), **common)
        self.siotls_server = TLSConfiguration(
            "server", private_key=creds.key_der, certificate_chain=[creds.leaf_der],
            num_tickets=0, **common)  # like the ssl server (_common.ssl_contexts)


# -- streams, one class per framework --------------------------------------------------------
class AsyncioStream:
    def __init__(self, reader: Any, writer: Any) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self) -> bytes:
        data: bytes = await self.reader.read(READ_SIZE)
        return data

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


class AnyStream:
    """A trio or anyio byte stream (send/receive or send_all/receive_some)."""

    def __init__(self, stream: Any, eof_errors: tuple[type[BaseException], ...]) -> None:
        self.stream = stream
        self.eof_errors = eof_errors
        self._send = getattr(stream, "send_all", None) or stream.send
        self._receive = getattr(stream, "receive_some", None)

    async def send(self, data: bytes) -> None:
        await self._send(data)

    async def receive(self) -> bytes:
        try:
            if self._receive is not None:
                data: bytes = await self._receive(READ_SIZE)
                return data
            return bytes(await self.stream.receive(READ_SIZE))
        except self.eof_errors:
            return b""

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # a peer gone first is fine here
            await self.stream.aclose()


# -- what the server does with a stream ------------------------------------------------------
async def serve_echo(stream: Stream) -> None:
    try:
        while data := await stream.receive():
            await stream.send(data)
    except Exception:  # noqa: BLE001 (the client may close first: not our business)
        pass
    finally:
        await stream.close()


async def serve_sink(stream: Stream) -> None:
    """An 8-byte length, that many bytes, one byte back, then wait for the client's EOF."""
    try:
        buffered = b""
        while len(buffered) < 8:
            data = await stream.receive()
            if not data:
                return
            buffered += data
        remaining = int.from_bytes(buffered[:8], "big") - (len(buffered) - 8)
        while remaining > 0:
            data = await stream.receive()
            if not data:
                return
            remaining -= len(data)
        await stream.send(b"k")
        while await stream.receive():
            pass
    except Exception:  # noqa: BLE001
        pass
    finally:
        await stream.close()


HANDLERS = {"echo": serve_echo, "sink": serve_sink}


# -- the frameworks: servers (in the server process) and connections (in the client) ---------
class Framework:
    name: str

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def serve(self, setup: Setup, ports: dict[str, dict[str, int]],
                    ready: Callable[[], None]) -> None:
        raise NotImplementedError

    async def connect(self, setup: Setup, stack: str, port: int) -> Stream:
        raise NotImplementedError


class Asyncio(Framework):
    name = "asyncio"

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        import asyncio

        return asyncio.run(main())  # type: ignore[arg-type]

    async def serve(self, setup: Setup, ports: dict[str, dict[str, int]],
                    ready: Callable[[], None]) -> None:
        import asyncio

        import siotls.asyncio

        for stack in STACKS:
            ports[stack] = {}
            for kind, handler in HANDLERS.items():
                async def on_connection(reader: Any, writer: Any,
                                        handler: Any = handler) -> None:
                    await handler(AsyncioStream(reader, writer))
                if stack == "ssl":
                    server = await asyncio.start_server(
                        on_connection, HOST, 0, ssl=setup.ssl_server, backlog=1024)
                else:
                    server = await siotls.asyncio.start_server(
                        on_connection, HOST, 0, config=setup.siotls_server, backlog=1024)
                ports[stack][kind] = server.sockets[0].getsockname()[1]
        ready()
        await asyncio.Event().wait()

    async def connect(self, setup: Setup, stack: str, port: int) -> Stream:
        import asyncio

        import siotls.asyncio

        if stack == "ssl":
            reader, writer = await asyncio.open_connection(
                HOST, port, ssl=setup.ssl_client, server_hostname=HOSTNAME)
        else:
            reader, writer = await siotls.asyncio.open_connection(
                HOST, port, config=setup.siotls_client, server_hostname=HOSTNAME)
        return AsyncioStream(reader, writer)


class Trio(Framework):
    name = "trio"

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        import trio

        return trio.run(main)

    async def serve(self, setup: Setup, ports: dict[str, dict[str, int]],
                    ready: Callable[[], None]) -> None:
        import trio

        import siotls.trio

        errors = (trio.BrokenResourceError, trio.ClosedResourceError)
        async with trio.open_nursery() as nursery:
            for stack in STACKS:
                ports[stack] = {}
                for kind, handler in HANDLERS.items():
                    async def on_stream(stream: Any, handler: Any = handler) -> None:
                        await handler(AnyStream(stream, errors))
                    if stack == "ssl":
                        serve = partial(trio.serve_ssl_over_tcp, on_stream, 0,
                                        setup.ssl_server, host=HOST)
                    else:
                        serve = partial(siotls.trio.serve_tls_over_tcp, on_stream, 0,
                                        setup.siotls_server, host=HOST)
                    listeners = await nursery.start(serve)
                    sock = listeners[0].transport_listener.socket
                    ports[stack][kind] = sock.getsockname()[1]
            ready()

    async def connect(self, setup: Setup, stack: str, port: int) -> Stream:
        import trio

        import siotls.trio

        tcp = await trio.open_tcp_stream(HOST, port)
        stream: Any
        if stack == "ssl":
            stream = trio.SSLStream(tcp, setup.ssl_client, server_hostname=HOSTNAME)
        else:
            stream = siotls.trio.TLSStream(tcp, setup.siotls_client, server_hostname=HOSTNAME)
        await stream.do_handshake()
        return AnyStream(stream, (trio.BrokenResourceError, trio.ClosedResourceError))


class Anyio(Framework):
    name = "anyio"

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        import anyio

        return anyio.run(main)

    async def serve(self, setup: Setup, ports: dict[str, dict[str, int]],
                    ready: Callable[[], None]) -> None:
        import anyio
        from anyio.streams.tls import TLSListener

        import siotls.anyio

        errors = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)
        async with anyio.create_task_group() as group:
            for stack in STACKS:
                ports[stack] = {}
                for kind, handler in HANDLERS.items():
                    async def on_stream(stream: Any, handler: Any = handler) -> None:
                        await handler(AnyStream(stream, errors))
                    listener: Any
                    if stack == "ssl":
                        tcp = await anyio.create_tcp_listener(local_host=HOST)
                        listener = TLSListener(tcp, setup.ssl_server)
                        port = tcp.extra(anyio.abc.SocketAttribute.local_port)
                    else:
                        listener = await siotls.anyio.create_tls_listener(
                            setup.siotls_server, local_host=HOST)
                        port = listener.extra(anyio.abc.SocketAttribute.local_port)
                    ports[stack][kind] = port
                    group.start_soon(listener.serve, on_stream)
            ready()

    async def connect(self, setup: Setup, stack: str, port: int) -> Stream:
        import anyio

        import siotls.anyio

        errors = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)
        stream: Any
        if stack == "ssl":
            stream = await anyio.connect_tcp(HOST, port, ssl_context=setup.ssl_client,
                                             tls_hostname=HOSTNAME)
        else:
            stream = await siotls.anyio.connect(HOST, port, config=setup.siotls_client,
                                                server_hostname=HOSTNAME)
        return AnyStream(stream, errors)


FRAMEWORK_CLASSES: dict[str, type[Framework]] = {
    cls.name: cls for cls in (Asyncio, Trio, Anyio)}


# -- the client's measurements ---------------------------------------------------------------
async def connections_per_second(fw: Framework, setup: Setup, stack: str, port: int,
                                 count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        stream = await fw.connect(setup, stack, port)
        await stream.send(b"x")
        if await stream.receive() != b"x":
            raise RuntimeError("the echo lost its byte")
        await stream.close()
    return count / (time.perf_counter() - start)


async def throughput(fw: Framework, setup: Setup, stack: str, port: int, mib: int) -> float:
    stream = await fw.connect(setup, stack, port)
    total = mib * MIB
    chunk = os.urandom(WRITE_SIZE)
    start = time.perf_counter()
    await stream.send(total.to_bytes(8, "big"))
    for _ in range(total // WRITE_SIZE):
        await stream.send(chunk)
    if await stream.receive() != b"k":
        raise RuntimeError("the sink did not acknowledge")
    elapsed = time.perf_counter() - start
    await stream.close()
    return total / elapsed / 1e6


async def echo_rate(fw: Framework, setup: Setup, stack: str, port: int, count: int) -> float:
    stream = await fw.connect(setup, stack, port)
    start = time.perf_counter()
    for _ in range(count):
        await stream.send(b"x")
        if await stream.receive() != b"x":
            raise RuntimeError("the echo lost its byte")
    elapsed = time.perf_counter() - start
    await stream.close()
    return count / elapsed


def process_cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid``, all its threads (Linux ``/proc``; 0 elsewhere).

    From each thread's ``schedstat`` (nanoseconds on the CPU), else from
    ``stat`` (user + system, in clock ticks: 10 ms, too coarse for a measure
    that takes tens of milliseconds, such as 24 MiB of bulk).
    """
    try:
        return sum(int(Path(task, "schedstat").read_text().split()[0])
                   for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_all(fw: Framework, setup: Setup, ports: dict[str, dict[str, int]],
                      params: Params, server_pid: int) -> dict[str, dict[str, list[float]]]:
    """Rates per metric and stack, and the CPU time (server + client) per operation.

    CPU time per operation is much less sensitive than rates to other jobs on a
    shared machine: it is the work done, not how long the scheduler made it wait.
    """
    import gc

    samples: dict[str, dict[str, list[float]]] = {
        m: {s: [] for s in STACKS} for m in (*METRICS, *CPU_METRICS)}
    for round_ in range(-1, params.rounds):  # round -1: warm-up, not kept
        scale = 0.2 if round_ < 0 else 1.0
        connections = max(5, int(params.connections * scale))
        mib = max(1, int(params.mib * scale))
        echoes = max(50, int(params.echoes * scale))
        for stack in STACKS if round_ % 2 == 0 else STACKS[::-1]:
            echo, sink = ports[stack]["echo"], ports[stack]["sink"]
            runs: dict[str, tuple[Awaitable[float], float]] = {
                "connections_per_s": (connections_per_second(
                    fw, setup, stack, echo, connections), connections),
                "mb_per_s": (throughput(fw, setup, stack, sink, mib), mib * MIB / 1e6),
                "echo_round_trips_per_s": (echo_rate(fw, setup, stack, echo, echoes), echoes),
            }
            for (metric, (measure, operations)), cpu_metric in zip(
                    runs.items(), CPU_METRICS, strict=True):
                gc.collect()
                cpu_before = time.process_time() + process_cpu_seconds(server_pid)
                rate = await measure
                cpu = time.process_time() + process_cpu_seconds(server_pid) - cpu_before
                if round_ >= 0:
                    samples[metric][stack].append(rate)
                    samples[cpu_metric][stack].append(cpu / operations * 1e6)
    return samples


# -- processes ---------------------------------------------------------------------------------
def load_credentials(path: str) -> Credentials:
    fields = json.loads(Path(path).read_text())
    for name in ("ca_der", "leaf_der", "key_der"):
        fields[name] = bytes.fromhex(fields[name])
    return Credentials(**fields)


def save_credentials(creds: Credentials, path: str) -> None:
    fields = dataclasses.asdict(creds)
    for name in ("ca_der", "leaf_der", "key_der"):
        fields[name] = fields[name].hex()
    Path(path).write_text(json.dumps(fields))


def pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def server_main(framework: str, creds_path: str, cpu: int | None) -> None:
    """The server process: print the ports as one JSON line, then serve until killed."""
    pin(cpu)
    setup = Setup(load_credentials(creds_path))
    fw = FRAMEWORK_CLASSES[framework]()
    ports: dict[str, dict[str, int]] = {}

    def ready() -> None:
        print(json.dumps(ports), flush=True)

    fw.run(lambda: fw.serve(setup, ports, ready))


def cpus(no_pin: bool) -> tuple[int | None, int | None]:
    """(server CPU, client CPU): two different CPUs this process may use, if any."""
    if no_pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


def run_framework(framework: str, creds_path: str, params: Params, no_pin: bool
                  ) -> dict[str, dict[str, list[float]]]:
    server_cpu, client_cpu = cpus(no_pin)
    command = [sys.executable, __file__, "--serve", framework, "--creds", creds_path]
    if server_cpu is not None:
        command += ["--cpu", str(server_cpu)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    previous = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"the {framework} server did not start")
        ports = json.loads(line)
        pin(client_cpu)
        setup = Setup(load_credentials(creds_path))
        fw = FRAMEWORK_CLASSES[framework]()
        result: dict[str, dict[str, list[float]]] = fw.run(
            lambda: measure_all(fw, setup, ports, params, server.pid))
        return result
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)
        server.terminate()
        server.wait(timeout=10)


def summarize(samples: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    medians = {m: {s: statistics.median(v) for s, v in per.items()} for m, per in samples.items()}
    ratios = {m: medians[m]["siotls"] / medians[m]["ssl"] for m in medians}
    return {"medians": medians, "ratios": ratios, "samples": samples}


def print_results(results: dict[str, Any]) -> None:
    print(f"siotls vs ssl over loopback, separate processes | Python {results['python']} | "
          f"{results['openssl']} | cryptography {results['cryptography']} | "
          f"{results['cpus']} CPUs | pinned: {results['pinned']}")
    p = results["params"]
    print(f"{results['runs']} runs x {p['rounds']} rounds of: {p['connections']} connections "
          f"(handshake + 1-byte round trip), {p['mib']} MiB in {WRITE_SIZE // 1024} KiB writes, "
          f"{p['echoes']} 1-byte echoes; medians per run; ratio = siotls / ssl\n")
    header = f"{'framework':<9}{'metric':<24}"
    for i in range(results["runs"]):
        header += f"{'run ' + str(i + 1) + ' ssl':>13}{'siotls':>9}{'ratio':>7}"
    print(header + "  target")
    names = {"connections_per_s": "connections/s", "mb_per_s": "MB/s",
             "echo_round_trips_per_s": "echo round trips/s",
             "cpu_us_per_connection": "CPU us/connection", "cpu_us_per_mb": "CPU us/MB",
             "cpu_us_per_echo": "CPU us/echo"}
    for framework, runs in results["frameworks"].items():
        for metric in METRICS:
            line = f"{framework:<9}{names[metric]:<24}"
            ok = True
            for run in runs:
                med, ratio = run["medians"][metric], run["ratios"][metric]
                line += f"{med['ssl']:>13.0f}{med['siotls']:>9.0f}{ratio:>7.2f}"
                ok = ok and ratio >= TARGETS[metric]
            target = TARGETS[metric]
            print(f"{line}  >= {target}x: {'met' if ok else 'NOT met'} in every run")
        for metric in CPU_METRICS:
            line = f"{framework:<9}{names[metric]:<24}"
            for run in runs:
                med, ratio = run["medians"][metric], run["ratios"][metric]
                line += f"{med['ssl']:>13.0f}{med['siotls']:>9.0f}{ratio:>7.2f}"
            print(f"{line}  (lower is better)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS),
                        help="some of asyncio, trio, anyio: space- or comma-separated")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--no-openssl-conf", action="store_true",
                        help="leave OpenSSL's default TLS 1.3 suites (AES-256-GCM first)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--creds", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        server_main(args.serve, args.creds, args.cpu)
        return
    if args.quick:
        params = Params(rounds=3, connections=40, mib=8, echoes=800)
    else:
        params = Params(rounds=5, connections=100, mib=24, echoes=2000)
    creds_path = str(Path(TMPDIR.name, "creds.json"))
    save_credentials(make_credentials(TMPDIR.name), creds_path)
    import cryptography

    results: dict[str, Any] = {
        "python": platform.python_version(), "openssl": ssl.OPENSSL_VERSION,
        "cryptography": cryptography.__version__, "cpus": os.cpu_count(),
        "machine": platform.machine(), "pinned": cpus(args.no_pin) != (None, None),
        "params": dataclasses.asdict(params), "runs": args.runs, "frameworks": {},
    }
    frameworks = [name for arg in args.frameworks for name in arg.split(",") if name]
    unknown = set(frameworks) - set(FRAMEWORKS)
    if unknown:
        parser.error(f"unknown frameworks: {', '.join(sorted(unknown))}")
    for framework in frameworks:
        results["frameworks"][framework] = [
            summarize(run_framework(framework, creds_path, params, args.no_pin))
            for _ in range(args.runs)]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_results(results)


if __name__ == "__main__":
    main()
