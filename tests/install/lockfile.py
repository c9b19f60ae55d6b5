"""Read the project's lock files: name -> pinned version, with the environment markers applied."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
DEPLOY_LOCK = ROOT / "requirements-deploy.lock"
PIP_LOCK = ROOT / "requirements-pip.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def entries(path: Path) -> list[tuple[str, str, str]]:
    """Return every pin in path as (canonical name, version, marker or ''), in file order.

    A universal lock may pin one package twice, for different Pythons (numpy for 3.11 and 3.12+).
    """
    out = []
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match is not None:
            name, version, marker = match.groups()
            out.append((canonicalize_name(name), version, marker or ""))
    return out


def pins(path: Path) -> dict[str, str]:
    """Return canonical name -> version of the pins in path whose markers hold here."""
    return {n: v for n, v, m in entries(path) if not m or Marker(m).evaluate()}
