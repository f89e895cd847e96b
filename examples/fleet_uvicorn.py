"""A fleet on one machine: uvicorn in several worker processes sharing a ticket key file.

    python examples/fleet_uvicorn.py --cert cert.pem --key key.pem \\
        [--port 8443] [--workers 4] [--ticket-keys ticket-keys]

Each worker is a process of its own with its own listening socket on the same
port (``SO_REUSEPORT``: the kernel spreads the connections over the workers).
With ``--ticket-keys FILE`` every worker seals and opens session tickets with the
keys of FILE (created with one fresh key when missing; rotate it with ``python -m
siotls ticket-keys rotate FILE``), so a client resumes its session whichever
worker it reaches. Without it each worker has keys of its own: a client resumes
only when it reaches the worker that gave it its ticket, one time in
``--workers``. The answer names the worker (``x-worker`` header).

Machines of a fleet share the key file the same way, or a Redis key source
(``siotls.stores``). Linux and the BSDs (``SO_REUSEPORT``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from siotls import TLSConfiguration
from siotls.compat import SSLContext
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key
from siotls.tickets import load_key_file, rotate_key_file

WORKER = "0"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = f"hello from worker {WORKER}\n".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"x-worker", WORKER.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def listen(host: str, port: int) -> socket.socket:
    """A socket of the port's SO_REUSEPORT group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def exit_with_parent(parent: int) -> None:
    """A worker ends when the process that started it is gone (even killed)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def worker(args: argparse.Namespace, port: int, index: int, ready: Any, parent: int) -> None:
    global WORKER  # noqa: PLW0603 (the app names its worker)
    WORKER = str(index)
    exit_with_parent(parent)
    config = TLSConfiguration(
        "server", alpn=[b"http/1.1"],
        certificate_chain=decode_pem_certificate_chain(Path(args.cert).read_bytes()),
        private_key=decode_pem_private_key(Path(args.key).read_bytes()),
        ticket_keys=load_key_file(args.ticket_keys) if args.ticket_keys else None)
    context = SSLContext.from_config(config)
    sock = listen(args.host, port)
    sock.listen(128)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see uvicorn_app.py
    ready.release()
    server = uvicorn.Server(uvicorn.Config(
        app, lifespan="off", log_level="warning",
        ssl_context_factory=lambda _config, _default: context))
    server.run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ticket-keys", metavar="FILE",
                        help="the ticket key file the workers share (default: none, "
                             "each worker has keys of its own)")
    args = parser.parse_args()
    if args.ticket_keys and not Path(args.ticket_keys).exists():
        rotate_key_file(args.ticket_keys)  # made here, once, with one fresh key
    reserved = listen(args.host, args.port)  # holds the port; never listens, gets nothing
    port = reserved.getsockname()[1]
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Semaphore(0)
    workers = [spawn.Process(target=worker, args=(args, port, index, ready, os.getpid()),
                             daemon=True) for index in range(args.workers)]
    for process in workers:
        process.start()
    for _ in workers:
        if not ready.acquire(timeout=30):
            raise SystemExit("a worker did not start")
    print(f"listening on {args.host}:{port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        for process in workers:
            process.join()
    finally:
        for process in workers:
            process.terminate()


if __name__ == "__main__":
    main()
