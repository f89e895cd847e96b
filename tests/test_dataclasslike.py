"""TLSConfiguration, TLSNegotiatedConfiguration and PendingClientHello are
:mod:`siotls.core.dataclasslike` records, no longer ``@dataclass``es (so that
``import siotls`` does not load ``dataclasses``): each must still behave as the
dataclass it was, which ``dataclasses`` itself generates here (the twin) to
compare with."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from certs import make_ca
from siotls import TLSConfiguration, TLSNegotiatedConfiguration
from siotls.core.dataclasslike import FrozenRecord, Record
from siotls.core.earlydata import PendingClientHello
from siotls.iana import CipherSuites, NamedGroup

#: The public fields of TLSConfiguration, in order (its API since 0.0.5, grown since).
CONFIGURATION_FIELDS = (
    "side", "cipher_suites", "key_exchanges", "signature_algorithms", "truststore",
    "private_key", "certificate_chain", "alpn", "log_keys", "keylog",
    "middlebox_compatibility", "record_padding", "require_peer_authentication",
    "request_peer_authentication", "certificate_chains", "sni_callback",
    "certificate_selector", "strict_sni", "ocsp_response", "ocsp_stapling",
    "post_handshake_auth", "send_raw_public_key", "peer_public_keys", "max_fragment_size",
    "check_hostname", "record_size_limit", "certificate_compression", "random_bytes", "clock",
    "key_share_generator", "num_tickets", "ticket_lifetime", "ticket_keys",
    "psk_key_exchange_modes", "external_psks", "max_early_data", "strike_register",
    "early_data_freshness", "early_data_anti_replay",
)
#: What repr() of a configuration leaves out (keys, secrets, callables), as the
#: dataclass's ``field(repr=False)`` did.
HIDDEN = {"private_key", "sni_callback", "certificate_selector", "ocsp_response",
          "random_bytes", "clock", "key_share_generator", "ticket_keys", "external_psks",
          "strike_register"}
CLASSES = (TLSConfiguration, TLSNegotiatedConfiguration, PendingClientHello)
PENDING = {"server_name": "example.org", "alpn": b"h2", "psk_identity": None,
           "early_data_offered": False, "replay_key": None, "replay_ttl": 0.0,
           "register": None}


pytestmark = pytest.mark.filterwarnings("ignore::siotls.InsecureWarning")  # no truststore


def client_config(**changes: Any) -> TLSConfiguration:
    return TLSConfiguration("client", **changes)


@pytest.mark.parametrize("cls", CLASSES)
def test_a_dataclass_to_dataclasses(cls: type[Record]) -> None:
    """fields() are dataclasses' own, from the twin: the __init__'s parameters,
    annotations and defaults; the twin's generated __init__ has our signature."""
    twin = cls._dataclass_twin()
    assert dataclasses.is_dataclass(cls)
    assert inspect.signature(twin.__init__).parameters == inspect.signature(cls.__init__).parameters
    fields = dataclasses.fields(cls)
    assert tuple(field.name for field in fields) == cls._fields == cls.__match_args__
    assert cls.__dataclass_params__.frozen is (cls is not TLSNegotiatedConfiguration)
    assert not dataclasses.is_dataclass(Record)
    assert not dataclasses.is_dataclass(FrozenRecord)


@pytest.mark.parametrize("cls", CLASSES)
def test_the_class_annotates_what_init_takes(cls: type[Record]) -> None:
    """The attributes declared for type checkers are the fields, in order, with the
    same types (log_keys: None in, the bool read from the environment out)."""
    parameters = {name: parameter.annotation for name, parameter
                  in inspect.signature(cls.__init__).parameters.items() if name != "self"}
    if cls is TLSConfiguration:
        parameters["log_keys"] = parameters["log_keys"].removesuffix(" | None")
    assert cls.__annotations__ == parameters


def test_configuration_fields_and_repr() -> None:
    fields = dataclasses.fields(TLSConfiguration)
    assert tuple(field.name for field in fields) == CONFIGURATION_FIELDS
    assert {field.name for field in fields if not field.repr} == HIDDEN
    assert fields[0].default is dataclasses.MISSING  # side is required
    assert dict(inspect.signature(TLSConfiguration).parameters)["num_tickets"].default == 2
    leaf = make_ca().issue(("localhost",))
    config = TLSConfiguration("server", alpn=[b"h2"], private_key=leaf.key_der,
                              certificate_chain=leaf.chain_der, random_bytes=bytes)
    shown = repr(dataclasses.replace(config, certificate_compression=()))
    assert shown.startswith("TLSConfiguration(side='server', cipher_suites=(")
    assert "alpn=(b'h2',)" in shown
    assert repr(leaf.chain_der[0]) in shown
    assert not any(f"{name}=" in shown for name in HIDDEN)
    assert repr(leaf.key_der) not in shown


def test_configuration_repr_is_the_dataclass_repr() -> None:
    """Field for field what ``@dataclass`` prints (the twin, given the same values)."""
    config = client_config(alpn=[b"h2"])
    twin = TLSConfiguration._dataclass_twin()
    values = {name: getattr(config, name) for name in CONFIGURATION_FIELDS}
    assert repr(config) == repr(twin(**values))
    nconfig = TLSNegotiatedConfiguration(cipher_suite=CipherSuites.TLS_AES_128_GCM_SHA256)
    nconfig.alpn = b"h2"
    ntwin = TLSNegotiatedConfiguration._dataclass_twin()
    assert repr(nconfig) == repr(ntwin(cipher_suite=CipherSuites.TLS_AES_128_GCM_SHA256,
                                       alpn=b"h2"))
    assert repr(PendingClientHello(**PENDING)) == repr(PendingClientHello._dataclass_twin()(
        **PENDING))


def test_replace_copy_equality_and_hash() -> None:
    config = client_config(key_exchanges=[NamedGroup.x25519])
    same = client_config(key_exchanges=(NamedGroup.x25519,))
    assert config == same and hash(config) == hash(same) and config is not same
    assert len({config, same}) == 1
    other = dataclasses.replace(config, alpn=[b"h2"])  # validated again: a tuple
    assert other.alpn == (b"h2",) and other != config and config.alpn is None
    assert config.copy(alpn=[b"h2"]) == other
    assert config.__replace__(alpn=[b"h2"]) == other  # copy.replace() on Python 3.13
    assert config.copy() == config
    assert config != dataclasses.astuple(config)  # another class: not equal
    with pytest.raises(ValueError, match="max_fragment_size"):
        dataclasses.replace(config, max_fragment_size=10)
    with pytest.raises(ValueError, match="max_fragment_size"):
        config.copy(max_fragment_size=10)
    with pytest.raises(TypeError):
        config.copy(no_such_field=1)
    assert dataclasses.asdict(config)["key_exchanges"] == (NamedGroup.x25519,)


def test_log_keys_default_is_read_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    assert client_config().log_keys is False
    monkeypatch.setenv("SSLKEYLOGFILE", "/dev/null")
    assert client_config().log_keys is True
    assert client_config(log_keys=False).log_keys is False


@pytest.mark.parametrize("record", [
    pytest.param(client_config, id="TLSConfiguration"),
    pytest.param(lambda: PendingClientHello(**PENDING), id="PendingClientHello"),
])
def test_frozen(record: Any) -> None:
    value = record()
    for name in (value._fields[0], "not_a_field"):
        with pytest.raises(dataclasses.FrozenInstanceError, match=name):
            setattr(value, name, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(value, name)
    assert hash(value) == hash(record())


def test_a_subclass_may_add_attributes_not_fields() -> None:
    """As with a frozen dataclass: only the class that declared the fields is sealed."""

    class Mine(PendingClientHello):
        pass

    mine = Mine(**PENDING)
    mine.note = "mine"  # type: ignore[attr-defined]
    assert mine.note == "mine"  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        mine.alpn = None  # type: ignore[misc]
    assert mine != PendingClientHello(**PENDING)  # another class


def test_negotiated_configuration_is_slotted_mutable_and_unhashable() -> None:
    nconfig = TLSNegotiatedConfiguration()
    assert set(TLSNegotiatedConfiguration.__slots__) == set(TLSNegotiatedConfiguration._fields)
    assert not hasattr(nconfig, "__dict__")
    nconfig.alpn = b"h2"
    assert nconfig == TLSNegotiatedConfiguration(alpn=b"h2")
    assert nconfig != TLSNegotiatedConfiguration()
    with pytest.raises(TypeError):
        hash(nconfig)
    with pytest.raises(AttributeError):
        nconfig.not_a_field = 1  # type: ignore[attr-defined]
    assert dataclasses.asdict(nconfig)["alpn"] == b"h2"
    assert dataclasses.replace(nconfig, early_data="accepted").alpn == b"h2"
    assert nconfig.__replace__(early_data="accepted") == dataclasses.replace(
        nconfig, early_data="accepted")
    match nconfig:
        case TLSNegotiatedConfiguration(None, None, None, None, (), alpn):
            assert alpn == b"h2"
        case _:
            pytest.fail("positional match on the fields")
