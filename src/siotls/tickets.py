"""Ticket keys for servers, and the key file that shares them across processes.

The key file is text, one key per line: a 16-byte key id and a 32-byte
AES-256-GCM key, in hex, separated by a space; ``#`` starts a comment. The
first key encrypts new tickets, every key listed opens them::

    # siotls ticket keys: ...
    5f0c...(32 hex digits) 9a41...(64 hex digits)
    7d22... 0b6e...

Give the same file to every process and machine of a deployment and each
resumes the sessions the others issued. Rotate it on a schedule (cron, a
systemd timer) with ``python -m siotls ticket-keys rotate FILE [--keep N]`` or
:func:`rotate_key_file`, then make the servers reload it
(:meth:`TicketKeys.replace` with :func:`read_key_file`): a ticket sealed under a
key still resumes until that key leaves the file, ``keep - 1`` rotations later.
The file is a secret: whoever reads it can decrypt every ticket, and so resume
every session and decrypt the traffic protected with their PSKs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from siotls.core.tickets import (
    DEFAULT_KEEP,
    TicketKey,
    TicketKeys,
    format_key_file,
    parse_key_file,
)

__all__ = ["TicketKey", "TicketKeys", "add_arguments", "load_key_file", "read_key_file",
           "rotate_key_file", "run", "write_key_file"]


def read_key_file(path: str | os.PathLike[str]) -> list[TicketKey]:
    """The keys listed in ``path``; ValueError when the file is malformed."""
    return parse_key_file(Path(path).read_text(encoding="ascii"))


def load_key_file(path: str | os.PathLike[str], keep: int = DEFAULT_KEEP) -> TicketKeys:
    """:class:`TicketKeys` from ``path``, for ``TLSConfiguration(ticket_keys=...)``."""
    keys = read_key_file(path)
    return TicketKeys(keys, keep=max(keep, len(keys)))


def write_key_file(path: str | os.PathLike[str], keys: list[TicketKey]) -> None:
    """Write ``keys`` to ``path`` atomically (a rename), readable by its owner only."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(format_key_file(keys))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def rotate_key_file(path: str | os.PathLike[str], keep: int = DEFAULT_KEEP,
                    random_bytes: Callable[[int], bytes] = os.urandom) -> TicketKey:
    """Put a fresh key first in ``path`` and keep ``keep`` keys in all.

    A missing file is created with the one fresh key. Returns the new key.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    try:
        keys = read_key_file(path)
    except FileNotFoundError:
        keys = []
    fresh = TicketKey.generate(random_bytes)
    write_key_file(path, [fresh, *keys][:keep])
    return fresh


# -- the command line: ``python -m siotls ticket-keys rotate FILE [--keep N]`` ---------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ticket-keys`` arguments (the subcommand of ``python -m siotls``)."""
    actions = parser.add_subparsers(dest="action", metavar="{rotate}", required=True)
    rotate = actions.add_parser(
        "rotate", help="put a fresh key first in FILE (created if missing), keep N keys",
        description="Put a fresh ticket key first in FILE (made, mode 0600, when missing) "
                    "and keep the N newest keys: servers that reload the file seal new "
                    "tickets with the fresh key and still open those of the N-1 older ones.")
    rotate.add_argument("file", metavar="FILE", help="the ticket key file")
    rotate.add_argument("--keep", type=_positive, default=DEFAULT_KEEP, metavar="N",
                        help=f"keys kept, the fresh one included (default {DEFAULT_KEEP})")


def run(args: argparse.Namespace) -> int:
    """Run a ``ticket-keys`` action; the exit code (2: the file is unusable)."""
    try:
        key = rotate_key_file(args.file, keep=args.keep)
        kept = len(read_key_file(args.file))
    except (OSError, ValueError) as exc:
        print(f"siotls: {args.file}: {exc}", file=sys.stderr)
        return 2
    print(f"siotls: {args.file}: new key {key.key_id.hex()} first, {kept} kept")
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m siotls.tickets",
                                     description="Manage a siotls ticket key file.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
