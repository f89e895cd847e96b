"""The command line's certificate options (issue 9), as subprocesses on loopback:
several chains, --sni and --strict-sni, --cafile with --verify-client
required|optional|post-handshake and GET /whoami, --ocsp-response and --status,
--pha, --rpk and --server-pubkey. Peers: the siotls CLI itself and ``openssl
s_client``."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from certs import Leaf, _key_pem, generate_key, make_ca, write_pem_files
from ocsp_responses import ocsp_response
from openssl_peer import PeerProcess, requires_openssl, s_client, s_server
from test_cli import CLI, ENV, TIMEOUT, ServerProcess, assert_one_line_error, run, stderr_of

pytestmark = pytest.mark.timeout(120)

WHOAMI = b"GET /whoami HTTP/1.0\r\n\r\n"


class PKI:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ca = make_ca(name="siotls CLI certs CA")
        self.ecdsa = self.ca.issue(("localhost", "127.0.0.1"))
        self.rsa = self.ca.issue(("localhost", "127.0.0.1"), key_type="rsa-2048")
        self.named = self.ca.issue(("a.test",))
        self.wildcard = self.ca.issue(("*.b.test",))
        self.client = self.ca.issue(("cli client",), client=True)
        self.files: dict[str, tuple[Path, Path]] = {}
        for name in ("ecdsa", "rsa", "named", "wildcard", "client"):
            leaf: Leaf = getattr(self, name)
            directory = tmp / name
            directory.mkdir()
            cert, key, self.ca_file = write_pem_files(directory, leaf, self.ca)
            self.files[name] = (cert, key)
        rpk = generate_key("ed25519")
        self.rpk_key = tmp / "rpk.key"
        self.rpk_key.write_bytes(_key_pem(rpk))
        self.rpk_pub = tmp / "rpk.pub"
        self.rpk_pub.write_bytes(rpk.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        self.other_pub = tmp / "other.pub"
        self.other_pub.write_bytes(generate_key("ed25519").public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def pair(self, name: str) -> list[str | Path]:
        cert, key = self.files[name]
        return ["--tlscert", cert, "--tlskey", key]

    def ocsp(self, status: str) -> Path:
        path = self.tmp / f"ocsp-{status}.der"
        path.write_bytes(ocsp_response(self.ecdsa, status=status, issuer=self.ca))  # type: ignore[arg-type]
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("cli-certs"))


@contextlib.contextmanager
def server(*args: str | Path) -> Iterator[tuple[ServerProcess, int]]:
    proc = ServerProcess(["--host", "127.0.0.1", "--port", "0", *args])
    try:
        match = proc.wait_for_line(r"listening on \S*:(\d+)")
        yield proc, int(match.group(1))
    finally:
        proc.stop()


def client(port: int, *args: str | Path, stdin: bytes = b"", servername: str = "localhost"
           ) -> tuple[int, str, str]:
    result = run("client", "--host", "127.0.0.1", "--port", str(port), "--servername",
                 servername, *args, stdin=stdin)
    return result.returncode, result.stdout.decode(errors="replace"), stderr_of(result)


def subject_cn(stderr: str) -> str:
    match = re.search(r"server certificate subject: CN=([^,\n]+)", stderr)
    assert match, stderr
    return match.group(1)


# -- chains ----------------------------------------------------------------------------


def test_sni_exact_and_wildcard(pki: PKI) -> None:
    with server(*pki.pair("ecdsa"), "--sni", f"a.test={pki.files['named'][0]},"
                f"{pki.files['named'][1]}", "--sni",
                f"*.b.test={pki.files['wildcard'][0]},{pki.files['wildcard'][1]}") as (_, port):
        for name, cn in (("a.test", "a.test"), ("x.b.test", r"\*.b.test"),
                         ("localhost", "localhost")):
            code, _, stderr = client(port, "--cafile", pki.ca_file, "--http", "-v",
                                     servername=name)
            assert code == 0, stderr
            assert re.fullmatch(cn, subject_cn(stderr)), stderr


def test_strict_sni(pki: PKI) -> None:
    with server(*pki.pair("ecdsa"), "--strict-sni") as (_, port):
        code, _, stderr = client(port, "--cafile", pki.ca_file, "--http",
                                 servername="unknown.test")
        assert code == 4, stderr
        assert "unrecognized_name" in stderr
        code, _, stderr = client(port, "--cafile", pki.ca_file, "--http")
        assert code == 0, stderr


@requires_openssl
@pytest.mark.parametrize(("sigalgs", "cn_key"), [("ECDSA+SHA256", "ecdsa"),
                                                 ("rsa_pss_rsae_sha256", "rsa")])
def test_several_chains_by_signature_algorithms(pki: PKI, sigalgs: str, cn_key: str) -> None:
    with server(*pki.pair("ecdsa"), *pki.pair("rsa")) as (_, port), \
            s_client(port, "-CAfile", pki.ca_file, "-sigalgs", sigalgs, "-servername",
                     "localhost") as proc:
        proc.wait_for(rb"Verify return code: 0 \(ok\)")
        key_line = rb"Server public key is 256 bit" if cn_key == "ecdsa" \
            else rb"Server public key is 2048 bit"
        proc.wait_for(key_line)


# -- client certificates ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["required", "optional"])
def test_verify_client_and_whoami(pki: PKI, mode: str) -> None:
    cert, key = pki.files["client"]
    with server(*pki.pair("ecdsa"), "--cafile", pki.ca_file, "--verify-client",
                mode) as (_, port):
        code, stdout, stderr = client(port, "--cafile", pki.ca_file, "--cert", cert,
                                      "--key", key, stdin=WHOAMI)
        assert code == 0, stderr
        assert "CN=cli client" in stdout
        code, stdout, stderr = client(port, "--cafile", pki.ca_file, stdin=WHOAMI)
        if mode == "required":
            assert code == 4, stderr
            assert "certificate_required" in stderr
        else:
            assert code == 0, stderr
            assert stdout.rstrip().endswith("no certificate")


def _interactive_client(port: int, pki: PKI, *args: str | Path) -> PeerProcess:
    return PeerProcess([*CLI, "client", "--host", "127.0.0.1", "--port", str(port),
                        "--servername", "localhost", "--cafile", pki.ca_file, *map(str, args)],
                       env=ENV)


def test_post_handshake_whoami(pki: PKI) -> None:
    """GET /whoami asks a client that offered post_handshake_auth (--pha) for its certificate."""
    cert, key = pki.files["client"]
    with server(*pki.pair("ecdsa"), "--cafile", pki.ca_file, "--verify-client",
                "post-handshake", "-v") as (proc, port):
        pha = _interactive_client(port, pki, "--cert", cert, "--key", key, "--pha")
        try:
            pha.write(WHOAMI)  # stdin stays open: the client can still answer
            pha.wait_for(b"CN=cli client")
            assert pha.wait(TIMEOUT) == 0
        finally:
            pha.stop()
        proc.wait_for_line(r"GET /whoami -> 200")
        # a client without --pha is not asked: no certificate
        code, stdout, stderr = client(port, "--cafile", pki.ca_file, "--cert", cert,
                                      "--key", key, stdin=WHOAMI)
        assert code == 0, stderr
        assert stdout.rstrip().endswith("no certificate")


@requires_openssl
def test_post_handshake_whoami_openssl_enable_pha(pki: PKI) -> None:
    cert, key = pki.files["client"]
    with server(*pki.pair("ecdsa"), "--cafile", pki.ca_file, "--verify-client",
                "post-handshake") as (_, port), \
            s_client(port, "-CAfile", pki.ca_file, "-servername", "localhost", "-enable_pha",
                     "-cert", cert, "-key", key) as proc:
        proc.wait_for(rb"Verify return code: 0 \(ok\)")
        proc.write(WHOAMI)
        proc.wait_for(b"CN=cli client")


# -- OCSP ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["good", "revoked", None])
def test_status(pki: PKI, status: str | None) -> None:
    ocsp = ["--ocsp-response", pki.ocsp(status)] if status else []
    with server(*pki.pair("ecdsa"), *ocsp) as (_, port):
        code, _, stderr = client(port, "--cafile", pki.ca_file, "--http", "--status", "-v")
        assert code == 0, stderr
        assert f"siotls: OCSP response: {status or 'none'}" in stderr


@requires_openssl
def test_status_openssl_s_client(pki: PKI) -> None:
    with server(*pki.pair("ecdsa"), "--ocsp-response", pki.ocsp("good")) as (_, port), \
            s_client(port, "-CAfile", pki.ca_file, "-status", "-servername", "localhost") as proc:
        proc.wait_for(rb"OCSP Response Status: successful")
        proc.wait_for(rb"Cert Status: good")


# -- raw public keys ----------------------------------------------------------------------


def test_raw_public_key(pki: PKI) -> None:
    with server("--tlskey", pki.rpk_key, "--rpk") as (_, port):
        code, stdout, stderr = client(port, "--server-pubkey", pki.rpk_pub, "--http", "-v")
        assert code == 0, stderr
        assert "server raw public key: sha256:" in stderr
        assert "Hello from siotls" in stdout
        code, _, stderr = client(port, "--server-pubkey", pki.other_pub, "--http")
        assert code == 4, stderr
        assert "certificate_unknown" in stderr
    # a server with a certificate that also allows its raw key, a client that accepts both
    with server(*pki.pair("ecdsa"), "--rpk") as (_, port):
        code, _, stderr = client(port, "--cafile", pki.ca_file, "--http", "-v")
        assert code == 0, stderr
        assert subject_cn(stderr) == "localhost"


# -- usage errors ----------------------------------------------------------------------------


def test_usage_errors(pki: PKI) -> None:
    cert, key = pki.files["ecdsa"]
    assert_one_line_error(run("server", "--tlscert", cert, "--tlskey", key, "--tlscert", cert),
                          "--tlscert and --tlskey go in pairs", 2)
    assert_one_line_error(run("server", "--tlscert", cert, "--tlskey", key, "--verify-client",
                              "optional"), "--verify-client needs --cafile", 2)
    result = run("server", "--tlscert", cert, "--tlskey", key, "--sni", "a.test")
    assert result.returncode == 2
    assert "argument --sni: expected NAME=CERTFILE,KEYFILE" in stderr_of(result)
    assert_one_line_error(run("client", "--host", "127.0.0.1", "--port", "1", "--pha"),
                          "--pha needs --cert", 2)
    assert_one_line_error(run("client", "--host", "127.0.0.1", "--port", "1",
                              "--server-pubkey", cert), "bad PEM public key", 2)
    assert_one_line_error(run("server", "--tlscert", cert, "--tlskey", key, "--ocsp-response",
                              cert), "OCSP", 2)


@requires_openssl
def test_status_against_openssl_s_server(pki: PKI) -> None:
    """``siotls client --status -v`` reports what ``openssl s_server -status_file`` staples."""
    cert, key = pki.files["ecdsa"]
    with s_server(cert, key, "-status_file", pki.ocsp("revoked"), "-www") as (_, port):
        code, _, stderr = client(port, "--cafile", pki.ca_file, "--http", "--status", "-v")
        assert code == 0, stderr
        assert "siotls: OCSP response: revoked" in stderr
