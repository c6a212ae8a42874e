"""An order for writes to a field the gateway keeps unique (a base path, a name): pure, no I/O.

A batch that swaps the paths of two APIs fails on every apply when both updates run at once or in
either order: each new path is still held by the other. `order_moves` lets an object wait for the one
whose current value it takes, and breaks each cycle by parking one member at a temporary value first
(one more write). The same steps give the plan's notes, so the plan says what the apply will do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """`park`: move `names[0]` to a temporary value; `write`: these objects, all at once."""

    action: str
    names: tuple[str, ...]


def order_moves(current: Mapping[str, str | None], wanted: Mapping[str, str | None],
                clash: Callable[[str, str], bool]) -> list[Step]:
    """Steps writing every object of `wanted` (name -> new value; None: unchanged or not a unique field).

    `current` is each object's live value (None for a create). An object waits for every other object
    of the batch whose current value clashes with its new one and that moves away; a cycle of waits is
    broken by parking its first member (by name), which then holds no value until its own write.
    """
    holders = {n: v for n, v in current.items() if v is not None and wanted.get(n) not in (None, v)}
    waits = {n: {o for o, held in holders.items() if o != n and new is not None and new != current.get(n)
                 and clash(new, held)}
             for n, new in wanted.items()}
    steps: list[Step] = []
    done: set[str] = set()
    parked: set[str] = set()
    while len(done) < len(waits):
        ready = sorted(n for n in waits if n not in done and not (waits[n] - done - parked))
        if ready:
            steps.append(Step("write", tuple(ready)))
            done.update(ready)
            continue
        # Every one left waits: some wait in a cycle. Park the first blocker that someone waits on.
        blockers = sorted({b for n in waits if n not in done for b in waits[n] - done - parked})
        steps.append(Step("park", (blockers[0],)))
        parked.add(blockers[0])
    return steps


def parked(steps: list[Step]) -> list[str]:
    return [s.names[0] for s in steps if s.action == "park"]


def path_clash(a: str, b: str) -> bool:
    """Two listener paths clash when one is a prefix of the other (`/pets/` and `/pets/v2/`)."""
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)
