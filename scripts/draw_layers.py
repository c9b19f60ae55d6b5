"""Draw the house: the layers of pyproject.toml's import-linter contract as floors, its rooms as
boxes, and every import between rooms as a line from the importer down to what it imports.

    .venv/bin/python scripts/draw_layers.py [docs/img/layers.svg]

The floors and rooms come from the contract itself and the lines from the code (grimp, the
graph import-linter builds), so the picture shows what `make lint` checks, never a wish.
"""

from __future__ import annotations

import re
import sys
import tomllib
from html import escape
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
ROW_H, BOX_H, GAP, MARGIN, LEFT = 64, 30, 10, 16, 150
CHAR_W = 7.0  # a monospace character at 12px


def floors() -> list[list[str]]:
    """Return the contract's layers, top first, each as its rooms (module names)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    return [[m.strip() for m in re.split(r"[|:]", layer)] for layer in layers]


def room_of(module: str, rooms: list[str]) -> str | None:
    """Return the room a module belongs to (the longest room name it starts with)."""
    found = [r for r in rooms if module == r or module.startswith(r + ".")]
    return max(found, key=len) if found else None


def edges(rooms: list[str]) -> set[tuple[str, str]]:
    """Return (importer room, imported room) for every import between two rooms."""
    graph = grimp.build_graph("mmtasks", "bridge", cache_dir=None)
    out = set()
    for module in graph.modules:
        src = room_of(module, rooms)
        for imported in graph.find_modules_directly_imported_by(module):
            dst = room_of(imported, rooms)
            if src and dst and src != dst:
                out.add((src, dst))
    return out


def draw(path: Path) -> None:
    house = floors()
    rooms = [r for floor in house for r in floor]
    boxes: dict[str, tuple[float, float, float]] = {}  # room -> x, y, width
    sizes = [[len(r.removeprefix("mmtasks.")) * CHAR_W + 16 for r in floor] for floor in house]
    spans = [sum(ws) + GAP * (len(ws) - 1) for ws in sizes]
    width = LEFT + max(spans) + MARGIN
    for i, floor in enumerate(house):  # each floor centred, so the lines spread out
        x, y = LEFT + (max(spans) - spans[i]) / 2, MARGIN + i * ROW_H
        for room, w in zip(floor, sizes[i], strict=True):
            boxes[room] = (x, y, w)
            x += w + GAP
    height = MARGIN * 2 + len(house) * ROW_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + MARGIN:.0f}" '
        f'height="{height}" font-family="monospace" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for i in range(len(house)):
        y = MARGIN + i * ROW_H - 8
        shade = "#f4f6f8" if i % 2 == 0 else "#ffffff"
        parts.append(f'<rect x="0" y="{y}" width="100%" height="{ROW_H}" fill="{shade}"/>')
        parts.append(f'<text x="8" y="{y + 28}" fill="#888">floor {len(house) - i}</text>')
    for src, dst in sorted(edges(rooms)):
        sx, sy, sw = boxes[src]
        dx, dy, dw = boxes[dst]
        down = dy > sy
        colour = "#3a7bd5" if down else "#d0342c"  # a red line would be a stair going up
        parts.append(
            f'<line x1="{sx + sw / 2:.0f}" y1="{sy + BOX_H}" x2="{dx + dw / 2:.0f}" y2="{dy}" '
            f'stroke="{colour}" stroke-opacity="0.25"/>'
        )
    for room, (x, y, w) in boxes.items():
        parts.append(
            f'<rect x="{x:.0f}" y="{y}" width="{w:.0f}" height="{BOX_H}" rx="4" '
            f'fill="#fff" stroke="#555"/>'
        )
        label = escape(room.removeprefix("mmtasks."))
        parts.append(f'<text x="{x + 8:.0f}" y="{y + 19}">{label}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
    print(f"wrote {path}: {len(house)} floors, {len(rooms)} rooms")


if __name__ == "__main__":
    draw(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "layers.svg")
