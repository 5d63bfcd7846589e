"""The rights the API server refuses this process, as /healthz lists them.

A 403 names what was refused in RBAC's own terms (`cannot patch resource "pods" in API group
""`): that right is kept, with the server's words, until a request of the same kind succeeds
(an operator granted it). Whether a refusal holds pools is said elsewhere (the pool's problem,
controller.runtime.health); this is the list an operator fixes a Role from, one line a right,
refusals that hold nothing included (`create events`: the scales go on, unexplained).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

_RBAC = re.compile(r'cannot (\w+) resource "([^"]+)" in API group "([^"]*)"')
SHOWN = 20
"""The most rights kept: a Role stripped bare still gives a short page."""


def right_of(message: str, request: Callable[..., Any]) -> str:
    """`patch pods`, `patch deployments/scale (apps)`: from the server's words where they
    name it, else from the client's method (`create_namespaced_event` -> `create event`)."""
    found = _RBAC.search(message)
    if found is not None:
        verb, resource, group = found.groups()
        return f"{verb} {resource}" + (f" ({group})" if group else "")
    name = getattr(request, "__name__", None) or getattr(
        getattr(request, "func", None), "__name__", ""
    )
    verb, _, rest = str(name).removesuffix("_without_preload_content").partition("_")
    return f"{verb} {rest.removeprefix('namespaced_')}".strip()


class Refusals:
    def __init__(self) -> None:
        self.refused: dict[str, str] = {}
        """Right -> what the API server said when it refused it, until granted."""
        self._right_of: dict[Any, str] = {}
        """Each client method's right, as last refused (to clear it when one succeeds)."""

    def refuse(
        self,
        request: Callable[..., Any],
        message: str,
        watch: bool = False,
        scope: tuple[str, ...] = (),
    ) -> None:
        right = right_of(message, request)
        self._right_of[_key(request, watch, scope)] = right
        if right in self.refused or len(self.refused) < SHOWN:
            self.refused[right] = message

    def grant(
        self, request: Callable[..., Any], watch: bool = False, scope: tuple[str, ...] = ()
    ) -> None:
        """A request of this kind succeeded on this `scope` (its namespace and the object it
        names): whatever was refused to it there is granted now."""
        key = _key(request, watch, scope)
        right = self._right_of.pop(key, None) if self._right_of else None
        if right is not None:
            self.refused.pop(right, None)


def _key(request: Callable[..., Any], watch: bool, scope: tuple[str, ...]) -> Any:
    """One key a kind of request. A partial is its method and what it binds: the custom
    objects' one method lists ScaledObjects and (on old clusters) HPAs, refused apart. A watch
    is the list method with `watch=True`, and RBAC grants `watch` apart from `list`: a list
    that succeeds does not grant the watch refused. A Role is a namespace's, and may name its
    objects: a list read in one namespace does not grant what another (with no Role, a typo
    in the config) refused, nor a scale of one Deployment that of another."""
    if isinstance(request, functools.partial):
        return (request.func, tuple(sorted(request.keywords.items())), watch, scope)
    return (request, watch, scope)
