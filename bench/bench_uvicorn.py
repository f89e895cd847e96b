"""uvicorn on siotls (the ``siotls.compat`` context) vs uvicorn on ``ssl``, loaded by ``wrk``.

    python bench/bench_uvicorn.py                 # 5 rounds of 5 s per measure (~2 min)
    python bench/bench_uvicorn.py --quick         # 3 rounds of 2 s (~30 s)
    python bench/bench_uvicorn.py --json
    python bench/bench_uvicorn.py --no-pin        # let the scheduler place the processes

Needs ``uvicorn`` (pip) and ``wrk`` (Debian: ``apt-get install wrk``); without
either it says so and exits 0. Not run by ``.ci/run``.

Two uvicorn servers, one worker each, in their own processes pinned to one CPU
(``os.sched_setaffinity``): one with the ``ssl`` server context of the other
benchmarks (``_common.ssl_contexts``: TLS 1.3, x25519, TLS_AES_128_GCM_SHA256 via
``OPENSSL_CONF``, no session tickets), one with
``siotls.compat.SSLContext.from_config`` (same certificate, suite and group),
both through uvicorn's ``ssl_context_factory`` on a pre-bound socket with
TCP_NODELAY. The app answers every request with a 6-byte body. ``wrk`` runs
pinned to another CPU, ``-t1 -c16``, over https://127.0.0.1:

1. **keep-alive**: 16 connections, each doing request after request;
2. **new connection per request**: ``-H "Connection: close"``: the server closes
   after each response, so wrk makes a TLS handshake per request.

Requests/s from wrk's summary; the stacks alternate every round; medians and the
ratio siotls / ssl. With each, the server process's CPU time per request
(``/proc/<pid>/stat``, user + system): the work the server did, much steadier
than the rates on a shared machine, where they mostly measure how long the
pinned server waited behind other jobs.
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
from _common import TMPDIR, Credentials, make_credentials, ssl_contexts

# isort: split
import argparse
import dataclasses
import json
import os
import platform
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench_loopback import process_cpu_seconds

STACKS = ("ssl", "siotls")
MEASURES = {"keep_alive": [], "new_connection": ["-H", "Connection: close"]}
CONNECTIONS = 16
#: the server's CPU time per request (lower is better)
CPU_MEASURES = {f"cpu_us_per_request_{m}": f"server CPU us/request, {m.replace('_', ' ')}"
                for m in MEASURES}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"6")]})
    await send({"type": "http.response.body", "body": b"hello\n"})


def save_credentials(creds: Credentials, path: str) -> None:
    fields = dataclasses.asdict(creds)
    for name in ("ca_der", "leaf_der", "key_der"):
        fields[name] = fields[name].hex()
    Path(path).write_text(json.dumps(fields))


def load_credentials(path: str) -> Credentials:
    fields = json.loads(Path(path).read_text())
    for name in ("ca_der", "leaf_der", "key_der"):
        fields[name] = bytes.fromhex(fields[name])
    return Credentials(**fields)


def server_context(stack: str, creds: Credentials) -> Any:
    if stack == "ssl":
        return ssl_contexts(creds)[1]
    from siotls import TLSConfiguration
    from siotls.compat import SSLContext
    from siotls.iana import CipherSuites, NamedGroup

    return SSLContext.from_config(TLSConfiguration(
        "server", private_key=creds.key_der, certificate_chain=[creds.leaf_der],
        num_tickets=0,  # like the ssl server (_common.ssl_contexts)
        cipher_suites=[CipherSuites.TLS_AES_128_GCM_SHA256],
        key_exchanges=[NamedGroup.x25519]))


def serve(stack: str, creds_path: str, cpu: int | None) -> None:
    """The server process: print the port, then serve until killed."""
    import uvicorn

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    context = server_context(stack, load_credentials(creds_path))
    sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, workers=1,
        ssl_context_factory=lambda _config, _default: context)).run(sockets=[sock])


def wrk(port: int, seconds: float, extra: list[str], cpu: int | None) -> tuple[float, int]:
    """Requests/s that ``wrk`` measured, and the number of requests."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", *extra,
               f"https://127.0.0.1:{port}/"]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
    ).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", output)
    if match is None or count is None:
        raise RuntimeError(f"wrk printed no rate:\n{output}")
    if errors is not None and "Socket errors" in errors.group(0) and \
            "connect 0, read 0, write 0, timeout 0" not in errors.group(0):
        print(f"  (wrk on port {port}: {errors.group(0)})", file=sys.stderr)
    return float(match.group(1)), int(count.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--no-openssl-conf", action="store_true",
                        help="leave OpenSSL's default TLS 1.3 suites (AES-256-GCM first)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--creds", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.creds, args.cpu)
        return
    try:
        import uvicorn
    except ImportError:
        print("uvicorn is not installed (pip install uvicorn): nothing to measure")
        return
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): nothing to measure")
        return
    rounds = args.rounds or (3 if args.quick else 5)
    seconds = args.seconds or (2 if args.quick else 5)
    server_cpu = client_cpu = None
    if not args.no_pin and hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > 1:
        server_cpu, client_cpu = sorted(os.sched_getaffinity(0))[:2]
    creds_path = str(Path(TMPDIR.name, "creds.json"))
    save_credentials(make_credentials(TMPDIR.name), creds_path)

    servers, ports = {}, {}
    try:
        for stack in STACKS:
            command = [sys.executable, __file__, "--serve", stack, "--creds", creds_path]
            if server_cpu is not None:
                command += ["--cpu", str(server_cpu)]
            if args.no_openssl_conf:
                command.append("--no-openssl-conf")
            servers[stack] = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            assert servers[stack].stdout is not None
            ports[stack] = int(servers[stack].stdout.readline())
        for stack in STACKS:  # warm up
            wrk(ports[stack], 1, [], client_cpu)
        samples: dict[str, dict[str, list[float]]] = {
            m: {s: [] for s in STACKS} for m in (*MEASURES, *CPU_MEASURES)}
        for round_ in range(rounds):
            for stack in STACKS if round_ % 2 == 0 else STACKS[::-1]:
                for measure, extra in MEASURES.items():
                    cpu_before = process_cpu_seconds(servers[stack].pid)
                    rate, count = wrk(ports[stack], seconds, extra, client_cpu)
                    cpu = process_cpu_seconds(servers[stack].pid) - cpu_before
                    samples[measure][stack].append(rate)
                    samples[f"cpu_us_per_request_{measure}"][stack].append(
                        cpu / max(count, 1) * 1e6)
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(timeout=10)

    medians = {m: {s: statistics.median(v) for s, v in per.items()} for m, per in samples.items()}
    ratios = {m: medians[m]["siotls"] / medians[m]["ssl"] for m in medians}
    results = {
        "python": platform.python_version(), "openssl": ssl.OPENSSL_VERSION,
        "uvicorn": uvicorn.__version__, "cpus": os.cpu_count(),
        "pinned": server_cpu is not None, "rounds": rounds, "seconds": seconds,
        "connections": CONNECTIONS, "medians": medians, "ratios": ratios, "samples": samples,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"uvicorn {results['uvicorn']} (one worker) on siotls.compat vs on ssl, wrk -t1 "
          f"-c{CONNECTIONS} | Python {results['python']} | {results['openssl']} | "
          f"{results['cpus']} CPUs | pinned: {results['pinned']}")
    print(f"{rounds} interleaved rounds of {seconds:g} s per measure; medians of requests/s\n")
    print(f"{'':<34}{'ssl':>10}{'siotls':>10}{'siotls/ssl':>12}   samples (ssl | siotls)")
    for measure in (*MEASURES, *CPU_MEASURES):
        m = medians[measure]
        name = CPU_MEASURES.get(measure, measure.replace("_", " "))
        print(f"{name:<34}{m['ssl']:>10.0f}{m['siotls']:>10.0f}"
              f"{ratios[measure]:>11.2f}x   "
              f"{' '.join(f'{v:.0f}' for v in samples[measure]['ssl'])} | "
              f"{' '.join(f'{v:.0f}' for v in samples[measure]['siotls'])}")


if __name__ == "__main__":
    main()
