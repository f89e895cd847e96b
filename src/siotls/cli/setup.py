"""From arguments to a :class:`~siotls.TLSConfiguration`: PEM files, trust, key log.

Every failure here is a :class:`~siotls.cli.report.CLIError` with exit code 2
(``EXIT_USAGE``): an unreadable file, bad PEM, an impossible configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import IO, Any, Literal

from siotls import tickets
from siotls.cli.report import EXIT_USAGE, CLIError, notice, output_lock
from siotls.core.config import (
    SUPPORTED_CIPHER_SUITES,
    SUPPORTED_KEY_EXCHANGES,
    InsecureWarning,
    TLSConfiguration,
)
from siotls.core.errors import TLSUsageError
from siotls.core.session import TLSSession
from siotls.core.tickets import TicketKeys
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key
from siotls.trust import TrustStore, get_truststore


def read_file(path: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CLIError(f"cannot read the {option} file {path!r}: {exc.strerror or exc}",
                       EXIT_USAGE) from exc


def load_credentials(cert_path: str, key_path: str, cert_option: str, key_option: str
                     ) -> tuple[list[bytes], bytes]:
    """(DER chain, DER PKCS#8 key) from PEM files."""
    cert_data = read_file(cert_path, cert_option)
    key_data = read_file(key_path, key_option)
    try:
        chain = decode_pem_certificate_chain(cert_data)
    except ValueError as exc:
        raise CLIError(f"bad PEM in the {cert_option} file {cert_path!r}: {exc}",
                       EXIT_USAGE) from exc
    try:
        key = decode_pem_private_key(key_data)
    except ValueError as exc:
        raise CLIError(f"bad PEM in the {key_option} file {key_path!r}: {exc}",
                       EXIT_USAGE) from exc
    return chain, key


def load_truststore(cafile: str) -> TrustStore:
    data = read_file(cafile, "--cafile")
    try:
        return TrustStore.from_pem(data)
    except ValueError as exc:
        raise CLIError(f"bad PEM in the --cafile file {cafile!r}: {exc}", EXIT_USAGE) from exc


def system_truststore() -> TrustStore:
    try:
        return get_truststore()
    except RuntimeError as exc:
        raise CLIError(f"{exc}; or give --cafile", EXIT_USAGE) from exc


class KeyLogWriter:
    """The ``keylog`` hook: appends key-log lines to a file, or writes them to stderr."""

    def __init__(self, target: str) -> None:
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if target != "-":
            try:
                self._file = open(target, "a", encoding="ascii")  # noqa: SIM115
            except OSError as exc:
                raise CLIError(f"cannot open the --keylogfile file {target!r}: "
                               f"{exc.strerror or exc}", EXIT_USAGE) from exc

    def __call__(self, line: str) -> None:
        if self._file is None:
            with output_lock:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
            return
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def load_ticket_keys(path: str) -> TicketKeys:
    """The ``--ticket-keys`` file, made with one fresh key when it does not exist."""
    try:
        if not os.path.exists(path):
            tickets.rotate_key_file(path)
        return tickets.load_key_file(path)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot use the --ticket-keys file {path}: "
                       f"{getattr(exc, 'strerror', None) or exc}", EXIT_USAGE) from exc


def replay_store(url: str | None, window: float) -> Any:
    """The strike register: in memory, or the blocking Redis one at ``url``
    (``--replay-store``), remembering keys for ``window`` seconds."""
    if url is None:
        from siotls.stores import MemoryStrikeRegister  # noqa: PLC0415

        return MemoryStrikeRegister(window=window)
    try:
        import redis  # noqa: PLC0415 (the redis extra)

        from siotls.stores.redis import RedisStrikeRegister  # noqa: PLC0415
    except ImportError as exc:
        raise CLIError("--replay-store needs the redis package "
                       "(pip install siotls[redis])", EXIT_USAGE) from exc
    try:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    except ValueError as exc:
        raise CLIError(f"--replay-store: {exc}", EXIT_USAGE) from exc
    return RedisStrikeRegister(client, window=window)


def load_session(path: str) -> TLSSession:
    """The ``--sess-in`` file."""
    try:
        return TLSSession.from_bytes(Path(path).read_bytes())
    except OSError as exc:
        raise CLIError(f"cannot read the --sess-in file {path}: {exc.strerror or exc}",
                       EXIT_USAGE) from exc
    except TLSUsageError as exc:
        raise CLIError(f"the --sess-in file {path} holds no session: {exc}",
                       EXIT_USAGE) from exc


def save_session(path: str, session: TLSSession) -> None:
    """Write ``session`` to the ``--sess-out`` file, readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(session.to_bytes())
    except OSError as exc:
        raise CLIError(f"cannot write the --sess-out file {path}: {exc.strerror or exc}",
                       EXIT_USAGE) from exc


def _size_and_compression(args: argparse.Namespace) -> dict[str, Any]:
    """--record-size-limit and --cert-compression, when given (else the defaults)."""
    options: dict[str, Any] = {}
    if getattr(args, "record_size_limit", None) is not None:
        options["record_size_limit"] = args.record_size_limit
    if getattr(args, "cert_compression", None) is not None:
        options["certificate_compression"] = args.cert_compression
    return options


def make_configuration(side: Literal["client", "server"], args: argparse.Namespace,
                       keylog: KeyLogWriter | None, **options: Any) -> TLSConfiguration:
    """The configuration of ``side`` from the common options and ``options``.

    Its warnings become one-line notices, its errors a CLIError.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InsecureWarning)
        try:
            config = TLSConfiguration(
                side,
                cipher_suites=args.ciphers or SUPPORTED_CIPHER_SUITES,
                key_exchanges=args.groups or SUPPORTED_KEY_EXCHANGES,
                log_keys=keylog is not None or bool(os.environ.get("SSLKEYLOGFILE")),
                keylog=keylog,
                **_size_and_compression(args),
                **options,
            )
        except ValueError as exc:
            raise CLIError(f"invalid configuration: {exc}", EXIT_USAGE) from exc
    for warning in caught:
        if issubclass(warning.category, InsecureWarning):
            notice("warning: --insecure: the server's certificate is not verified")
        else:
            notice(f"warning: {warning.message}")
    return config
