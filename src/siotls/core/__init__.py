"""The sans-IO TLS 1.3 engine. It imports no socket, asyncio, trio or anyio.

Where to look:

=================  ==============================================================
connection.py      TLSConnection: the public object, drives everything below
lifecycle.py       the connection's lifecycle: sending/receiving/failed, and its guard
state.py           the handshake state machine (RFC 8446 appendix A) as tables
client.py          client handshake handlers
server.py          server handshake handlers
handshake.py       what both sides share: dispatch, Certificate (compressed or not),
                   CertificateVerify, Finished, KeyUpdate
negotiation.py     pure selection rules (suite, group, signature scheme, ALPN)
record.py          the record layer: framing, AEAD protection, padding, record_size_limit
keyschedule.py     HKDF, the key schedule and the transcript hash
psk.py             pre_shared_key and binders; which PSK a client offers and a server takes
tickets.py         stateless session tickets: ticket keys, sealing, NewSessionTicket
session.py         TLSSession: a client's ticket, serializable, to resume with
earlydata.py       0-RTT: who sends and takes early data, anti-replay, the pause point
messages.py        handshake message codecs
extensions.py      extension codecs
codec.py           the cursor Reader/Writer
crypto.py          every call into ``cryptography`` (ECDHE and the ML-KEM hybrids too),
                   or into backend_hacl.py when installed
backend_hacl.py    the ``hacl`` crypto backend: every call into ``pyhacl`` (HACL*)
compression.py     certificate compression (RFC 8879): zlib, brotli, zstd, bounded
certificates.py    X.509 path validation: verify_chain, reason codes (``cryptography``)
pathbuilder.py     path validation for CA keys the web PKI refuses (Ed25519, Ed448, PSS)
verifycache.py     a trust store's recent successful chain verifications (bounded)
credentials.py     our chains (CertificateChain), parsed once; which one a handshake sends
prepared.py        what a configuration's handshakes share, computed once: ClientHello
                   extensions, our Certificate messages, the chains
ocsp.py            OCSP stapling: status_request, checking a stapled response
pha.py             post-handshake client authentication (RFC 8446 4.6.2)
rawkeys.py         raw public keys (RFC 7250): certificate types, bare keys
config.py          TLSConfiguration
negotiated.py      TLSNegotiatedConfiguration (``conn.nconfig``)
dataclasslike.py   Record, FrozenRecord: dataclasses without importing ``dataclasses``
provider.py        the default randomness, clock and ephemeral keys (injectable)
errors.py          TLSError and one exception per alert
=================  ==============================================================
"""

from siotls.core.config import InsecureWarning, TLSConfiguration, TLSNegotiatedConfiguration
from siotls.core.connection import TLSConnection

__all__ = ["InsecureWarning", "TLSConfiguration", "TLSConnection", "TLSNegotiatedConfiguration"]
