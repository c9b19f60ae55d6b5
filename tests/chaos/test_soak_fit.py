"""The soak's arithmetic: growth per hour is fitted over the second half only."""

from __future__ import annotations

import pytest

from chaos.soak import build_parser, growth_per_hour


def test_growth_is_the_slope_of_the_second_half_whatever_the_warm_up_did() -> None:
    # Warm-up: 0 -> 100 MiB in the first 30 minutes; then 10 MiB per hour, plus noise that
    # cancels out (+0.5, -0.5 alternately on a line), up to minute 60.
    rows = [{"minute": float(m), "w": 100 * m / 30} for m in range(0, 30, 5)]
    rows += [
        {"minute": float(m), "w": 100 + 10 * (m - 30) / 60 + (0.5 if i % 2 else -0.5)}
        for i, m in enumerate(range(30, 61, 5))
    ]

    assert growth_per_hour(rows, "w") == pytest.approx(10.0, abs=0.5)
    assert growth_per_hour(rows[:1], "w") == 0.0  # one sample: nothing to fit


def test_the_command_line_has_the_issue_defaults() -> None:
    args = build_parser().parse_args([])

    assert (args.minutes, args.speed, args.symbols, args.bound_mib_per_hour) == (60, 10, 8, 5)
