"""Settings of the web process, read once from the environment at the edge."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mmtasks.connector.auth import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class WebSettings(BaseSettings):
    """What only the web process reads; the connections come from mmtasks.settings."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    token: str | None = Field(default=None, alias="WEB_TOKEN")
    # The dashboard's fleet view is computed at most this often, however many clients watch.
    view_ttl_s: float = Field(default=1.0, gt=0, alias="WEB_VIEW_TTL_S")
    # Price ticks on the WebSocket feed are sent at most this often per client.
    tick_every_s: float = Field(default=0.5, gt=0, alias="WEB_TICK_EVERY_S")
    # How often the workers are asked which queues they consume (a broadcast, ~1 s).
    consumers_every_s: float = Field(default=5.0, gt=0, alias="WEB_CONSUMERS_EVERY_S")


class BindRefused(Exception):
    """The web process must not serve on this address as configured."""


def check_bind(host: str, token: str | None) -> None:
    """Raise BindRefused when host is reachable from other machines and no token is set."""
    if not is_loopback(host) and not token:
        raise BindRefused(
            f"refusing to serve on {host}: it is reachable from other machines and WEB_TOKEN "
            "is not set. Set WEB_TOKEN (clients send 'Authorization: Bearer <token>' or "
            "?token=<token>), or bind to 127.0.0.1."
        )
