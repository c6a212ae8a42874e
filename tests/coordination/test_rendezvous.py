"""Rendezvous assignment: every key has exactly one owner, and membership changes move only a share."""

from __future__ import annotations

import pytest

from reconciler.coordination.rendezvous import assign, ordinal, owned_by, owner, shard_members

KEYS = [f"gateway-{i}" for i in range(600)]
MEMBERS = ["daemon-a", "daemon-b", "daemon-c", "daemon-d"]


def test_every_key_has_one_owner_among_the_members_and_the_order_does_not_matter() -> None:
    table = assign(KEYS, MEMBERS)
    assert set(table) == set(KEYS) and set(table.values()) <= set(MEMBERS)
    assert table == assign(KEYS, list(reversed(MEMBERS)))
    shares = [owned_by(m, KEYS, MEMBERS) for m in MEMBERS]
    assert sum(len(s) for s in shares) == len(KEYS)
    assert frozenset().union(*shares) == frozenset(KEYS)


def test_the_load_is_spread_roughly_evenly() -> None:
    counts = [len(owned_by(m, KEYS, MEMBERS)) for m in MEMBERS]
    assert min(counts) > len(KEYS) / len(MEMBERS) * 0.7, counts


def test_a_member_leaving_moves_only_its_own_keys() -> None:
    before = assign(KEYS, MEMBERS)
    after = assign(KEYS, [m for m in MEMBERS if m != "daemon-b"])
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == "daemon-b"}
    assert moved  # it owned something


def test_a_member_joining_takes_only_keys_and_only_for_itself() -> None:
    before = assign(KEYS, MEMBERS)
    after = assign(KEYS, [*MEMBERS, "daemon-e"])
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved and all(after[k] == "daemon-e" for k in moved)
    assert len(moved) < len(KEYS) / 3  # about a fifth


def test_no_members_no_owner_and_an_outsider_owns_nothing() -> None:
    assert assign(KEYS, []) == {} and owner("x", []) is None
    assert owned_by("stranger", KEYS, MEMBERS) == frozenset()


def test_static_shards_and_statefulset_ordinals() -> None:
    assert shard_members(3) == ("0", "1", "2")
    assert ordinal("stoa-reconciler-2") == 2 and ordinal("a-b-10") == 10
    with pytest.raises(ValueError, match="does not end in -N"):
        ordinal("laptop")
    shards = [owned_by(s, KEYS, shard_members(3)) for s in shard_members(3)]
    assert sum(len(s) for s in shards) == len(KEYS) and all(shards)
