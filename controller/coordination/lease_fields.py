"""What a process that reads a Kubernetes Lease (controller.coordination.kube_lease) believes of
its holder and its duration. Anyone with the rights to write the Lease may write any value
there (a real API server keeps any string as holderIdentity, and an emulator or a proxy may
hand on any JSON at all):

- `spec.holderIdentity` missing, null or "" is no holder: the Lease is free (a release writes
  null). A holder's name as agentdash writes it (`valid_holder`) is that holder. Anything else
  (a number, an object, a list, true, a 10,000-character string, control characters) is a
  holder this process cannot name, and still a holder: a contender takes the Lease only once
  its duration has passed without a renewal, as from any holder, and a reader names no leader
  meanwhile (a name no holder has must not reach a log line, a dashboard or /healthz).
- `spec.leaseDurationSeconds` outside controller.coordination.lease_ttl's range is no TTL: the
  process's own stands in for it.

A refused value is said once, in one line naming the field and what was expected, until
another value is refused there or the field is valid again; each read that finds it is
counted (`agentdash_bad_messages_total{source="lease"}`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from controller.coordination.lease import HOLDER, valid_holder
from controller.coordination.lease_ttl import MAX_S, MIN_S, lease_seconds
from controller.core.bad_messages import BadMessages
from controller.core.printable import printable

log = logging.getLogger("agentdash.kube")

SHOWN_CHARS = 80
"""What a line quotes of a refused value."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a Lease: `name`, or None for a holder no process can name."""

    name: str | None

    @property
    def words(self) -> str:
        return self.name if self.name is not None else "a holder this process cannot name"


class LeaseFields:
    """The fields of one Lease as each answer gives them, checked. `what` names the Lease in
    its lines; `own_s` is this process's TTL, whole seconds."""

    def __init__(self, what: str, own_s: int, bad: BadMessages) -> None:
        self._what = what
        self._own_s = own_s
        self.bad = bad
        self._shown: dict[str, str] = {}
        """Per field, the refused value last said: said again only once it changes."""

    def holder(self, value: Any) -> Holder | None:
        """The holder `value` (a holderIdentity) names; None: the Lease is free."""
        if value is None or value == "":
            self._shown.pop("holderIdentity", None)
            return None
        if isinstance(value, str) and valid_holder(value):
            self._shown.pop("holderIdentity", None)
            return Holder(value)
        self._refuse(
            "holderIdentity",
            value,
            f"a holder's name matching {HOLDER.pattern}, or none",
            "held by a holder this process cannot name until its lease runs out",
        )
        return Holder(None)

    def duration(self, value: Any, holder: Holder) -> int:
        """The seconds `value` (a leaseDurationSeconds) gives `holder`'s lease, or this
        process's own where it is no TTL."""
        seconds = lease_seconds(value)
        if seconds is not None:
            self._shown.pop("leaseDurationSeconds", None)
            return seconds
        whose = "an unnamed holder" if holder.name is None else printable(holder.name)
        self._refuse(
            "leaseDurationSeconds",
            value,
            f"whole seconds from {MIN_S} to {MAX_S}",
            f"{whose}'s lease is judged by this process's --lease-ttl ({self._own_s} s)",
        )
        return self._own_s

    def _refuse(self, field: str, value: Any, expected: str, then: str) -> None:
        self.bad.count("lease")
        shown = _shown(value)
        if self._shown.get(field) == shown:
            return
        self._shown[field] = shown
        log.warning("%s: spec.%s is %s, expected %s; %s", self._what, field, shown, expected, then)


def _shown(value: Any) -> str:
    """`value` as a line may quote it: escaped, and cut."""
    text = printable(repr(value))
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
