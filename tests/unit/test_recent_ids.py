"""The ccxt venue remembers the client ids of its newest orders only (a trade lacks its own)."""

from __future__ import annotations

import pickle

from mmtasks.venues.ccxt.core import RecentIds


def test_past_its_size_the_oldest_order_is_forgotten_and_a_refreshed_one_counts_as_new() -> None:
    # Arrange: room for three orders.
    ids = RecentIds(kept=3)
    for n in (1, 2, 3):
        ids[f"o{n}"] = f"c{n}"

    # Act: o1 is seen again (an update of it), then a fourth order arrives.
    ids["o1"] = "c1"
    ids["o4"] = "c4"

    # Assert: o2, the oldest seen, is forgotten; the rest keep their client ids.
    assert dict(ids) == {"o3": "c3", "o1": "c1", "o4": "c4"}


def test_it_survives_a_pickle_round_trip_with_its_size() -> None:
    ids = RecentIds(kept=2)
    ids["o1"], ids["o2"] = "c1", "c2"

    again = pickle.loads(pickle.dumps(ids))

    assert (list(again.items()), again.kept) == ([("o1", "c1"), ("o2", "c2")], 2)
