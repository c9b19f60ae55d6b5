"""The key schema's header in mmtasks/state/keys.py agrees with the code it describes."""

from __future__ import annotations

import re
from functools import cached_property

from mmtasks.state import keys
from mmtasks.state.keys import STATE_FIELDS, SymbolKeys, keys_for

HEADER = keys.__doc__ or ""


def header_block(key: str) -> str:
    """Return the header's text for one key: its line and the indented lines that follow."""
    lines = HEADER.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [key])
    block = [lines[start].split(None, 2)[2]]  # drop the key and its type
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 10) or not line.strip():
            break
        block.append(line)
    return " ".join(block)


def test_the_header_lists_exactly_the_fields_of_the_symbol_state_hash() -> None:
    text = header_block("mm:{s}:state")
    text = re.sub(r"\([^)]*\)", "", text)  # remarks in parentheses
    text = re.sub(r"\b[A-Za-z]+:", "", text)  # group labels: "DEGRADED:", "recovery:"
    listed = {word for word in re.split(r"[,;\s]+", text) if word}
    assert listed == STATE_FIELDS, (
        f"in the header, not in StateFields: {sorted(listed - STATE_FIELDS)}; "
        f"in StateFields, not in the header: {sorted(STATE_FIELDS - listed)}"
    )


def test_the_header_lists_every_per_symbol_key_and_nothing_else() -> None:
    k = keys_for("BTCUSDT")
    names = [n for n, v in vars(SymbolKeys).items() if isinstance(v, cached_property)]
    plain = [n for n, v in vars(SymbolKeys).items() if isinstance(v, property)]
    assert plain == ["per_symbol"], "a key is a cached_property, or per_symbol misses it"
    in_code = {name.replace("mm:{btcusdt}:", "mm:{s}:") for name in k.per_symbol}
    assert len(in_code) == len(names)  # every key (`per_symbol` is the list of them)
    in_header = set(re.findall(r"^  (mm:\{s\}:[a-z_]+)", HEADER, flags=re.MULTILINE))
    assert in_header == in_code
