"""Arguments of the admin tasks as frozen pydantic models, and how bad ones are described.

`celery call` sends whatever JSON it is given, so each task takes `*args, **kwargs` and binds
them here: positional arguments map to the fields in order, unknown names and wrong types are
refused (strict mode: `"yes"` is not a boolean, `5` is not a symbol), and every problem comes
back as one message naming the argument, what was received and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

import pydantic
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import ErrorDetails

from mmtasks.domain import parse_symbol
from mmtasks.errors import ValidationError, explain

# Venues a connector can serve (docs/venue.md). A real venue adapter adds its name here.
EXCHANGES = ("sim", "binanceusdm", "binance")
WORKER_NAME_RE = re.compile(r"^[\w.\-]+@[\w.\-]+$")


def _exchange(value: object) -> str:
    if value not in EXCHANGES:
        raise ValidationError(f"exchange must be one of {', '.join(EXCHANGES)}, received {value!r}")
    return str(value)


def _worker_name(value: object) -> str:
    if not isinstance(value, str) or not WORKER_NAME_RE.match(value):
        raise ValidationError(
            f"consumer must be a Celery worker node name like 'btcusdt@host', received {value!r}"
        )
    return value


def _config(field: str) -> Callable[[object], dict[str, Any]]:
    def check(value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValidationError(f"{field} must be an object of config fields, received {value!r}")
        return value

    return check


def _optional(check: Callable[[object], Any]) -> Callable[[object], Any]:
    # One validator for "None or a valid value", so an error names the argument once instead
    # of once per branch of a union.
    return lambda value: None if value is None else check(value)


def _reason(value: str) -> str:
    if not value.strip():
        raise ValidationError(f"reason must say why, received {value!r}")
    return value.strip()


SymbolArg = Annotated[str, BeforeValidator(parse_symbol)]
OptionalSymbolArg = Annotated[str | None, BeforeValidator(_optional(parse_symbol))]
ExchangeArg = Annotated[str, BeforeValidator(_exchange)]
OptionalWorkerArg = Annotated[str | None, BeforeValidator(_optional(_worker_name))]
StrategyArg = Annotated[dict[str, Any], BeforeValidator(_config("strategy"))]
RiskArg = Annotated[dict[str, Any], BeforeValidator(_config("risk"))]
OptionalStrategyArg = Annotated[
    dict[str, Any] | None, BeforeValidator(_optional(_config("strategy")))
]
OptionalRiskArg = Annotated[dict[str, Any] | None, BeforeValidator(_optional(_config("risk")))]


class AdminRequest(BaseModel):
    """Base of every admin task's arguments: frozen, strict, unknown names refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class AddSymbol(AdminRequest):
    symbol: SymbolArg
    exchange: ExchangeArg = "sim"
    strategy: StrategyArg
    risk: RiskArg = Field(default_factory=dict)
    consumer: OptionalWorkerArg = None


class RemoveSymbol(AdminRequest):
    symbol: SymbolArg
    force: bool = False


class SymbolOnly(AdminRequest):
    symbol: SymbolArg


class UpdateSymbol(AdminRequest):
    symbol: SymbolArg
    strategy: OptionalStrategyArg = None
    risk: OptionalRiskArg = None


class Halt(AdminRequest):
    reason: Annotated[str, Field(max_length=500), AfterValidator(_reason)]


class NoArgs(AdminRequest):
    pass


class Resume(AdminRequest):
    reason: Annotated[str, Field(max_length=500), AfterValidator(_reason)] = "resumed by operator"


class SetFleetRisk(AdminRequest):
    """Fleet risk limits by name (`max_exposure_quote`, ...; null removes one).

    The names are checked by the fleet risk config itself, which lists the known ones.
    """

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    @property
    def changes(self) -> dict[str, Any]:
        """Return the limits given, by name."""
        return dict(self.model_extra or {})


class SendTestAlert(AdminRequest):
    message: Annotated[str, Field(min_length=1, max_length=500)] = "test alert from mmtasks"


class Status(AdminRequest):
    symbol: OptionalSymbolArg = None


class ListSymbols(AdminRequest):
    include_removed: bool = False


class Rehydrate(AdminRequest):
    reason: Annotated[str, Field(max_length=200)] = "requested"


R = TypeVar("R", bound=AdminRequest)


def bind(task: str, model: type[R], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> R:
    """Return args/kwargs as model, or raise ValidationError describing every problem."""
    names = list(model.model_fields)
    takes = f"{task} takes ({', '.join(names)})" if names else f"{task} takes no arguments"
    if len(args) > len(names):
        raise ValidationError(f"{takes}, received {len(args)} positional arguments")
    data = dict(zip(names, args, strict=False))
    for name, value in kwargs.items():
        if name in data:
            raise ValidationError(f"{name} was given both by position and by name")
        data[name] = value
    for name, value in data.items():
        check_text(value, name)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(describe(exc, takes)) from None


MAX_TEXT = 1000


def check_text(value: Any, path: str) -> None:
    """Refuse control characters and oversized strings anywhere in an admin call's arguments.

    A NUL byte cannot be stored in Postgres text, so refusing it up front is what keeps a
    change and its audit row together; other control characters corrupt logs and tables.
    """
    if isinstance(value, str):
        bad = next((c for c in value if ord(c) < 0x20 or ord(c) == 0x7F), None)
        if bad is not None:
            raise ValidationError(
                f"{path} must not contain control characters, received {value[:60]!r} "
                f"(character {ord(bad):#04x})"
            )
        if len(value) > MAX_TEXT:
            raise ValidationError(
                f"{path} must be at most {MAX_TEXT} characters, received {len(value)}"
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(key, f"{path} key")
            check_text(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_text(item, f"{path}[{i}]")


def describe(exc: pydantic.ValidationError, takes: str) -> str:
    """Return pydantic's errors as one message in the project's words."""

    def phrase(loc: str, error: ErrorDetails) -> str:
        if error["type"] == "extra_forbidden":
            return f"unknown argument {loc!r}: {takes}"
        if error["type"] == "missing":
            return f"{loc} is required: {takes}"
        return f"{loc}: {error['msg'].lower()}, received {error['input']!r}"

    return explain(exc, "arguments", phrase)
