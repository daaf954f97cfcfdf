from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Endpoint:
    addrs: list[tuple[str, int]]          # one address, or one per concurrent slot (RIE)
    path: str
    headers: dict = field(default_factory=dict)
    pids: list[int] = field(default_factory=list)   # roots of the process trees serving it
    wrap_event: bool = False              # body is sent as a function-URL event {"body": ...}
    unwrap_result: bool = False           # response is the handler's raw dict (statusCode/body)
    notes: str = ""
    # For a server that hosts several functions (Kiln): which descendant processes belong
    # to this endpoint's function. None = all descendants.
    member: Callable[[int], bool] | None = None
    # Pids the server lists as this endpoint's (Kiln: its containers and fork sources); they
    # count even when they are not in the roots' trees. None = the trees only.
    listed: Callable[[], set[int]] | None = None

    @property
    def url(self) -> str:
        h, p = self.addrs[0]
        return f"http://{h}:{p}{self.path}"


class Unavailable(Exception):
    """The system cannot run here; the message says why (it is reported, not fatal)."""
