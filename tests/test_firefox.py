"""A second real browser: headless Firefox ESR (NSS) loads a page from a siotls server.

Firefox key-shares X25519MLKEM768 and x25519 (and secp256r1), offers record_size_limit
and certificate compression with zlib, brotli and zstd: the server must answer on
X25519MLKEM768 without a HelloRetryRequest, compress its Certificate, and honour
Firefox's record size limit. The test CA is trusted through the profile's own NSS
database (``certutil``). ``--screenshot`` loads the page (and the script it
references, a second TLS connection) and exits. Skipped without ``firefox-esr``
(Debian: firefox-esr) or ``certutil`` (libnss3-tools). Loopback only; Firefox runs
under a timeout, in its own process group, killed at the end.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs import make_ca
from siotls.iana import NamedGroup
from test_browser import PageServer, run_browser, serving_pages, trust_ca_in_nss

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
CERTUTIL = shutil.which("certutil")
FIREFOX_TIMEOUT = 90.0

pytestmark = [
    pytest.mark.skipif(FIREFOX is None, reason="needs firefox-esr (Debian: firefox-esr)"),
    pytest.mark.skipif(CERTUTIL is None, reason="needs certutil (Debian: libnss3-tools)"),
]

#: Quiet, offline-minded prefs for a throwaway profile.
USER_JS = """\
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.update.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disableIPv6", true);
user_pref("network.http.http3.enable", false);
user_pref("network.proxy.type", 0);
user_pref("security.OCSP.enabled", 0);
user_pref("security.remote_settings.crlite_filters.enabled", false);
user_pref("services.settings.server", "http://127.0.0.1:1/");
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("network.dns.localDomains", "localhost");
"""


@pytest.fixture
def server() -> Iterator[PageServer]:
    with serving_pages() as page_server:
        yield page_server


def run_firefox(home: Path, ca_file: Path, url: str) -> str:
    """``firefox --headless --screenshot url`` in a fresh profile trusting ``ca_file``."""
    assert FIREFOX is not None
    profile = home / "profile"
    profile.mkdir()
    (profile / "user.js").write_text(USER_JS)
    # Firefox's certificate database is the profile directory itself.
    nss_home = home / "nss"
    trust_ca_in_nss(nss_home, ca_file)
    for name in ("cert9.db", "key4.db", "pkcs11.txt"):
        source = nss_home / ".pki" / "nssdb" / name
        if source.exists():
            shutil.copy(source, profile / name)
    screenshot = home / "shot.png"
    command = [FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
               "--screenshot", str(screenshot), url]
    returncode, output, _ = run_browser(command, FIREFOX_TIMEOUT, merge_stderr=True,
                                        HOME=str(home), MOZ_CRASHREPORTER_DISABLE="1",
                                        MOZ_HEADLESS="1")
    text = output.decode(errors="replace")
    assert screenshot.exists(), f"firefox made no screenshot (exit {returncode}):\n{text}"
    return text


def test_firefox_loads_a_page_on_x25519mlkem768(server: PageServer, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(make_ca().cert_pem)  # the server's CA (make_ca() is cached)
    output = run_firefox(tmp_path, ca_file, f"https://localhost:{server.port}/")
    requests = [exchange.request_line for exchange in server.exchanges]
    assert "GET / HTTP/1.1" in requests, (requests, output)
    assert "GET /app.js HTTP/1.1" in requests, (requests, output)
    for exchange in server.exchanges:
        nconfig = exchange.nconfig
        assert nconfig.key_exchange == NamedGroup.X25519MLKEM768
        assert not nconfig.hello_retry_request
        assert nconfig.server_name == "localhost"
        assert nconfig.alpn == b"http/1.1"
        # NSS sends record_size_limit (16385) and compress_certificate.
        assert nconfig.peer_record_size_limit == 16385
        # NSS may resume a later connection with a ticket (psk_dhe_ke): no Certificate
        assert nconfig.certificate_compression in (
            (None,) if nconfig.session_resumed else ("brotli", "zstd", "zlib"))
