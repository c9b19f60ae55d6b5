"""A faster `__init__` for the frozen dataclasses the core builds on every order and decision.

A frozen dataclass's generated `__init__` stores each field through `object.__setattr__`
(its own `__setattr__` refuses): an 11-field `Slot` took ~1.7 us to build where a plain class
takes ~0.25 us, and every intent, ack, fill, decision and candle builds several such objects
(py-spy: 16% of a busy replay was those `__init__`s). `quick_init` replaces that `__init__` with
one of the same signature that stores the fields without the detour: through the slots'
member descriptors (`slots=True` classes) or straight into the instance's `__dict__`. It is the
same class otherwise - frozen (assignment still raises), the same `__eq__`, `__hash__`,
`__repr__`, `dataclasses.replace` and `fields` - and builds equal objects
(`tests/grid/test_quickinit.py`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_FACTORY = object()  # the default of a field with a default_factory: build one per call


def quick_init(cls: type[T]) -> type[T]:
    """Return the frozen dataclass cls with a faster `__init__` of the same signature."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or not params.init:
        raise TypeError(f"quick_init needs a frozen dataclass with an __init__, received {cls!r}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"quick_init does not run __post_init__, received {cls!r}")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(not f.init or f.kw_only for f in fields):
        raise TypeError(f"quick_init needs positional init fields only, received {cls!r}")
    slotted = "__slots__" in cls.__dict__
    scope: dict[str, Any] = {"_FACTORY": _FACTORY}
    args: list[str] = []
    body: list[str] = []
    for f in fields:
        name = f.name
        if f.default is not dataclasses.MISSING:
            scope[f"_d_{name}"] = f.default
            args.append(f"{name}=_d_{name}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_f_{name}"] = f.default_factory
            args.append(f"{name}=_FACTORY")
            body.append(f"    if {name} is _FACTORY: {name} = _f_{name}()")
        else:
            args.append(name)
        if slotted:
            scope[f"_s_{name}"] = cls.__dict__[name].__set__
    if slotted:
        body += [f"    _s_{f.name}(self, {f.name})" for f in fields]
    else:
        body.append("    d = self.__dict__")
        body += [f"    d[{f.name!r}] = {f.name}" for f in fields]
    source = f"def __init__(self, {', '.join(args)}):\n" + "\n".join(body or ["    pass"])
    exec(source, scope)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning a method
    return cls
