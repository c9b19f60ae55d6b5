"""A connector that fails its probe for good (the venue refuses the keys) is a failed probe, not
a failed risk run: that is when symbols go to ERROR, and the run, its latency record and the
alerts that follow it must go on (`mmtasks.beat.fleet_risk`)."""

from __future__ import annotations

from typing import Any

from mmtasks.celery import app
from mmtasks.errors import VenueAuthError
from mmtasks.risk.engine import probe_connector, run_risk
from mmtasks.state.keys import RISK_LATENCY
from tests.kit.desk import Desk


class RefusedKeys:
    """The venue as a connector whose venue refuses the API keys answers it."""

    def __init__(self, venue: Any) -> None:
        self._venue = venue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def account(self) -> Any:
        raise VenueAuthError("GetAccount: the venue refused the API key (check its permissions)")


def test_a_probe_refused_for_good_counts_as_the_timeout_and_the_risk_run_goes_on(
    desk: Desk,
) -> None:
    # Arrange: the connector answers, its venue refuses the keys.
    desk.rt._exchange = RefusedKeys(desk.rt._exchange)

    # Act
    ms, error = probe_connector(desk.rt)
    run_risk(desk.rt, app)  # raised VenueAuthError before

    # Assert: the probe failed as a timeout would (the connector is no use), saying why; the
    # risk run completed (it raised before) and recorded that latency, once, for the
    # connector-latency rule.
    assert ms == desk.rt.settings.connector_timeout_s * 1000
    assert error.startswith("VenueAuthError")
    recorded = [_text(m).split(":", 1)[0] for m in desk.rt.redis.zrange(RISK_LATENCY, 0, -1)]
    assert recorded == [str(int(ms))]


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member
