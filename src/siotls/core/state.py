r"""The handshake state machine (RFC 8446 appendix A) as two tables.

``TRANSITIONS[side][state][message]`` is the set of states that receiving
``message`` in ``state`` may lead to. A message missing from the table is an
``unexpected_message``; the handler picks the next state among the allowed
ones (for instance a ClientHello leads the server to WAIT_CERT when it asked
for a client certificate, else to WAIT_FINISHED, or back to START after a
HelloRetryRequest). The tables are pure data, tested without any bytes.

Client (A.1)::

                              START <----+
               Send ClientHello |        | Recv HelloRetryRequest
          [K_send = early data] |        |
                                v        |
           /                 WAIT_SH ----+
           |                    | Recv ServerHello
           |                    | K_recv = handshake
       Can |                    V
      send |                 WAIT_EE
     early |                    | Recv EncryptedExtensions
      data |           +--------+--------+
           |     Using |                 | Using certificate
           |       PSK |                 v
           |           |            WAIT_CERT_CR
           |           |        Recv |       | Recv CertificateRequest
           |           | Certificate |       v
           |           |             |    WAIT_CERT
           |           |             |       | Recv Certificate
           |           |             v       v
           |           |              WAIT_CV
           |           |                 | Recv CertificateVerify
           |           +> WAIT_FINISHED <+
           |                  | Recv Finished
           \                  | [Send EndOfEarlyData]
                              | K_send = handshake
                              | [Send Certificate [+ CertificateVerify]]
    Can send                  | Send Finished
    app data   -->            | K_send = K_recv = application
    after here                v
                          CONNECTED

Server (A.2)::

                              START <-----+
               Recv ClientHello |         | Send HelloRetryRequest
                                v         |
                             RECVD_CH ----+
                                | Select parameters
                                v
                             NEGOTIATED
                                | Send ServerHello
                                | K_send = handshake
                                | Send EncryptedExtensions
                                | [Send CertificateRequest]
 Can send                       | [Send Certificate + CertificateVerify]
 app data                       | Send Finished
 after   -->                    | K_send = application
 here                  +--------+--------+
              No 0-RTT |                 | 0-RTT
                       |                 |
   K_recv = handshake  |                 | K_recv = early data
 [Skip decrypt errors] |    +------> WAIT_EOED -+
                       |    |       Recv |      | Recv EndOfEarlyData
                       |    | early data |      | K_recv = handshake
                       |    +------------+      |
                       |                        |
                       +> WAIT_FLIGHT2 <--------+
                                |
                       +--------+--------+
               No auth |                 | Client auth
                       |                 |
                       |                 v
                       |             WAIT_CERT
                       |        Recv |       | Recv Certificate
                       |       empty |       v
                       | Certificate |    WAIT_CV
                       |             |       | Recv
                       |             v       | CertificateVerify
                       +-> WAIT_FINISHED <---+
                                | Recv Finished
                                | K_recv = application
                                v
                            CONNECTED

Wherever a Certificate may arrive during the handshake, a CompressedCertificate
(RFC 8879) may too.

In CONNECTED, post-handshake authentication (RFC 8446 4.6.2) adds the
CertificateRequest (client) and Certificate, CertificateVerify, Finished
(server) as messages that stay in CONNECTED: :mod:`siotls.core.pha` checks that
they were offered and asked for, and their order.

RECVD_CH, NEGOTIATED and WAIT_FLIGHT2 are passed through within the handling
of one ClientHello, so they never wait for a message and are not states here.
WAIT_EOED is the server's state while it reads accepted 0-RTT data
(:mod:`siotls.core.earlydata`); EndOfEarlyData ends it.
"""

from __future__ import annotations

import enum

from siotls.iana import HandshakeType as HT


class State(enum.Enum):
    # The members are singletons compared with ``is``: hash them by identity, in C,
    # rather than with Enum's hash of the name (a Python frame per table lookup).
    __hash__ = object.__hash__

    START = "START"
    WAIT_EOED = "WAIT_EOED"
    WAIT_SH = "WAIT_SH"
    WAIT_EE = "WAIT_EE"
    WAIT_CERT_CR = "WAIT_CERT_CR"
    WAIT_CERT = "WAIT_CERT"
    WAIT_CV = "WAIT_CV"
    WAIT_FINISHED = "WAIT_FINISHED"
    CONNECTED = "CONNECTED"


S = State
CLIENT_TRANSITIONS: dict[State, dict[int, frozenset[State]]] = {
    S.WAIT_SH: {HT.SERVER_HELLO: frozenset({S.WAIT_SH, S.WAIT_EE})},  # WAIT_SH again after HRR
    # WAIT_FINISHED directly when a PSK was accepted
    S.WAIT_EE: {HT.ENCRYPTED_EXTENSIONS: frozenset({S.WAIT_CERT_CR, S.WAIT_FINISHED})},
    S.WAIT_CERT_CR: {
        HT.CERTIFICATE: frozenset({S.WAIT_CV}),
        HT.COMPRESSED_CERTIFICATE: frozenset({S.WAIT_CV}),
        HT.CERTIFICATE_REQUEST: frozenset({S.WAIT_CERT}),
    },
    S.WAIT_CERT: {
        HT.CERTIFICATE: frozenset({S.WAIT_CV}),
        HT.COMPRESSED_CERTIFICATE: frozenset({S.WAIT_CV}),
    },
    S.WAIT_CV: {HT.CERTIFICATE_VERIFY: frozenset({S.WAIT_FINISHED})},
    S.WAIT_FINISHED: {HT.FINISHED: frozenset({S.CONNECTED})},
    S.CONNECTED: {
        HT.NEW_SESSION_TICKET: frozenset({S.CONNECTED}),
        HT.KEY_UPDATE: frozenset({S.CONNECTED}),
        # post-handshake authentication (siotls.core.pha checks it was offered)
        HT.CERTIFICATE_REQUEST: frozenset({S.CONNECTED}),
    },
}

SERVER_TRANSITIONS: dict[State, dict[int, frozenset[State]]] = {
    # START again after a HelloRetryRequest; WAIT_CERT when a certificate was requested.
    # WAIT_EOED when 0-RTT was accepted.
    S.START: {HT.CLIENT_HELLO: frozenset({S.START, S.WAIT_EOED, S.WAIT_CERT, S.WAIT_FINISHED})},
    S.WAIT_EOED: {HT.END_OF_EARLY_DATA: frozenset({S.WAIT_FINISHED})},
    S.WAIT_CERT: {
        HT.CERTIFICATE: frozenset({S.WAIT_CV, S.WAIT_FINISHED}),
        HT.COMPRESSED_CERTIFICATE: frozenset({S.WAIT_CV, S.WAIT_FINISHED}),
    },
    S.WAIT_CV: {HT.CERTIFICATE_VERIFY: frozenset({S.WAIT_FINISHED})},
    S.WAIT_FINISHED: {HT.FINISHED: frozenset({S.CONNECTED})},
    S.CONNECTED: {
        HT.KEY_UPDATE: frozenset({S.CONNECTED}),
        # post-handshake authentication, in this order (siotls.core.pha checks it)
        HT.CERTIFICATE: frozenset({S.CONNECTED}),
        HT.CERTIFICATE_VERIFY: frozenset({S.CONNECTED}),
        HT.FINISHED: frozenset({S.CONNECTED}),
    },
}
del S

TRANSITIONS = {"client": CLIENT_TRANSITIONS, "server": SERVER_TRANSITIONS}
