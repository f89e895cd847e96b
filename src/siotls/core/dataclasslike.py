"""Dataclass-compatible classes that ``import siotls`` can afford.

Theory of operation
-------------------
``import dataclasses`` imports :mod:`inspect`, and with it ast, dis and
tokenize: about 6 ms, a third of what ``import siotls`` cost; ``@dataclass``
then compiles each class's ``__init__``, ``__repr__``, ``__eq__``... from
generated source at every import (a few ms more for the three classes
``import siotls`` makes: TLSConfiguration, TLSNegotiatedConfiguration and
PendingClientHello). Those three derive from :class:`Record` or
:class:`FrozenRecord` instead, and behave as ``@dataclass`` and
``@dataclass(frozen=True)`` did:

* the fields are the parameters of the class's own hand-written ``__init__``,
  in their order, with their annotations and defaults: one declaration,
  compiled once into the bytecode cache. The ``__init__`` stores them (a frozen
  one through :meth:`FrozenRecord._store`) and then validates, as a
  ``__post_init__`` would; the class annotates the same names for type checkers;
* ``__repr__`` (every field but those named in ``_repr_hidden``), ``__eq__``
  (same class, equal fields), ``__hash__`` (frozen: the fields' hash; else
  unhashable), ``__match_args__``, ``__replace__`` (Python 3.13), and for a
  frozen class ``__setattr__`` and ``__delattr__`` raising
  :exc:`dataclasses.FrozenInstanceError`, are what ``@dataclass`` generates;
* ``__dataclass_fields__`` and ``__dataclass_params__`` are made on first
  access, by ``dataclasses`` itself: the ones of a *twin*, a ``@dataclass``
  with the same fields (names, annotations, defaults, ``repr``) and the same
  ``frozen``, which are then set on the class. So :func:`dataclasses.fields`,
  :func:`~dataclasses.replace`, :func:`~dataclasses.asdict` and
  :func:`~dataclasses.is_dataclass` work on these classes as on the dataclasses
  they were, and ``dataclasses`` loads when someone uses them (the twin is
  made once per class, on that first use).

``tests/test_dataclasslike.py`` compares each class with its twin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping
    from dataclasses import Field
    from typing import Self

__all__ = ["FrozenRecord", "Record"]


class _FromTwin:
    """``__dataclass_fields__`` or ``__dataclass_params__``: the twin dataclass's,
    made on first access and then set on the class itself (replacing this)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type[Record]) -> Any:
        if not owner._fields:  # Record itself, or FrozenRecord: not dataclasses
            raise AttributeError(self.name)
        twin = owner._dataclass_twin()
        for name in ("__dataclass_fields__", "__dataclass_params__"):
            setattr(owner, name, getattr(twin, name))
        return getattr(twin, self.name)


class Record:
    """A mutable record: ``@dataclass``'s methods over the fields of ``__init__``."""

    __slots__ = ()
    #: the fields: the parameters of ``__init__`` (set by ``__init_subclass__``)
    _fields: ClassVar[tuple[str, ...]] = ()
    #: fields that ``repr()`` leaves out (``field(repr=False)``)
    _repr_hidden: ClassVar[frozenset[str]] = frozenset()
    #: the class whose ``__init__`` declared the fields
    _declared: ClassVar[type]
    _frozen: ClassVar[bool] = False

    if TYPE_CHECKING:
        __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
        __dataclass_params__: ClassVar[Any]
    else:
        __dataclass_fields__ = _FromTwin()
        __dataclass_params__ = _FromTwin()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:  # a class declaring fields; a subclass without keeps them
            code = init.__code__
            cls._fields = code.co_varnames[1:code.co_argcount + code.co_kwonlyargcount]
            cls._declared = cls
            setattr(cls, "__match_args__", code.co_varnames[1:code.co_argcount])  # noqa: B010

    @classmethod
    def _dataclass_twin(cls) -> type:
        """A ``@dataclass`` with our fields: the source of ``__dataclass_fields__``."""
        import dataclasses  # noqa: PLC0415 (here: the point of this module)
        import inspect  # noqa: PLC0415

        annotations: dict[str, Any] = {}
        namespace: dict[str, Any] = {"__module__": cls.__module__,
                                     "__qualname__": cls.__qualname__,
                                     "__annotations__": annotations}
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        for parameter in parameters:
            annotations[parameter.name] = parameter.annotation
            default = (dataclasses.MISSING if parameter.default is parameter.empty
                       else parameter.default)
            namespace[parameter.name] = dataclasses.field(
                default=default, repr=parameter.name not in cls._repr_hidden)
        return dataclasses.dataclass(frozen=cls._frozen)(type(cls.__name__, (), namespace))

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def __replace__(self, **changes: Any) -> Self:
        """A new one with ``changes`` (``copy.replace``, Python 3.13): what
        ``dataclasses.replace`` does."""
        return type(self)(**{**dict(zip(self._fields, self._values(), strict=True)), **changes})

    def __repr__(self) -> str:
        shown = ", ".join([f"{name}={getattr(self, name)!r}" for name in self._fields
                           if name not in self._repr_hidden])
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__: ClassVar[None] = None  # type: ignore[assignment] # mutable: as @dataclass(eq=True)


class FrozenRecord(Record):
    """An immutable, hashable record: ``@dataclass(frozen=True)``."""

    __slots__ = ()
    _frozen = True

    def _store(self, values: Mapping[str, Any]) -> None:
        """Set the fields from ``values`` (an ``__init__``'s ``locals()``)."""
        for name in self._fields:
            object.__setattr__(self, name, values[name])

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self._values())

    def __setattr__(self, name: str, value: object) -> None:
        if type(self) is self._declared or name in self._fields:
            raise _frozen_error(name)
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is self._declared or name in self._fields:
            raise _frozen_error(name)
        super().__delattr__(name)


def _frozen_error(name: str) -> Exception:
    from dataclasses import FrozenInstanceError  # noqa: PLC0415 (only on misuse)

    return FrozenInstanceError(f"cannot assign to field {name!r}")
