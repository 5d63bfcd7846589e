"""What the log says of each valid revision of the shared overrides that a process applies
(controller.coordination.shared): the fields this release does not know (a newer agentdash
wrote them), and the names this config lacks (a newer config, a typo in `nats kv put`). Each
is said once, not again at every revision that still has it. And at start, the revisions not
valid that it passed by on its way to the newest valid one.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from controller.coordination.overrides import ORPHAN_GRACE_S
from controller.coordination.overrides_document import SharedDocument
from controller.core.config import Config
from controller.core.printable import printable
from controller.core.wording import span_words

log = logging.getLogger("agentdash.shared")


class Skipped(NamedTuple):
    """A revision not valid, passed by."""

    revision: int
    why: str


class RevisionNotes:
    """What the last revision applied had that this process cannot apply, as last said."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._said_ignored = ""
        """What the config lacks that the last revision applied named, as last said."""
        self._said_unknown = ""
        """The fields this release does not know that the last revision applied had."""

    def unknown(self, document: SharedDocument, revision: int) -> None:
        """Say the fields of `document` this release does not know, if new."""
        unknown = document.unknown()
        if unknown and unknown != self._said_unknown:  # once, as `ignored` below
            log.info(
                "overrides revision %d has fields this agentdash does not know, written by a "
                "newer agentdash: applied without them, and kept in what this process writes: %s",
                revision,
                printable(unknown[:500]),
            )
        self._said_unknown = unknown

    def ignored(self, document: SharedDocument, revision: int) -> str:
        """Say what `document` names that this config does not have, if new; what it names."""
        ignored = ", ".join(document.dropped(self._config))
        if ignored and ignored != self._said_ignored:
            # Another config (a newer one, a typo in `nats kv put`): said, not silently lost;
            # once, not again at every revision that still names it (a removed pool's pin
            # stays in the bucket, written back with every change, so that a rollout half done
            # keeps the new config's pins, until a leader whose config lacks it too drops it).
            log.warning(
                "overrides revision %d names what this config does not have; ignored: %s "
                "(a leader on this config drops it if still there in %s)",
                revision,
                printable(ignored[:500]),
                span_words(ORPHAN_GRACE_S),
            )
        self._said_ignored = ignored
        return ignored

    def skipped_at_start(self, skipped: list[Skipped], in_force: str) -> str:
        """Say the revisions not valid that a start passed by, newest first, and what is in
        force; what it said."""
        newest = skipped[0]
        which = f"revision {newest.revision}"
        if len(skipped) > 1:
            which = f"revisions {skipped[-1].revision} to {newest.revision} ({len(skipped)})"
        detail = f"{which} not valid ({newest.why}); in force: {in_force}"
        log.warning("overrides %s", detail)
        return detail
