"""The cost of issue 9's authentication features, in memory (one process, no sockets).

    python bench/bench_certs.py [--rounds N]

* full handshakes (client and server), ECDSA P-256 everywhere: X.509 (the baseline);
  X.509 with a stapled OCSP response the client checks (``ocsp_stapling='require'``);
  raw public keys (RFC 7250) instead of certificates;
* ``siotls.core.ocsp.check_response`` alone;
* one post-handshake client authentication (request, Certificate, CertificateVerify,
  Finished, checked): siotls on both sides, and Python's ``ssl`` (OpenSSL) on both
  sides for comparison.

Medians (and p90) in milliseconds over the rounds, the handshake variants interleaved
(their order rotating round by round).
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
from _common import TMPDIR, _key_usage

# isort: split
import argparse
import datetime
import ssl
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from siotls import TLSConfiguration, TLSConnection
from siotls.core import ocsp, rawkeys
from siotls.trust import TrustStore

NOW = datetime.datetime.now(datetime.UTC)
PEM, DER = serialization.Encoding.PEM, serialization.Encoding.DER
PKCS8, PLAIN = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()


def _cert(subject: str, key: Any, issuer: x509.Certificate | None, issuer_key: Any, *,
          usage: list[Any] | None = None, names: list[str] | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.subject if issuer else name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1))
               .not_valid_after(NOW + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None),
                              critical=True)
               .add_extension(_key_usage(leaf=issuer is not None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage or []), critical=False)
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Setup:
    def __init__(self, directory: str) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert("bench CA", self.ca_key, None, self.ca_key)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = _cert("localhost", self.key, self.ca, self.ca_key,
                          usage=[ExtendedKeyUsageOID.SERVER_AUTH], names=["localhost"])
        self.client_key = ec.generate_private_key(ec.SECP256R1())
        self.client_leaf = _cert("bench client", self.client_key, self.ca, self.ca_key,
                                 usage=[ExtendedKeyUsageOID.CLIENT_AUTH], names=["client"])
        self.ocsp = x509_ocsp.OCSPResponseBuilder().add_response(
            cert=self.leaf, issuer=self.ca, algorithm=hashes.SHA1(),
            cert_status=x509_ocsp.OCSPCertStatus.GOOD, this_update=NOW,
            next_update=NOW + datetime.timedelta(days=1), revocation_time=None,
            revocation_reason=None).responder_id(
            x509_ocsp.OCSPResponderEncoding.HASH, self.ca).sign(
            self.ca_key, hashes.SHA256()).public_bytes(DER)
        self.files: dict[str, str] = {}
        for name, data in (("ca", self.ca.public_bytes(PEM)),
                           ("cert", self.leaf.public_bytes(PEM)),
                           ("key", self.key.private_bytes(PEM, PKCS8, PLAIN)),
                           ("ccert", self.client_leaf.public_bytes(PEM)),
                           ("ckey", self.client_key.private_bytes(PEM, PKCS8, PLAIN))):
            self.files[name] = str(Path(directory, f"{name}.pem"))
            Path(self.files[name]).write_bytes(data)

    def configs(self) -> dict[str, tuple[TLSConfiguration, TLSConfiguration]]:
        truststore = TrustStore([self.ca.public_bytes(DER)])
        key = self.key.private_bytes(DER, PKCS8, PLAIN)
        chain = [self.leaf.public_bytes(DER)]
        server = TLSConfiguration("server", private_key=key, certificate_chain=chain,
                                  ocsp_response=self.ocsp, truststore=truststore)
        return {
            "x509": (TLSConfiguration("client", truststore=truststore), server),
            "x509 + OCSP checked": (TLSConfiguration(
                "client", truststore=truststore, ocsp_stapling="require"), server),
            "raw public key": (TLSConfiguration(
                "client", peer_public_keys=[rawkeys.spki_of(self.key)]),
                TLSConfiguration("server", private_key=key, send_raw_public_key=True)),
        }

    def pha_configs(self) -> tuple[TLSConfiguration, TLSConfiguration]:
        truststore = TrustStore([self.ca.public_bytes(DER)])
        client = TLSConfiguration(
            "client", truststore=truststore, post_handshake_auth=True,
            private_key=self.client_key.private_bytes(DER, PKCS8, PLAIN),
            certificate_chain=[self.client_leaf.public_bytes(DER)])
        return client, self.configs()["x509"][1]


def _pump(client: TLSConnection, server: TLSConnection) -> None:
    for _ in range(10):
        moved = 0
        for sender, receiver in ((client, server), (server, client)):
            data = sender.data_to_send()
            moved += len(data)
            if data:
                receiver.receive_data(data)
        if not moved:
            return


def siotls_handshake(configs: tuple[TLSConfiguration, TLSConfiguration]
                     ) -> tuple[TLSConnection, TLSConnection]:
    client = TLSConnection(configs[0], server_hostname="localhost")
    server = TLSConnection(configs[1])
    client.initiate_connection()
    server.initiate_connection()
    _pump(client, server)
    assert client.is_connected() and server.is_connected()
    return client, server


def siotls_pha(client: TLSConnection, server: TLSConnection) -> None:
    server.request_client_certificate()
    _pump(client, server)
    assert not server.client_certificate_pending and server.nconfig.peer_verified


def ssl_pair(setup: Setup) -> tuple[Any, Any, Callable[[], None]]:
    client_ctx = ssl.create_default_context(cafile=setup.files["ca"])
    client_ctx.load_cert_chain(setup.files["ccert"], setup.files["ckey"])
    client_ctx.post_handshake_auth = True
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(setup.files["cert"], setup.files["key"])
    server_ctx.load_verify_locations(setup.files["ca"])
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.post_handshake_auth = True
    server_ctx.num_tickets = 0
    bios = [ssl.MemoryBIO() for _ in range(4)]
    client = client_ctx.wrap_bio(bios[0], bios[1], server_hostname="localhost")
    server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)

    def pump() -> None:
        for _ in range(10):
            for obj in (client, server):
                try:
                    obj.do_handshake()
                    obj.read(1)
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    pass
            moved = 0
            for source, target in ((bios[1], bios[2]), (bios[3], bios[0])):
                if data := source.read():
                    target.write(data)
                    moved += 1
            if not moved:
                return
    pump()
    return client, server, pump


def ssl_pha(server: Any, pump: Callable[[], None]) -> None:
    server.verify_client_post_handshake()
    server.write(b"x")
    pump()
    assert server.getpeercert(binary_form=True) is not None


def _stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return f"median {statistics.median(ordered) * 1e3:7.3f} ms   p90 {p90 * 1e3:7.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--no-openssl-conf", action="store_true")
    rounds = parser.parse_args().rounds
    setup = Setup(TMPDIR.name)
    configs = setup.configs()
    samples: dict[str, list[float]] = {name: [] for name in configs}
    samples["ocsp.check_response"] = []
    samples["post-handshake auth, siotls"] = []
    samples["post-handshake auth, ssl"] = []
    path = [setup.leaf, setup.ca]
    pha_configs = setup.pha_configs()
    names = list(configs)
    for round_number in range(rounds):
        shift = round_number % len(names)  # each variant in each position, in turn
        for name in names[shift:] + names[:shift]:
            pair = configs[name]
            start = time.perf_counter()
            siotls_handshake(pair)
            samples[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        ocsp.check_response(setup.ocsp, path, NOW)
        samples["ocsp.check_response"].append(time.perf_counter() - start)
        client, server = siotls_handshake(pha_configs)
        start = time.perf_counter()
        siotls_pha(client, server)
        samples["post-handshake auth, siotls"].append(time.perf_counter() - start)
        _, ssl_server, pump = ssl_pair(setup)
        start = time.perf_counter()
        ssl_pha(ssl_server, pump)
        samples["post-handshake auth, ssl"].append(time.perf_counter() - start)
    for name, values in samples.items():
        print(f"{name:30} {_stats(values)}")


if __name__ == "__main__":
    main()
