"""The fidelity ledger of the webMethods emulator stays true: every rule names a test that exists,
a status, and the closing count adds up."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

LEDGER = ROOT / "reconciler" / "emulators" / "fidelity" / "webmethods.md"
FILES = {"E": "test_wm_emulator.py", "C": "test_wm_contract.py"}


def test_every_rule_has_a_source_or_unconfirmed_and_an_existing_test() -> None:
    text = LEDGER.read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    assert rows, "no rules"
    numbers = [int(r.split("|")[1]) for r in rows]
    assert numbers == list(range(1, len(rows) + 1))
    counts = {"cited": 0, "unconfirmed": 0}
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        number, _, source, tests, status = cells[0], cells[1], cells[-3], cells[-2], cells[-1]
        assert status in counts, row
        counts[status] += 1
        assert (source == "unconfirmed" or source.startswith("unconfirmed (")) == (status == "unconfirmed"), row
        named = re.findall(r"`(\w+|test_wm_\w+\.py)::(test_\w+)`", tests)
        assert named, f"rule {number} names no test"
        for prefix, test in named:
            path = Path(__file__).parent / FILES.get(prefix, prefix)
            assert f"def {test}(" in path.read_text(), f"rule {number}: {prefix}::{test} does not exist"
    assert text.rstrip().endswith(f"Rules: {counts['cited']} cited, {counts['unconfirmed']} unconfirmed.")
