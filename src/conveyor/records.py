"""``@record``: plain data classes that cost next to nothing to define.

``conveyor run`` is measured against act, and on Python 3.11 ``@dataclass`` was
most of its start-up: it writes and compiles the source of every method of every
class as the class is defined (about 0.3 ms a class, 0.6 ms frozen; ~55 classes on
a run's path) and importing ``dataclasses`` brings ``inspect`` and ``ast`` with it
(~10 ms). A record's methods are a few shared functions that read the class's
field list, worked out once when the class is defined, so a definition costs
microseconds.

What is offered is what the run's classes use, with dataclasses' meaning:

- fields are the class's annotations in order, a base record's fields first
  (``ClassVar`` annotations and unannotated attributes are not fields);
- ``__init__`` takes them positionally or by name; a field may have a default,
  or ``field(default_factory=...)`` for a fresh mutable value each time; a field
  without a default may not follow one; ``__post_init__`` runs after;
- ``__repr__`` and ``__eq__`` (same class, equal fields); ``frozen=True`` forbids
  assignment and makes records hashable, else they are unhashable unless the class
  defines ``__hash__``; ``order=True`` compares the fields as a tuple;
- ``as_dict`` is ``dataclasses.asdict`` for records, lists, tuples and dicts of
  them (other values are shared, not deep-copied).

Modules off the start-up path (the server, ``init``) keep using ``@dataclass``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import dataclass_transform
else:

    def dataclass_transform(**_: object) -> Any:
        return lambda decorated: decorated


_MISSING: Any = object()
_MUTABLE_DEFAULTS = (list, dict, set)


class FrozenRecordError(AttributeError):
    """An assignment to a field of a frozen record."""


class _Field:
    __slots__ = ("default_factory",)

    def __init__(self, default_factory: Callable[[], Any]) -> None:
        self.default_factory = default_factory


def field(*, default_factory: Callable[[], Any]) -> Any:
    """A field whose default is made anew for each record: ``field(default_factory=list)``."""
    return _Field(default_factory)


class _Spec:
    """A record class's fields and how each gets its value when not given."""

    __slots__ = ("defaults", "factories", "names", "post_init")

    def __init__(
        self,
        names: tuple[str, ...],
        defaults: dict[str, Any],
        factories: dict[str, Callable[[], Any]],
        post_init: bool,
    ) -> None:
        self.names = names
        self.defaults = defaults
        self.factories = factories
        self.post_init = post_init


@dataclass_transform(field_specifiers=(field,))
def record(cls: type | None = None, /, *, frozen: bool = False, order: bool = False) -> Any:
    """Make ``cls`` a record (see the module's docstring); ``@record`` or ``@record(...)``."""

    def make(cls: type) -> type:
        _define(cls, frozen, order)
        return cls

    return make if cls is None else make(cls)


def _define(cls: type, frozen: bool, order: bool) -> None:
    names: list[str] = []
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for base in reversed(cls.__mro__[1:]):
        spec = base.__dict__.get("__record__")
        if spec is not None:
            names += [name for name in spec.names if name not in names]
            defaults.update(spec.defaults)
            factories.update(spec.factories)
    # Not inspect.get_annotations: importing inspect is what this module avoids.
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        if str(annotation).replace("typing.", "").startswith("ClassVar"):
            continue
        if name not in names:
            names.append(name)
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            factories[name] = value.default_factory
            defaults.pop(name, None)
            delattr(cls, name)
        elif value is not _MISSING:
            if isinstance(value, _MUTABLE_DEFAULTS):
                raise ValueError(
                    f"mutable default {type(value).__name__} for field {name} of "
                    f"{cls.__qualname__}: use field(default_factory=...)"
                )
            defaults[name] = value
            factories.pop(name, None)
    has_default = False
    for name in names:
        if name in defaults or name in factories:
            has_default = True
        elif has_default:
            raise TypeError(f"{cls.__qualname__}: field {name} has no default but follows one")
    cls.__record__ = _Spec(  # type: ignore[attr-defined]
        tuple(names), defaults, factories, hasattr(cls, "__post_init__")
    )
    # As with dataclasses, methods the class writes itself are kept.
    methods: dict[str, Any] = {
        "__match_args__": tuple(names),
        "__init__": _init,
        "__repr__": _repr,
        "__eq__": _eq,
    }
    if frozen:
        methods |= {
            "__setattr__": _refuse_assignment,
            "__delattr__": _refuse_deletion,
            "__hash__": _hash,
        }
    if order:
        methods |= {"__lt__": _lt, "__le__": _le, "__gt__": _gt, "__ge__": _ge}
    own = cls.__dict__
    for name, method in methods.items():
        # A class body that defines __eq__ gets __hash__ = None from Python itself.
        if name not in own or (name == "__hash__" and own[name] is None):
            setattr(cls, name, method)
    if not frozen and own.get("__hash__", _MISSING) is _MISSING:
        cls.__hash__ = None  # type: ignore[assignment]  # equal by value, so unhashable


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    spec: _Spec = cls.__record__
    names = spec.names
    if len(args) > len(names):
        raise TypeError(
            f"{cls.__qualname__}() takes {len(names)} positional arguments "
            f"but {len(args)} were given"
        )
    values = dict(zip(names, args, strict=False))
    for name, value in kwargs.items():
        if name in values:
            raise TypeError(f"{cls.__qualname__}() got multiple values for argument '{name}'")
        values[name] = value
    state = self.__dict__
    for name in names:
        value = values.pop(name, _MISSING)
        if value is _MISSING:
            value = spec.defaults.get(name, _MISSING)
            if value is _MISSING:
                factory = spec.factories.get(name)
                if factory is None:
                    raise TypeError(f"{cls.__qualname__}() missing required argument: '{name}'")
                value = factory()
        state[name] = value
    if values:
        unexpected = next(iter(values))
        raise TypeError(f"{cls.__qualname__}() got an unexpected keyword argument '{unexpected}'")
    if spec.post_init:
        self.__post_init__()


def _values(record: Any) -> tuple[Any, ...]:
    state = record.__dict__
    return tuple(state[name] for name in type(record).__record__.names)


def _repr(self: Any) -> str:
    state = self.__dict__
    shown = ", ".join(f"{name}={state[name]!r}" for name in type(self).__record__.names)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _refuse_assignment(self: Any, name: str, value: Any) -> None:
    raise FrozenRecordError(f"cannot assign to field '{name}' of a frozen record")


def _refuse_deletion(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field '{name}' of a frozen record")


def _lt(self: Any, other: Any) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) < _values(other)


def _le(self: Any, other: Any) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) <= _values(other)


def _gt(self: Any, other: Any) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) > _values(other)


def _ge(self: Any, other: Any) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) >= _values(other)


def is_record(value: object) -> bool:
    return hasattr(type(value), "__record__")


def as_dict(value: Any) -> dict[str, Any]:
    """A record as a dict of its fields, records inside lists, tuples and dicts too."""
    return {
        name: _plain(item)
        for name, item in zip(type(value).__record__.names, _values(value), strict=True)
    }


def _plain(value: Any) -> Any:
    if is_record(value):
        return as_dict(value)
    kind = type(value)
    if kind is list:
        return [_plain(item) for item in value]
    if kind is tuple:
        return tuple(_plain(item) for item in value)
    if kind is dict:
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


def field_names(cls: type) -> tuple[str, ...]:
    """The fields of a record class, in order."""
    return cls.__record__.names  # type: ignore[attr-defined, no-any-return]


def replace(value: Any, **changes: Any) -> Any:
    """A copy of the record ``value`` with ``changes``, as ``dataclasses.replace``."""
    names = type(value).__record__.names
    unknown = sorted(set(changes) - set(names))
    if unknown:
        raise TypeError(f"{type(value).__name__} has no field {', '.join(unknown)}")
    return type(value)(**{**dict(zip(names, _values(value), strict=True)), **changes})
