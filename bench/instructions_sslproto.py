"""Instructions per keep-alive request and per new connection on a server ``SSLObject``
driven as asyncio's ``sslproto`` drives it, in memory: ``ssl`` against ``siotls.compat``.

    python bench/instructions_sslproto.py                  # about 1 min; needs valgrind
    python bench/instructions_sslproto.py --stacks compat --measures keep

The server side of what uvicorn runs under ``sslproto`` (see ``profile_sslproto.py``),
without the event loop and the sockets: the server's ``SSLObject`` is made by
``wrap_bio()``; every chunk from the client is written to its incoming BIO and
read as ``sslproto._do_read__copied`` reads it (``read(max_size)`` until
``SSLWantReadError``); each response is written as uvicorn writes it (the head,
then the body: one ``write()`` each, the outgoing BIO drained after each, as
``_process_outgoing`` does). A new connection also runs ``do_handshake()`` once per
flight, then ``getpeercert()``, ``cipher()`` and ``compression()`` as
``_on_handshake_complete`` does, and ``unwrap()`` at the close. The client is
``ssl``'s ``SSLObject`` for both stacks (its share is the same on both sides).

A child process runs the pattern under ``valgrind --tool=cachegrind --cache-sim=no``
with two counts; the difference of the totals over the difference of the counts
is the count per operation, start-up excluded, deterministic where times on a
shared machine are not. Needs valgrind; without it, says so and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path

import _valgrind

COUNTS = {"keep": (400, 2400), "new": (20, 120)}
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\n"
BODY = b"hello\n"
MAX_SIZE = 256 * 1024  # sslproto's max_size


def child(stack: str, measure: str, count: int) -> None:
    """Run ``count`` operations in this process (what valgrind measures)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    # First, before ssl is imported: _common configures OpenSSL (see its docstring).
    from _common import TMPDIR, make_credentials, ssl_contexts

    # isort: split
    import ssl

    from siotls import TLSConfiguration
    from siotls.compat import SSLContext
    from siotls.iana import CipherSuites, NamedGroup

    creds = make_credentials(TMPDIR.name)
    client_context, ssl_server = ssl_contexts(creds)
    server_context: ssl.SSLContext = ssl_server if stack == "ssl" else SSLContext.from_config(
        TLSConfiguration(
            "server", private_key=creds.key_der, certificate_chain=[creds.leaf_der],
            num_tickets=0, cipher_suites=[CipherSuites.TLS_AES_128_GCM_SHA256],
            key_exchanges=[NamedGroup.x25519]))
    want_read = ssl.SSLWantReadError

    Pair = tuple[ssl.SSLObject, ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO,
                 ssl.MemoryBIO, ssl.MemoryBIO]

    def connect() -> Pair:
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        client = client_context.wrap_bio(c_in, c_out, server_hostname="localhost")
        server = server_context.wrap_bio(s_in, s_out, server_side=True)
        for side in (client, server, client, server, client):
            with contextlib.suppress(want_read):
                side.do_handshake()
            if side is client:
                s_in.write(c_out.read())
            else:
                c_in.write(s_out.read())
        server.getpeercert()  # _on_handshake_complete
        server.cipher()
        server.compression()
        return client, server, c_in, c_out, s_in, s_out

    def request(pair: Pair) -> None:
        client, server, c_in, c_out, s_in, s_out = pair
        client.write(b"GET / HTTP/1.1\r\n\r\n")
        s_in.write(c_out.read())  # buffer_updated
        try:  # _do_read__copied
            while server.read(MAX_SIZE):
                pass
        except want_read:
            pass
        for part in (HEAD, BODY):  # _do_write, _process_outgoing
            server.write(part)
            c_in.write(s_out.read())
        got = 0
        while got < len(HEAD) + len(BODY):
            got += len(client.read(MAX_SIZE))

    if measure == "keep":
        pair = connect()
        for _ in range(count):
            request(pair)
        return
    for _ in range(count):
        pair = connect()
        request(pair)
        _, server, c_in, _, _, s_out = pair
        with contextlib.suppress(want_read):  # the server closes: sslproto's _do_shutdown
            server.unwrap()
        c_in.write(s_out.read())


def instructions(stack: str, measure: str, count: int) -> int:
    return _valgrind.instructions(__file__, stack, measure, str(count), timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", default="ssl,compat")
    parser.add_argument("--measures", default="keep,new")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stack, measure, count = args.child
        child(stack, measure, int(count))
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing measured")
        return
    unit = {"keep": "keep-alive request", "new": "new connection"}
    for measure in args.measures.split(","):
        short, long = COUNTS[measure]
        for stack in args.stacks.split(","):
            per = (instructions(stack, measure, long)
                   - instructions(stack, measure, short)) / (long - short)
            print(f"{stack:7} {per / 1000:9.1f}k instructions per {unit[measure]}"
                  " (server and client)", flush=True)


if __name__ == "__main__":
    main()
