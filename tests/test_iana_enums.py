"""The IntEnums of siotls.iana are built by ``_int_enum`` (``enum._simple_enum``,
faster at import) from plain class bodies: each must be the enum that
``class X(enum.IntEnum)`` with the same members makes, and the fallback without
``_simple_enum`` (the functional API) too."""

from __future__ import annotations

import enum
import pickle
import types
from typing import Any

import pytest

from siotls import iana

INT_ENUMS = [value for value in vars(iana).values()
             if isinstance(value, type) and issubclass(value, enum.IntEnum)
             and value.__module__ == "siotls.iana"]


def members(cls: type[enum.IntEnum]) -> dict[str, int]:
    return {name: int(member) for name, member in cls.__members__.items()}


def class_statement(cls: type[enum.IntEnum]) -> type[enum.IntEnum]:
    """What ``class <name>(enum.IntEnum): <members>`` in siotls.iana makes."""
    namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                 "__doc__": cls.__doc__}

    def body(ns: dict[str, Any]) -> None:
        ns.update(namespace)
        ns.update(members(cls))

    return types.new_class(cls.__name__, (enum.IntEnum,), exec_body=body)


def plain_class(cls: type[enum.IntEnum]) -> type:
    """The class body as siotls.iana writes it, before ``_int_enum``."""
    return type(cls.__name__, (), {"__module__": cls.__module__,
                                   "__qualname__": cls.__qualname__,
                                   "__doc__": cls.__doc__, **members(cls)})


def assert_same_enum(ours: type[enum.IntEnum], reference: type[enum.IntEnum]) -> None:
    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        assert getattr(ours, attribute) == getattr(reference, attribute), attribute
    assert ours.__mro__[1:] == reference.__mro__[1:]
    assert type(ours) is type(reference) is enum.EnumType
    assert [(m.name, m.value) for m in ours] == [(m.name, m.value) for m in reference]
    assert members(ours) == members(reference)
    assert sorted(dir(ours)) == sorted(dir(reference))
    for member, expected in zip(ours, reference, strict=True):
        assert type(member) is ours and isinstance(member, int)
        assert repr(member) == repr(expected)
        assert str(member) == str(expected) and f"{member}" == f"{expected}"
        assert f"{member:#06x}" == f"{expected:#06x}"
        assert member == expected.value and hash(member) == hash(expected.value)
        assert ours(member.value) is member and ours[member.name] is member
        assert vars(ours)[member.name] is member  # as a class statement stores it
        assert sorted(dir(member)) == sorted(dir(expected))
    unknown = max(members(reference).values()) + 1
    with pytest.raises(ValueError, match="is not a valid"):
        ours(unknown)
    with pytest.raises(KeyError):
        ours["not_a_member"]


@pytest.mark.parametrize("cls", INT_ENUMS, ids=lambda cls: cls.__name__)
def test_each_registry_is_the_class_statement_enum(cls: type[enum.IntEnum]) -> None:
    assert_same_enum(cls, class_statement(cls))
    for member in cls:
        assert pickle.loads(pickle.dumps(member)) is member


@pytest.mark.parametrize("cls", INT_ENUMS, ids=lambda cls: cls.__name__)
def test_without_simple_enum_the_functional_api_makes_it(
        cls: type[enum.IntEnum], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(enum, "_simple_enum", raising=False)
    assert_same_enum(iana._int_enum(plain_class(cls)), class_statement(cls))


def test_the_registries_used_on_the_wire() -> None:
    """Spot checks of values, with ints off the wire."""
    assert iana.CipherSuites(0x1301) is iana.CipherSuites.TLS_AES_128_GCM_SHA256
    assert iana.NamedGroup(0x11EC).name == "X25519MLKEM768"
    assert iana.SignatureScheme.rsa_pss_rsae_sha256 == 0x0804
    assert iana.AlertDescription(50) is iana.AlertDescription.DECODE_ERROR
    assert iana.ExtensionType.RENEGOTIATION_INFO == 0xFF01
    with pytest.raises(ValueError, match="2570 is not a valid CipherSuites"):
        iana.CipherSuites(0x0A0A)  # GREASE stays unknown
    assert len(INT_ENUMS) == 14  # every IntEnum of siotls.iana is checked above
