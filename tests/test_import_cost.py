"""What ``import siotls`` loads: the engine, not what only some connections need.

Each check runs in a fresh interpreter (this test process has imported
everything long ago). The time itself is measured by bench/bench_engine.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TIMEOUT = 60

#: Loaded on demand only: ``cryptography`` (a configuration with keys or a first
#: handshake loads it), logging (only to warn), datetime (certificate validity),
#: ipaddress (a client's first connection checks whether its server is an IP),
#: dataclasses and inspect (siotls.core.dataclasslike: the classes made at import
#: are dataclasses to ``dataclasses`` without loading it), the public modules
#: siotls.crypto and siotls.errors (attributes loaded on first access), the PSK, ticket and session
#: modules (they pull in the message codecs and hmac), a server's chains, the handshake handlers,
#: the key schedule, certificate path validation, and the stdlib's ssl and event loops.
NOT_AT_IMPORT = (
    "cryptography", "siotls.core.crypto", "siotls.core.keyschedule",
    "logging", "hmac", "ssl", "asyncio", "datetime", "dataclasses", "inspect", "ipaddress",
    "siotls.crypto", "siotls.errors",
    "siotls.core.psk", "siotls.core.tickets", "siotls.core.session", "siotls.core.credentials",
    "siotls.core.client", "siotls.core.server", "siotls.core.certificates",
    "siotls.core.pathbuilder", "siotls.core.compression",
)


def run_fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            env=dict(os.environ), capture_output=True, text=True,
                            timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_siotls_loads_only_the_engine() -> None:
    """What ``import siotls`` adds to what the interpreter had loaded (its site
    may have loaded ipaddress or the like already)."""
    out = run_fresh(f"""
        import sys
        before = set(sys.modules)
        import siotls
        print(sorted(m for m in {NOT_AT_IMPORT!r} if m in set(sys.modules) - before))
    """)
    assert out.strip() == "[]"


def test_the_lazy_names_load_on_first_access() -> None:
    out = run_fresh("""
        import sys
        import siotls
        from siotls import ExternalPSK, TicketKeys
        print(siotls.TLSSession.__module__, ExternalPSK.__module__, TicketKeys.__module__,
              siotls.TicketKey.__module__, siotls.CertificateChain.__module__,
              'siotls.core.psk' in sys.modules,
              {'TLSSession', 'TicketKey', 'CertificateChain'} <= set(dir(siotls)))
    """)
    assert out.split() == ["siotls.core.session", "siotls.core.psk", "siotls.core.tickets",
                           "siotls.core.tickets", "siotls.core.credentials", "True", "True"]


def test_the_lazy_modules_load_on_first_access() -> None:
    out = run_fresh("""
        import sys
        import siotls
        from siotls import errors
        print(errors.DecodeError.__module__, siotls.crypto.BACKENDS,
              sys.modules['siotls.errors'] is errors, {'crypto', 'errors'} <= set(dir(siotls)))
    """)
    assert out.split() == ["siotls.core.errors", "('openssl',", "'hacl')", "True", "True"]


#: Not loaded by a first handshake with a TrustStore of our own CA, to an ASCII
#: name: logging (the engine's log lines are on error paths only), the idna
#: codec (ASCII names), the adapters. (certs.py, which makes the CA, imports ssl.)
NOT_AT_FIRST_HANDSHAKE = ("logging", "encodings.idna", "stringprep", "asyncio",
                          "siotls.compat")


def test_trust_and_pem_do_not_load_ssl() -> None:
    """Only siotls.trust's system store asks ssl where the system's CAs are."""
    out = run_fresh("""
        import sys
        import siotls.pem, siotls.trust
        print('ssl' in sys.modules, callable(siotls.trust.get_truststore))
    """)
    assert out.split() == ["False", "True"]


def test_a_first_handshake_loads_only_what_it_needs() -> None:
    out = run_fresh(f"""
        import sys
        import siotls
        from siotls.trust import TrustStore
        sys.path.insert(0, {str(TESTS)!r})
        """ + "\n        ".join(_HANDSHAKE.splitlines()) + f"""
        print(sorted(m for m in {NOT_AT_FIRST_HANDSHAKE!r} if m in sys.modules))
    """)
    assert out.strip() == "[]"


def test_cryptography_loads_on_first_use() -> None:
    """Not at ``import siotls``: a configuration with a key or a first connection
    loads it, and the handshake works."""
    out = run_fresh(f"""
        import sys
        import siotls
        from siotls.trust import TrustStore
        loaded = ['cryptography' in sys.modules]
        sys.path.insert(0, {str(TESTS)!r})
        """ + "\n        ".join(_HANDSHAKE.splitlines()) + """
        loaded.append('cryptography' in sys.modules)
        client.send_data(b'ping')
        server.receive_data(client.data_to_send())
        print(loaded, server.data_to_read())
    """)
    assert out.strip() == "[False, True] b'ping'"


_HANDSHAKE = """\
from certs import make_ca
ca = make_ca()
leaf = ca.issue(('localhost',))
client = siotls.TLSConnection(siotls.TLSConfiguration(
    'client', truststore=TrustStore([ca.cert_der])), 'localhost')
server = siotls.TLSConnection(siotls.TLSConfiguration(
    'server', certificate_chain=leaf.chain_der, private_key=leaf.key_der))
client.initiate_connection()
server.initiate_connection()
for _ in range(4):
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
assert client.is_post_handshake() and server.is_post_handshake()"""
