"""The ``siotls`` command line: a TLS 1.3 client and server on blocking sockets.

::

    siotls client --host example.com --port 443 --http -v
    echo hello | siotls client --host localhost --port 8443 --cafile ca.pem
    siotls server --port 8443 --tlscert chain.pem --tlskey key.pem
    siotls ticket-keys rotate /etc/myapp/ticket-keys --keep 3

The client sends its standard input (or, with ``--http``, a ``GET /``) and writes what
comes back to its standard output. At the end of the input it sends close_notify and
keeps reading until the server closes too (half-close). The server answers ``GET /``
with a small page and echoes anything else, one thread per connection.

Diagnostics go to the standard error, one line each, prefixed with ``siotls:``.
Exit codes: 0 success, 2 bad arguments, files or configuration, 3 network errors
(name resolution, refused connection, timeout, reset), 4 TLS errors (a failed
handshake, an alert), 130 interrupted.

Where to look:

============  ===================================================================
arguments.py  the argument parser (:func:`build_parser`)
setup.py      PEM files, trust store, key log, the TLSConfiguration
report.py     diagnostics on stderr, exit codes, the one error :class:`CLIError`
blocking.py   a TLSConnection over a blocking socket (shared with the tests)
client.py     ``siotls client`` and its exchange loop
server.py     ``siotls server``
certs.py      the certificate options: several chains, SNI, client certificates, OCSP, raw keys
============  ===================================================================
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from siotls import tickets
from siotls.cli import report
from siotls.cli.arguments import build_parser
from siotls.cli.client import run_client
from siotls.cli.report import EXIT_NETWORK, EXIT_OK, EXIT_TLS, EXIT_USAGE, CLIError
from siotls.cli.server import run_server

__all__ = ["EXIT_NETWORK", "EXIT_OK", "EXIT_TLS", "EXIT_USAGE", "CLIError", "build_parser",
           "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "ticket-keys":
        return tickets.run(args)
    if args.verbose >= 2:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="siotls: %(name)s: %(message)s")
    try:
        if args.command == "client":
            return run_client(args)
        return run_server(args)
    except CLIError as exc:
        report.notice(str(exc))
        return exc.code
    except KeyboardInterrupt:
        report.notice("interrupted")
        return report.EXIT_INTERRUPTED
    except (report.StdoutClosed, BrokenPipeError):
        # stdout was closed early (``| head``): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
