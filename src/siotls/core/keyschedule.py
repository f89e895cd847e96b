"""The TLS 1.3 key schedule (RFC 8446 section 7.1) and the transcript hash (4.4.1).

::

                 0
                 |
                 v
   PSK ->  HKDF-Extract = Early Secret
                 |
                 +-----> Derive-Secret(., "ext binder" | "res binder", "")
                 +-----> Derive-Secret(., "e exp master", ClientHello)
                 v
           Derive-Secret(., "derived", "")
                 |
                 v
   (EC)DHE -> HKDF-Extract = Handshake Secret
                 |
                 +-----> Derive-Secret(., "c hs traffic", ClientHello...ServerHello)
                 +-----> Derive-Secret(., "s hs traffic", ClientHello...ServerHello)
                 v
           Derive-Secret(., "derived", "")
                 |
                 v
      0 -> HKDF-Extract = Master Secret
                 |
                 +-----> Derive-Secret(., "c ap traffic", ClientHello...server Finished)
                 +-----> Derive-Secret(., "s ap traffic", ClientHello...server Finished)
                 +-----> Derive-Secret(., "exp master", ClientHello...server Finished)
                 +-----> Derive-Secret(., "res master", ClientHello...client Finished)

:class:`KeySchedule` walks this ladder; the connection feeds it every handshake
message through :meth:`KeySchedule.update` (the transcript) and reads the
secrets out as the handshake reaches them. Record protection itself is the
record layer's business: this module only hands it secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from siotls.core import crypto
from siotls.core.crypto import CipherSuite
from siotls.core.errors import InternalError
from siotls.iana import HandshakeType

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes


def hkdf_expand_label(suite: CipherSuite, secret: bytes, label: bytes, context: bytes,
                      length: int) -> bytes:
    """HKDF-Expand-Label (RFC 8446 section 7.1).

    struct {
        uint16 length = Length;
        opaque label<7..255> = "tls13 " + Label;
        opaque context<0..255> = Context;
    } HkdfLabel;
    """
    prefix = _LABEL_PREFIXES.get((label, length))
    if prefix is None:
        full_label = b"tls13 " + label
        prefix = length.to_bytes(2, "big") + len(full_label).to_bytes(1, "big") + full_label
        if len(_LABEL_PREFIXES) < 256:  # the RFC's labels; exporter labels may vary
            _LABEL_PREFIXES[label, length] = prefix
    return crypto.hkdf_expand(suite.hash, secret, prefix + _CONTEXT_LENGTHS[len(context)]
                              + context, length)


#: The (public) front of HkdfLabel per (label, length): the same few on every handshake.
_LABEL_PREFIXES: dict[tuple[bytes, int], bytes] = {}
#: ``opaque context<0..255>``'s one-byte length (a longer context is a bug of ours:
#: contexts are hashes, or a ticket nonce, which the codec bounds to 255).
_CONTEXT_LENGTHS = tuple(bytes((n,)) for n in range(256))


#: Per cipher suite code: Transcript-Hash("") and the Early Secret without a
#: PSK, HKDF-Extract(0, 0). Both are public constants.
_EMPTY_HASHES: dict[int, bytes] = {}
_EARLY_SECRETS_WITHOUT_PSK: dict[int, bytes] = {}
#: Per cipher suite code: Derive-Secret(Early Secret without a PSK, "derived", ""),
#: the salt of every PSK-less handshake secret (public too).
_DERIVED_WITHOUT_PSK: dict[int, bytes] = {}


def empty_hash(suite: CipherSuite) -> bytes:
    """Transcript-Hash("") of ``suite``'s hash (a constant)."""
    digest = _EMPTY_HASHES.get(suite.code)
    if digest is None:
        digest = _EMPTY_HASHES[suite.code] = crypto.new_hash(suite.hash).finalize()
    return digest


def _early_secret_without_psk(suite: CipherSuite) -> bytes:
    secret = _EARLY_SECRETS_WITHOUT_PSK.get(suite.code)
    if secret is None:
        secret = crypto.hkdf_extract(suite.hash, b"", bytes(suite.hash_length))
        _EARLY_SECRETS_WITHOUT_PSK[suite.code] = secret
    return secret


def _info(label: bytes, length: int) -> bytes:
    """HkdfLabel with an empty context: the same bytes for every secret."""
    full_label = b"tls13 " + label
    return length.to_bytes(2, "big") + bytes((len(full_label),)) + full_label + b"\x00"


#: Per suite code: the HkdfLabels of "key" and "iv", and of "finished" (RFC 8446 7.3
#: and 4.4.4), whose contexts are empty: computed once, they go to HKDF-Expand as they are.
_TRAFFIC_INFOS: dict[int, tuple[bytes, bytes]] = {}
_FINISHED_INFOS: dict[int, bytes] = {}


def traffic_keys(suite: CipherSuite, secret: bytes) -> tuple[bytes, bytes]:
    """(write_key, write_iv) for a traffic secret (RFC 8446 section 7.3)."""
    infos = _TRAFFIC_INFOS.get(suite.code)
    if infos is None:
        infos = _TRAFFIC_INFOS[suite.code] = (_info(b"key", suite.key_length), _info(b"iv", 12))
    return (crypto.hkdf_expand(suite.hash, secret, infos[0], suite.key_length),
            crypto.hkdf_expand(suite.hash, secret, infos[1], 12))


def next_traffic_secret(suite: CipherSuite, secret: bytes) -> bytes:
    """application_traffic_secret_N+1 (RFC 8446 section 7.2)."""
    return hkdf_expand_label(suite, secret, b"traffic upd", b"", suite.hash_length)


def finished_verify_data(suite: CipherSuite, base_key: bytes, transcript_hash: bytes) -> bytes:
    """Finished.verify_data (RFC 8446 section 4.4.4)."""
    info = _FINISHED_INFOS.get(suite.code)
    if info is None:
        info = _FINISHED_INFOS[suite.code] = _info(b"finished", suite.hash_length)
    finished_key = crypto.hkdf_expand(suite.hash, base_key, info, suite.hash_length)
    return crypto.hmac_sha(suite.hash, finished_key, transcript_hash)


class _LadderInfos:
    """Per suite: the HkdfLabels of the ladder's Derive-Secrets, up to the context.

    Derive-Secret(S, label, messages) is HKDF-Expand-Label(S, label,
    Transcript-Hash(messages), Hash.length): every HkdfLabel but its last
    ``Hash.length`` bytes is a constant per suite, here with the context's length
    byte; ``derived`` is whole (its context is Transcript-Hash(""), a constant too).
    The key schedule concatenates the transcript hash and calls HKDF-Expand, what
    :func:`hkdf_expand_label` does per call after a lookup by (label, length).
    """

    __slots__ = ("c_ap", "c_hs", "derived", "exp", "finished", "res", "s_ap", "s_hs")

    def __init__(self, suite: CipherSuite) -> None:
        n = suite.hash_length

        def front(label: bytes) -> bytes:
            full_label = b"tls13 " + label
            return n.to_bytes(2, "big") + bytes((len(full_label),)) + full_label + bytes((n,))

        self.c_hs, self.s_hs = front(b"c hs traffic"), front(b"s hs traffic")
        self.c_ap, self.s_ap = front(b"c ap traffic"), front(b"s ap traffic")
        self.exp, self.res = front(b"exp master"), front(b"res master")
        self.derived = front(b"derived") + empty_hash(suite)
        #: finished_key's HkdfLabel (RFC 8446 4.4.4), as :func:`finished_verify_data`'s
        self.finished = _info(b"finished", n)


_LADDER_INFOS: dict[int, _LadderInfos] = {}


class KeySchedule:
    """The secrets of one connection, and its running transcript hash."""

    __slots__ = (
        "_digest", "_infos", "_transcript", "client_application_traffic_secret",
        "client_early_traffic_secret", "client_handshake_traffic_secret",
        "early_exporter_master_secret", "early_secret",
        "exporter_master_secret", "handshake_secret", "master_secret",
        "resumption_master_secret", "server_application_traffic_secret",
        "server_handshake_traffic_secret", "suite")

    def __init__(self, suite: CipherSuite, psk: bytes | None = None) -> None:
        self.suite = suite
        infos = _LADDER_INFOS.get(suite.code)
        if infos is None:
            infos = _LADDER_INFOS[suite.code] = _LadderInfos(suite)
        self._infos = infos
        self._transcript: hashes.HashContext | None = crypto.new_hash(suite.hash)
        #: Transcript-Hash of the messages so far, once asked (reset by each update).
        self._digest: bytes | None = None
        # Without a PSK the early secret is HKDF-Extract(0, 0), a constant.
        self.early_secret = (_early_secret_without_psk(suite) if psk is None
                             else crypto.hkdf_extract(suite.hash, b"", psk))
        self.handshake_secret = b""
        self.master_secret = b""
        self.client_handshake_traffic_secret = b""
        self.server_handshake_traffic_secret = b""
        self.client_application_traffic_secret = b""
        self.server_application_traffic_secret = b""
        self.exporter_master_secret = b""
        self.resumption_master_secret = b""
        self.early_exporter_master_secret = b""
        self.client_early_traffic_secret = b""

    # -- transcript ------------------------------------------------------------
    def use_psk(self, psk: bytes) -> None:
        """Start the ladder from ``psk`` (before :meth:`enter_handshake`)."""
        self.early_secret = crypto.hkdf_extract(self.suite.hash, b"", psk)

    def binder_key(self, external: bool) -> bytes:
        """binder_key of the current early secret (RFC 8446 section 7.1)."""
        label = b"ext binder" if external else b"res binder"
        return self.derive_secret(self.early_secret, label, self._empty_hash())

    def _running(self) -> hashes.HashContext:
        if self._transcript is None:  # pragma: no cover (a bug of ours)
            raise InternalError("the transcript was dropped after the handshake")
        return self._transcript

    def update(self, message: bytes | bytearray | memoryview) -> None:
        """Add a whole handshake message (header included) to the transcript."""
        transcript = self._transcript
        if transcript is None:  # pragma: no cover (a bug of ours)
            raise InternalError("the transcript was dropped after the handshake")
        transcript.update(message)
        self._digest = None

    def transcript_hash(self) -> bytes:
        """Transcript-Hash of the messages so far (computed once between updates:
        a side's Finished and the next secrets often hash the same messages)."""
        digest = self._digest
        if digest is None:
            transcript = self._transcript  # _running(), inlined: ~5 calls per side
            if transcript is None:  # pragma: no cover (a bug of ours)
                raise InternalError("the transcript was dropped after the handshake")
            digest = self._digest = transcript.copy().finalize()
        return digest

    def fork_transcript(self) -> hashes.HashContext:
        """A copy of the running transcript, to go on separately (post-handshake auth)."""
        return self._running().copy()

    def forget_transcript(self) -> None:
        """Once CONNECTED, when no post-handshake authentication can fork it."""
        self._transcript = self._digest = None

    def transcript_hash_with(self, extra: bytes | memoryview) -> bytes:
        """The transcript hash as if ``extra`` were added (a PSK binder's input)."""
        transcript = self._running().copy()
        transcript.update(extra)
        return transcript.finalize()

    def restart_after_hello_retry(self) -> None:
        """Replace ClientHello1 by a synthetic message_hash (RFC 8446 section 4.4.1).

        Called after ClientHello1 was added and before HelloRetryRequest is.
        """
        digest = self.transcript_hash()
        self._transcript = crypto.new_hash(self.suite.hash)
        self.update(bytes((HandshakeType.MESSAGE_HASH, 0, 0, len(digest))) + digest)

    # -- the ladder -------------------------------------------------------------
    def derive_secret(self, secret: bytes, label: bytes, transcript_hash: bytes | None = None
                      ) -> bytes:
        if transcript_hash is None:
            transcript_hash = self.transcript_hash()
        return hkdf_expand_label(self.suite, secret, label, transcript_hash,
                                 self.suite.hash_length)

    def _empty_hash(self) -> bytes:
        return empty_hash(self.suite)

    def enter_handshake(self, shared_secret: bytes | None) -> None:
        """After ServerHello: derive the handshake traffic secrets.

        ``shared_secret`` is the (EC)DHE secret, ``None`` in psk_ke mode (zeros then).
        """
        if shared_secret is None:
            shared_secret = bytes(self.suite.hash_length)
        derived = self._derived_from_early_secret()
        self.handshake_secret = crypto.hkdf_extract(self.suite.hash, derived, shared_secret)
        th, secret, infos = self.transcript_hash(), self.handshake_secret, self._infos
        algorithm, n = self.suite.hash, self.suite.hash_length
        # Derive-Secret(., "c hs traffic" / "s hs traffic", ClientHello...ServerHello)
        self.client_handshake_traffic_secret = crypto.hkdf_expand(
            algorithm, secret, infos.c_hs + th, n)
        self.server_handshake_traffic_secret = crypto.hkdf_expand(
            algorithm, secret, infos.s_hs + th, n)

    def _derived_from_early_secret(self) -> bytes:
        """Derive-Secret(Early Secret, "derived", ""): a constant per suite without a PSK."""
        suite = self.suite
        # The constant's very object unless use_psk() replaced it: an identity test,
        # no comparison of secret bytes.
        if self.early_secret is not _early_secret_without_psk(suite):
            return self.derive_secret(self.early_secret, b"derived", self._empty_hash())
        derived = _DERIVED_WITHOUT_PSK.get(suite.code)
        if derived is None:
            derived = _DERIVED_WITHOUT_PSK[suite.code] = self.derive_secret(
                self.early_secret, b"derived", self._empty_hash())
        return derived

    def enter_application(self) -> None:
        """After the server Finished: derive the application traffic secrets."""
        infos, algorithm, n = self._infos, self.suite.hash, self.suite.hash_length
        # Derive-Secret(Handshake Secret, "derived", "")
        derived = crypto.hkdf_expand(algorithm, self.handshake_secret, infos.derived, n)
        self.master_secret = secret = crypto.hkdf_extract(algorithm, derived, bytes(n))
        th = self.transcript_hash()
        # Derive-Secret(., "c ap traffic" / "s ap traffic" / "exp master",
        #               ClientHello...server Finished)
        self.client_application_traffic_secret = crypto.hkdf_expand(
            algorithm, secret, infos.c_ap + th, n)
        self.server_application_traffic_secret = crypto.hkdf_expand(
            algorithm, secret, infos.s_ap + th, n)
        self.exporter_master_secret = crypto.hkdf_expand(algorithm, secret, infos.exp + th, n)

    def enter_resumption(self) -> None:
        """After the client Finished: derive the resumption master secret,
        Derive-Secret(., "res master", ClientHello...client Finished)."""
        self.resumption_master_secret = crypto.hkdf_expand(
            self.suite.hash, self.master_secret, self._infos.res + self.transcript_hash(),
            self.suite.hash_length)

    def forget_handshake_secrets(self) -> None:
        """Once CONNECTED: drop the secrets only the handshake uses.

        What stays: the application traffic secrets (KeyUpdate, and post-handshake
        authentication's Finished), the exporter secrets and the resumption master
        secret (NewSessionTicket, either side).
        """
        self.early_secret = self.handshake_secret = self.master_secret = b""
        self.client_handshake_traffic_secret = self.server_handshake_traffic_secret = b""
        self.client_early_traffic_secret = b""

    def resumption_psk(self, ticket_nonce: bytes) -> bytes:
        return hkdf_expand_label(self.suite, self.resumption_master_secret, b"resumption",
                                 ticket_nonce, self.suite.hash_length)

    def finished(self, base_key: bytes) -> bytes:
        """verify_data over the current transcript with ``base_key``'s finished_key."""
        # finished_verify_data() with the suite's HkdfLabel at hand (no lookup)
        suite = self.suite
        finished_key = crypto.hkdf_expand(suite.hash, base_key, self._infos.finished,
                                          suite.hash_length)
        return crypto.hmac_sha(suite.hash, finished_key, self.transcript_hash())

    def enter_early(self) -> None:
        """With the PSK in place and the first ClientHello added: the early exporter
        and the client's early traffic secret (0-RTT)."""
        th = self.transcript_hash()
        self.early_exporter_master_secret = self.derive_secret(
            self.early_secret, b"e exp master", th)
        self.client_early_traffic_secret = self.derive_secret(
            self.early_secret, b"c e traffic", th)

    def export(self, label: bytes, context: bytes, length: int, *, early: bool = False
               ) -> bytes:
        """TLS-Exporter (RFC 8446 section 7.5); ``early``: from the early exporter secret."""
        master = self.early_exporter_master_secret if early else self.exporter_master_secret
        if not master:
            raise ValueError("that exporter secret is not there (yet)")
        secret = self.derive_secret(master, label, self._empty_hash())
        context_hash = crypto.new_hash(self.suite.hash)
        context_hash.update(context)
        return hkdf_expand_label(self.suite, secret, b"exporter", context_hash.finalize(), length)
