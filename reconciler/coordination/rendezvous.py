"""Who owns which gateway: rendezvous (highest-random-weight) hashing, and static StatefulSet shards.

Pure functions. Rendezvous hashing gives each (member, gateway) pair a pseudo-random weight and hands
the gateway to the heaviest member: when a member joins it takes only the gateways it now outweighs,
when one leaves only its own gateways move, and every member computes the same answer from the same
member list without talking to the others.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_ORDINAL = re.compile(r"^(?P<name>.+)-(?P<ordinal>\d+)$")


def weight(member: str, key: str) -> int:
    """The weight of `member` for `key`: stable across processes and Python versions (no `hash()`)."""
    digest = hashlib.blake2b(f"{member}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, members: Iterable[str]) -> str | None:
    """The member that owns `key` (None: no member). Ties, astronomically rare, go to the smaller name."""
    best: tuple[int, str] | None = None
    for member in members:
        candidate = (weight(member, key), member)
        if best is None or candidate[0] > best[0] or (candidate[0] == best[0] and member < best[1]):
            best = candidate
    return None if best is None else best[1]


def assign(keys: Iterable[str], members: Iterable[str]) -> dict[str, str]:
    """key -> owning member, for every key (empty when there is no member)."""
    pool = sorted(set(members))
    if not pool:
        return {}
    return {key: owner(key, pool) or pool[0] for key in keys}


def owned_by(member: str, keys: Iterable[str], members: Iterable[str]) -> frozenset[str]:
    """The keys `member` owns among `members` (nothing when it is not one of them)."""
    pool = set(members)
    if member not in pool:
        return frozenset()
    return frozenset(k for k, m in assign(keys, pool).items() if m == member)


def shard_members(total: int) -> tuple[str, ...]:
    """The member names of a static sharding in `total` shards: "0" … "total-1"."""
    return tuple(str(i) for i in range(total))


def ordinal(hostname: str) -> int:
    """A StatefulSet pod's ordinal from its hostname `name-N`; ValueError for any other shape."""
    found = _ORDINAL.match(hostname.strip())
    if found is None:
        raise ValueError(f"hostname {hostname!r} does not end in -N (a StatefulSet pod's ordinal)")
    return int(found["ordinal"])
