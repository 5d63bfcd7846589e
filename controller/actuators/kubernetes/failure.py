"""How a call to the Kubernetes API failed, in words a person can act on: what was asked,
what the server said (its status, and Retry-After if it asked for a pause), or that no
answer came, or that the request was never sent (`ApiFailure`); and what one call's tries
add up to when it ends (`Tries`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import aiohttp

RETRYABLE = frozenset({429, 500, 502, 503, 504})
"""429: the API server's own flow control; 5xx: passing. Not 409: it refuses a write fenced
by a resourceVersion that is no longer current (or a name taken), and the same request asked
again gets the same answer; the caller must read again and decide again."""

NO_ANSWER = "no answer in time"


class ApiFailure(Exception):
    """An API request that did not succeed. `status` is None when no answer came at all.

    `sent`: False when the request never left this process (its turn in the budget came too
    late, or never): nothing changed. `in_doubt`: a write that was sent and not answered (by
    its deadline, or its connection broke): it may have been applied."""

    def __init__(
        self,
        what: str,
        status: int | None,
        message: str,
        retry_after: float | None = None,
        *,
        sent: bool = True,
        in_doubt: bool = False,
    ) -> None:
        self.what = what
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.sent = sent
        self.in_doubt = in_doubt
        code = "" if status is None else f"{status} "
        if status is not None and retry_after is not None:
            code = f"{status} Retry-After {retry_after:g}: "
        super().__init__(f"{what}: {code}{message}")

    @property
    def retryable(self) -> bool:
        return self.sent and (self.status is None or self.status in RETRYABLE)

    @property
    def cut_off(self) -> bool:
        """Sent, and no answer came, or the API server did not know who sent it (401): what
        another process, with its own connection and token, may well not meet."""
        return self.sent and (self.status is None or self.status == 401)

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    def doubted(self) -> ApiFailure:
        """The same failure, for a call one of whose tries went unanswered."""
        if self.in_doubt:
            return self
        return ApiFailure(
            self.what, self.status, self.message, self.retry_after, sent=True, in_doubt=True
        )


@dataclass(slots=True)
class Tries:
    """One call's tries so far: what its failure must say."""

    what: str
    end: float
    """The deadline, on the event loop's clock."""
    span: float
    """How long the call was given."""
    write: bool
    one: bool
    """About one object (not a list)."""
    sent: bool = False
    in_flight: bool = False
    unanswered: bool = False
    """A try was sent and never answered: a write may have been applied."""
    answered: ApiFailure | None = None
    """The last try's failing answer, if one came."""

    def too_late(self, left: float, round_trip: float) -> ApiFailure:
        return ApiFailure(
            self.what,
            None,
            f"not sent: its turn came with {max(left, 0.0):.2g} s of its {self.span:.2g} s "
            f"deadline left (an answer takes about {round_trip:.2g} s)",
            sent=False,
        )

    def cut(self) -> ApiFailure:
        """The deadline ended the call: what is known by then."""
        self.unanswered |= self.in_flight
        doubt = self.write and self.unanswered
        if self.answered is not None:  # the server's own answer says more than the cut
            return self.last(self.answered)
        if not self.sent:
            message = (
                f"not sent: no turn in the client's budget within its {self.span:.2g} s deadline"
            )
            return ApiFailure(self.what, None, message, sent=False)
        message = f"no answer within the {self.span:.2g} s deadline"
        return ApiFailure(self.what, None, message, in_doubt=doubt)

    def last(self, failure: ApiFailure) -> ApiFailure:
        """The call's failure, as its last try's answer says."""
        return failure.doubted() if self.write and self.unanswered else failure


def no_answer(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return NO_ANSWER
    return f"cannot reach the API server ({str(exc) or type(exc).__name__})"


def failure_of(what: str, response: aiohttp.ClientResponse, body: bytes) -> ApiFailure:
    message = response.reason or "error"
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict) and parsed.get("message"):
        message = str(parsed["message"])
    elif body:
        message = body[:200].decode("utf-8", "replace").strip() or message
    return ApiFailure(what, response.status, message, _seconds(response.headers.get("Retry-After")))


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from the API server, and the backoff covers it
