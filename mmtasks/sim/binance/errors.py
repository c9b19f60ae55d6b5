"""Binance's error answers: an HTTP status, a negative code and a message, as Binance words them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BinanceError(Exception):
    """An error answer: `{"code": code, "msg": msg}` with an HTTP status and extra headers."""

    status: int
    code: int
    msg: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def bad_request(code: int, msg: str) -> BinanceError:
    return BinanceError(400, code, msg)


def missing(param: str) -> BinanceError:
    return bad_request(
        -1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed."
    )


def bad_param(param: str) -> BinanceError:
    return bad_request(-1100, f"Illegal characters found in parameter '{param}'.")


INVALID_SYMBOL = (-1121, "Invalid symbol.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
BAD_SIGNATURE = (-1022, "Signature for this request is not valid.")
AHEAD = (-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
OUTSIDE_WINDOW = (-1021, "Timestamp for this request is outside of the recvWindow.")
BAD_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
BAD_KEY_FORMAT = (-2014, "API-key format invalid.")
