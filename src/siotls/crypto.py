"""The crypto backend switch, kept from siotls 0.0.5.

``siotls.crypto.install('openssl')`` selects the backend. There is one:
``'openssl'``, the ``cryptography`` package (which embeds OpenSSL). Calling
:func:`install` is optional; the first connection installs ``'openssl'``.
"""

from __future__ import annotations

BACKENDS = ("openssl",)
_installed: str | None = None


def install(name: str = "openssl") -> None:
    """Select the crypto backend. An unknown name raises :class:`ValueError`."""
    global _installed  # noqa: PLW0603
    if name not in BACKENDS:
        raise ValueError(f"unknown crypto backend {name!r}; available: {', '.join(BACKENDS)}")
    if _installed is None:
        import cryptography  # noqa: F401, PLC0415 (fail early with a clear ImportError)
    _installed = name


def installed() -> str | None:
    """The installed backend's name, or None."""
    return _installed


def ensure_installed() -> None:
    if _installed is None:
        install("openssl")
