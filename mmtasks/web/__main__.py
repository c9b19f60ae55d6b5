"""`python -m mmtasks.web [--host H] [--port P]`: serve the dashboard and the fleet's endpoints."""

from __future__ import annotations

import argparse
import sys

from mmtasks.logging_setup import configure
from mmtasks.web.config import DEFAULT_HOST, DEFAULT_PORT, BindRefused, WebSettings, check_bind


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mmtasks.web",
        description="Read-only web view of the fleet: dashboard at /, /health, /status, "
        "/metrics, /ws. Reads REDIS_URL, DATABASE_URL, CONNECTOR_ADDR; WEB_TOKEN is required "
        "when bound to anything but loopback.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, ... (default $LOG_LEVEL)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Check the bind, then serve until stopped; return the exit code."""
    args = parse_args(argv)
    web = WebSettings()
    try:
        check_bind(args.host, web.token)
    except BindRefused as exc:
        print(f"mmtasks.web: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from mmtasks.celery import app as celery_app
    from mmtasks.settings import get_settings
    from mmtasks.web.app import create_app

    settings = get_settings()
    level = (args.log_level or settings.log_level).upper()
    configure(level)
    app = create_app(settings, web, celery_app)
    print(f"mmtasks web on http://{args.host}:{args.port}/", flush=True)
    # log_config None: uvicorn's lines go to the root logger, in the trading format.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=level.lower(),
        access_log=False,
        log_config=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
