"""Deterministic client order ids: derived from (symbol, level, side, generation), parseable back.

Layout (lower-case letters and digits only, at most 32 characters, so OKX accepts it too):

    mm <tag:6> <side:b|s> <level> g <generation base36>
    mm 3k9z0q  b          97250p5 g 1

- `tag` is a stable 6-character base-36 hash of the symbol, so `mm<tag>` is a prefix shared by
  all our ids of that symbol and by nothing else we send.
- `level` is the canonical decimal string with 'p' for the point and no leading "0" before it
  ("0.05" -> "p05"), or, when shorter, coefficient 'e' decimal places ("0.0000012345" ->
  "12345e10"); it uses only digits, 'p' and 'e', so the first 'g' after it ends it.
- `generation` in base 36 keeps ids short even when it starts from a large floor (the current
  second, after a state rebuild).

Budget: 8 (prefix) + 1 (side) + 1 ('g') + 6 (a generation below 36**6, about 2.1e9) leaves 16
characters for the level: 15 significant digits at or above 0.1, 13 below. A level that does
not fit raises ValidationError; real tick sizes keep levels far shorter.

The bound, for config validation: every level is a multiple of the tick size (the anchor and
the interval are snapped to it), so its plain text has at most the integer digits of the
highest level, plus 'p' and the tick's decimals; the 'e' form is used only when shorter.
`max_client_id_length` computes that bound. Generations stay below 36**6 as long as the
generation floor (the current second after a state rebuild) does: until December 2038.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from mmtasks.decimals import canon
from mmtasks.domain import Side
from mmtasks.errors import ValidationError

MAX_ID_LEN = 32
ID_PREFIX = "mm"
TAG_LEN = 6
MAX_GENERATION = 36**6 - 1  # six base-36 characters
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^mm([0-9a-z]{6})([bs])([0-9pe]+)g([0-9a-z]+)$")
_SIDE_CODE = {Side.BUY: "b", Side.SELL: "s"}
_CODE_SIDE = {code: side for side, code in _SIDE_CODE.items()}
# Every base-36 pair "00".."zz", so a generation is written two digits per step.
_PAIRS = [first + second for first in _ALPHABET for second in _ALPHABET]


@dataclass(frozen=True)
class ParsedId:
    """The parts of one of our client order ids."""

    symbol_tag: str
    level: Decimal
    side: Side
    generation: int


def _base36(number: int, width: int = 1) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def _generation_text(number: int) -> str:
    # _base36(number), two digits per division: every new order's id ends with it.
    if number < 36:
        return _ALPHABET[number]
    pairs = []
    while number >= 1296:
        number, rest = divmod(number, 1296)
        pairs.append(_PAIRS[rest])
    head = _ALPHABET[number] if number < 36 else _PAIRS[number]
    return head + "".join(reversed(pairs))


@lru_cache(maxsize=1024)
def symbol_tag(symbol: str) -> str:
    """Return the 6-character base-36 tag of symbol (case-insensitive, stable across runs)."""
    digest = hashlib.sha256(symbol.upper().encode()).digest()
    return _base36(int.from_bytes(digest[:8], "big") % 36**TAG_LEN, TAG_LEN)


def client_id_prefix(symbol: str) -> str:
    """Return the prefix every client order id of ours for symbol starts with."""
    return f"{ID_PREFIX}{symbol_tag(symbol)}"


def encode_level(level: Decimal) -> str:
    """Return level as id text: plain digits with 'p' for the point, or digits 'e' scale."""
    if not level.is_finite() or level <= 0:
        raise ValidationError(f"level must be a positive decimal, received {level!r}")
    return _encode_positive(level)


# Value-keyed cache (the text depends on the value only): levels repeat in every client id.
@lru_cache(maxsize=8192)
def _encode_positive(level: Decimal) -> str:
    plain = canon(level)
    if plain.startswith("0."):
        plain = plain[1:]
    plain = plain.replace(".", "p")
    # Tiny prices spend most of the plain form on leading zeros: coefficient 'e' decimal places
    # ("0.0000012345" -> "12345e10") is shorter there. The shorter form is the canonical one.
    _, digits, exponent = level.normalize().as_tuple()
    if isinstance(exponent, int) and exponent < 0:
        scientific = f"{''.join(map(str, digits))}e{-exponent}"
        if len(scientific) < len(plain):
            return scientific
    return plain


def max_client_id_length(
    max_level: Decimal, tick_size: Decimal, max_generation: int = MAX_GENERATION
) -> int:
    """Return the longest client order id of any level on the tick grid up to max_level."""
    if tick_size <= 0 or max_level <= 0:
        raise ValidationError(
            f"tick_size and max_level must be > 0, received {canon(tick_size)}, {canon(max_level)}"
        )
    exponent = tick_size.normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    integer_digits = len(str(int(max_level))) if max_level >= 1 else 0
    level_chars = integer_digits + (1 + decimals if decimals else 0)
    fixed = len(ID_PREFIX) + TAG_LEN + 1 + 1  # prefix, tag, side, 'g'
    return fixed + level_chars + len(_base36(max_generation))


def decode_level(text: str) -> Decimal:
    """Return the level encoded by encode_level, rejecting non-canonical text."""
    try:
        if "e" in text:
            coefficient, scale = text.split("e")
            level = Decimal(coefficient).scaleb(-int(scale))
        else:
            level = Decimal(text.replace("p", "."))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"level text must be digits, 'p' or 'e', received {text!r}") from None
    if not level.is_finite() or level <= 0 or encode_level(level) != text:
        raise ValidationError(f"level text must be canonical, received {text!r}")
    return level


def client_order_id(symbol: str, level: Decimal, side: Side, generation: int) -> str:
    """Return our client order id for (symbol, level, side, generation)."""
    if generation < 0:
        raise ValidationError(f"generation must be >= 0, received {generation}")
    if not level.is_finite():
        encode_level(level)  # raises the ValidationError (and keeps a NaN out of the cache)
    cid = _id_head(symbol, level, side) + _generation_text(generation)
    if len(cid) > MAX_ID_LEN:
        raise ValidationError(
            f"client order id must be at most {MAX_ID_LEN} characters, received {cid!r} "
            f"({len(cid)}) for level {canon(level)}, generation {generation}"
        )
    return cid


# Value-keyed like _encode_positive: every new order of a level repeats the same head, only the
# generation changes.
@lru_cache(maxsize=8192)
def _id_head(symbol: str, level: Decimal, side: Side) -> str:
    return f"{client_id_prefix(symbol)}{_SIDE_CODE[side]}{encode_level(level)}g"


# Every order update names its order by client id; the same ids come back (ack, fills, cancel).
@lru_cache(maxsize=8192)
def parse_client_order_id(cid: str) -> ParsedId:
    """Return the parts of one of our client order ids or raise ValidationError."""
    match = _ID_RE.match(cid) if len(cid) <= MAX_ID_LEN else None
    if match is None:
        raise ValidationError(f"client order id is not one of ours, received {cid!r}")
    tag, side_code, level_text, generation_text = match.groups()
    if len(generation_text) > 1 and generation_text.startswith("0"):
        raise ValidationError(f"client order id is not canonical, received {cid!r}")
    return ParsedId(
        symbol_tag=tag,
        level=decode_level(level_text),
        side=_CODE_SIDE[side_code],
        generation=int(generation_text, 36),
    )


def is_ours(symbol: str, cid: str) -> bool:
    """Return True when cid is one of our client order ids for symbol."""
    if not cid.startswith(client_id_prefix(symbol)):
        return False
    try:
        parse_client_order_id(cid)
    except ValidationError:
        return False
    return True
