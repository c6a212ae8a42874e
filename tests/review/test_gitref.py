"""gitref: the desired state at a Git ref, read with pygit2 from real repositories made with the git CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.gitref import InvalidAtRef, RefError, load_at, materialised
from tests.conftest import git
from tests.review.conftest import BILLING, commit_all


def test_load_at_reads_the_ref_not_the_working_tree(git_repo: Path) -> None:
    base = git(git_repo, "rev-parse", "main")
    (git_repo / "apis" / "billing.yaml").write_text(BILLING)
    commit_all(git_repo, "add billing")
    (git_repo / "apis" / "orders.yaml").write_text("not: [valid")  # the working tree is never read
    at = load_at(git_repo, "main")
    assert at.commit == base and "billing" not in at.state.of_kind("API")
    assert "billing" in load_at(git_repo, "HEAD").state.of_kind("API")


def test_a_relative_openapi_file_resolves_as_at_the_ref(git_repo: Path) -> None:
    spec = git_repo / "openapi" / "pets.yaml"
    spec.write_text(spec.read_text().replace("title:", "title: changed-in-pr #", 1))
    commit_all(git_repo, "openapi edit")
    at_main, at_head = load_at(git_repo, "main").state, load_at(git_repo, "HEAD").state
    assert at_main.openapi["pets"] != at_head.openapi["pets"]
    assert "changed-in-pr" in str(at_head.openapi["pets"]) and "changed-in-pr" not in str(at_main.openapi["pets"])


def test_a_sub_path_is_read_at_the_same_place_in_the_tree(tmp_path: Path, git_repo: Path) -> None:
    outer = tmp_path / "mono"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    (outer / "README").write_text("monorepo\n")
    git_repo.rename(outer / "gitops")
    import shutil

    shutil.rmtree(outer / "gitops" / ".git")
    commit_all(outer, "base")
    with materialised(outer / "gitops", "main") as (root, _):
        assert (root / "reconciler.yaml").is_file() and not (root / "README").exists()
    assert "pets" in load_at(outer / "gitops", "main").state.of_kind("API")


def test_an_invalid_manifest_at_the_ref_is_named_with_the_ref(git_repo: Path) -> None:
    pets = git_repo / "apis" / "pets.yaml"
    pets.write_text(pets.read_text().replace("backend: https://petstore.example.com/v1", "backend: petstore"))
    commit_all(git_repo, "broken")
    with pytest.raises(InvalidAtRef) as caught:
        load_at(git_repo, "pr")
    assert caught.value.ref == "pr"
    assert [str(e) for e in caught.value.errors] == [f"{git_repo}@pr/apis/pets.yaml:12: spec.backend: not a URL"]


def test_unknown_ref_missing_path_and_no_repository_are_ref_errors(git_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(RefError, match="unknown Git ref 'nope'"):
        load_at(git_repo, "nope")
    (git_repo / "new").mkdir()
    (git_repo / "new" / "x.yaml").write_text("a: 1\n")
    with pytest.raises(RefError, match="does not exist at main"):
        load_at(git_repo / "new", "main")
    alone = tmp_path / "alone"
    alone.mkdir()
    with pytest.raises(RefError, match="not inside a Git repository"):
        load_at(alone, "main")
