"""``import siotls`` then ``siotls.anyio`` & co: the adapters load on first access (PEP 562).

Each check runs in a fresh interpreter (a subprocess), since this test process
has long imported every framework.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import siotls

TESTS = Path(__file__).resolve().parent
TIMEOUT = 60
ADAPTERS = ("anyio", "asyncio", "compat", "httpx", "trio")
FRAMEWORKS = ("asyncio", "trio", "anyio", "httpx", "httpcore", "ssl")


def run_fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (tests/ importable); return its stdout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS), *filter(None, [env.get("PYTHONPATH")])])
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_siotls_imports_no_framework() -> None:
    out = run_fresh(f"""
        import sys
        import siotls
        print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))
        print(sorted(m for m in {ADAPTERS!r} if 'siotls.' + m in sys.modules))
    """)
    assert out.splitlines() == ["[]", "[]"]


@pytest.mark.parametrize("name", ADAPTERS)
def test_each_adapter_loads_on_first_access(name: str) -> None:
    out = run_fresh(f"""
        import sys
        import siotls
        module = siotls.{name}
        print(module.__name__, module is sys.modules['siotls.{name}'])
        print('{name}' in siotls.__all__, '{name}' in dir(siotls))
    """)
    assert out.splitlines() == [f"siotls.{name} True", "True True"]


def test_unknown_attribute_is_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        siotls.nope  # type: ignore[attr-defined]  # noqa: B018


def test_the_one_liner_after_plain_import_siotls() -> None:
    """``await siotls.anyio.connect(...)`` with nothing imported but ``siotls``."""
    out = run_fresh("""
        import siotls  # nothing else from siotls is imported
        import anyio
        from certs import make_ca
        from helpers import client_config, server_config

        ca = make_ca()
        sconf, cconf = server_config(ca.issue()), client_config(ca)

        async def handle(stream):
            async with stream:
                await stream.send(b"echo: " + await stream.receive())

        async def main():
            server = await siotls.asyncio.start_server(  # another lazy one
                lambda r, w: None, "127.0.0.1", 0, config=sconf)
            server.close()
            listener = await siotls.anyio.create_tls_listener(
                sconf, local_host="127.0.0.1")
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, handle)
                with anyio.fail_after(20):
                    stream = await siotls.anyio.connect(
                        "127.0.0.1", port, config=cconf, server_hostname="localhost")
                    async with stream:
                        await stream.send(b"hello")
                        print((await stream.receive()).decode())
                tg.cancel_scope.cancel()

        anyio.run(main)
    """)
    assert out == "echo: hello\n"
