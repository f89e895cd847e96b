"""cProfile of ``bench_loopback.py``'s servers and clients: Python calls per operation.

    python bench/profile_loopback.py                       # siotls and ssl, echo, connections, bulk
    python bench/profile_loopback.py --stacks siotls --measures echo --top 30
    python bench/profile_loopback.py --filter siotls       # only siotls's functions in the top
    python bench/profile_loopback.py --framework anyio     # anyio's streams (asyncio backend)
    python bench/profile_loopback.py --framework trio      # trio's streams

The server (``bench_loopback.Asyncio().serve``, or ``Anyio()``'s with ``--framework anyio``,
on an asyncio loop, or ``Trio()``'s with ``--framework trio``) runs in its own process pinned
to one CPU, the client in this one pinned to the other, as in
``bench_loopback.py``; after a warm-up each side profiles one measure: N
sequential connections (handshake + 1-byte round trip), N 1-byte echoes, or N
MiB to the sink. Printed per side: the Python function calls (and C calls made
from Python) per operation, deterministic where times are not on a shared
machine, and the top functions by cumulative time per operation.
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
import bench_loopback as bl

# isort: split
import argparse
import cProfile
import json
import os
import pstats
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import anyio

COUNTS = {"echo": 2000, "connections": 100, "bulk": 16}


def serve(creds: str, out: str, cpu: int | None, framework: str) -> None:
    """The server process: profile from SIGUSR1 to SIGTERM, then dump to ``out``."""
    bl.pin(cpu)
    setup = bl.Setup(bl.load_credentials(creds))
    ports: dict[str, dict[str, int]] = {}
    profile = cProfile.Profile()
    fw = bl.FRAMEWORK_CLASSES[framework]()

    async def main() -> None:
        with anyio.open_signal_receiver(signal.SIGUSR1, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as group:
                group.start_soon(fw.serve, setup, ports,
                                 lambda: print(json.dumps(ports), flush=True))
                async for signum in signals:
                    if signum == signal.SIGUSR1:
                        profile.enable()
                    else:
                        profile.disable()
                        group.cancel_scope.cancel()
                        break

    fw.run(main)
    profile.dump_stats(out)


async def client(setup: bl.Setup, stack: str, measure: str, count: int, *,
                 ports: dict[str, dict[str, int]], server_pid: int, out: str,
                 framework: str) -> None:
    fw = bl.FRAMEWORK_CLASSES[framework]()
    echo, sink = ports[stack]["echo"], ports[stack]["sink"]
    await bl.connections_per_second(fw, setup, stack, echo, 5)  # warm-up
    await bl.echo_rate(fw, setup, stack, echo, 50)
    await bl.throughput(fw, setup, stack, sink, 2)
    os.kill(server_pid, signal.SIGUSR1)
    await anyio.sleep(0.2)
    profile = cProfile.Profile()
    profile.enable()
    if measure == "connections":
        await bl.connections_per_second(fw, setup, stack, echo, count)
    elif measure == "echo":
        await bl.echo_rate(fw, setup, stack, echo, count)
    else:
        await bl.throughput(fw, setup, stack, sink, count)
    profile.disable()
    profile.dump_stats(out)


def report(path: str, side: str, stack: str, measure: str, count: int, *, top: int,
           name_filter: str) -> None:
    stats: Any = pstats.Stats(path)
    calls = sum(row[1] for row in stats.stats.values())
    unit = {"connections": "connection", "echo": "echo", "bulk": "MiB"}[measure]
    print(f"\n{side} {stack} {measure}: {calls / count:.1f} calls per {unit}")
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][3])
    shown = 0
    for (file, line, function), (_, ncalls, tottime, cumtime, _) in rows:
        if shown >= top:
            break
        if "poll" in function or (name_filter and name_filter not in file):
            continue
        where = "/".join(Path(file).parts[-2:])
        print(f"  {ncalls / count:7.2f} calls  tottime {tottime / count * 1e6:8.1f} us  "
              f"cumtime {cumtime / count * 1e6:8.1f} us  {where}:{line} {function}")
        shown += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", default="siotls,ssl")
    parser.add_argument("--measures", default="echo,connections,bulk")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--filter", default="", help="only functions whose file contains this")
    parser.add_argument("--framework", choices=("asyncio", "anyio", "trio"), default="asyncio",
                        help="the streams profiled (anyio on an asyncio loop)")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve, args.cpu, args.framework)
        return
    creds = str(Path(bl.TMPDIR.name, "creds.json"))
    bl.save_credentials(bl.make_credentials(bl.TMPDIR.name), creds)
    server_cpu, client_cpu = bl.cpus(no_pin=False)
    setup = bl.Setup(bl.load_credentials(creds))
    for stack in args.stacks.split(","):
        for measure in args.measures.split(","):
            count = COUNTS[measure]
            outs = {side: str(Path(bl.TMPDIR.name, f"{side}-{stack}-{measure}.prof"))
                    for side in ("server", "client")}
            command = [sys.executable, __file__, "--serve", creds, outs["server"],
                       "--framework", args.framework]
            if server_cpu is not None:
                command += ["--cpu", str(server_cpu)]
            server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            try:
                assert server.stdout is not None
                ports = json.loads(server.stdout.readline())
                bl.pin(client_cpu)
                bl.FRAMEWORK_CLASSES[args.framework]().run(partial(
                    client, setup, stack, measure, count, ports=ports,
                    server_pid=server.pid, out=outs["client"], framework=args.framework))
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=20)
            for side, path in outs.items():
                report(path, side, stack, measure, count, top=args.top,
                       name_filter=args.filter)


if __name__ == "__main__":
    main()
