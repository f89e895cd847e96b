"""normalize_server_hostname takes ASCII names without the idna codec (not to
load it and stringprep on a first connection): it must accept, refuse and
return exactly what the codec does, and a first client connection to an ASCII
name must not load the codec."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from siotls.core.config import normalize_server_hostname

NAMES = ["localhost", "LocalHost", "example.org", "a.b.", "a..b", "a" * 63 + ".example",
         "a" * 64 + ".example", "example." + "b" * 63, "example." + "b" * 64, "", ".", "..",
         "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61,
         "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 62, "-x-.example", "a_b.c"]


def by_the_codec(host: str) -> str:
    """The codec's answer, the way normalize_server_hostname reads it."""
    name = host.removesuffix(".")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(str(exc)) from exc
    if not ascii_name or len(ascii_name) > 253:
        raise ValueError("invalid")
    return ascii_name


@pytest.mark.parametrize("host", NAMES)
def test_ascii_names_as_the_idna_codec_takes_them(host: str) -> None:
    try:
        expected = by_the_codec(host)
    except ValueError:
        with pytest.raises(ValueError, match="invalid server_hostname"):
            normalize_server_hostname(host)
    else:
        assert normalize_server_hostname(host) == expected


def test_non_ascii_names_still_go_through_the_codec() -> None:
    assert normalize_server_hostname("bücher.example.") == "xn--bcher-kva.example"
    with pytest.raises(ValueError, match="invalid server_hostname"):
        normalize_server_hostname("bücher..example")


def test_a_client_connection_to_an_ascii_name_does_not_load_the_codec() -> None:
    code = textwrap.dedent("""
        import sys, warnings
        import siotls
        warnings.simplefilter("ignore")
        siotls.TLSConnection(siotls.TLSConfiguration("client", key_exchanges=[29],
                                                            check_hostname=False), "localhost")
        print("encodings.idna" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", code], env=dict(os.environ),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
