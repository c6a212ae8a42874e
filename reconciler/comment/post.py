"""One comment per plan marker: update the one that carries the body's marker, else create it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from reconciler.comment.api import Comment, first_line, marker_of


class Thread(Protocol):
    """A pull request's (GitHub) or merge request's (GitLab) comments."""

    where: str

    def comments(self) -> Iterator[Comment]: ...
    def create(self, body: str) -> Comment: ...
    def update(self, comment_id: int, body: str) -> Comment: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Posted:
    action: Literal["created", "updated", "unchanged"]
    comment: Comment


def post_comment(thread: Thread, body: str) -> Posted:
    """The first comment whose first line is the body's marker is edited (left alone when already equal);
    comments without it, or with another path's marker, are never touched."""
    marker = marker_of(body)
    for comment in thread.comments():
        if first_line(comment.body) == marker:
            if comment.body.replace("\r\n", "\n").rstrip("\n") == body.rstrip("\n"):
                return Posted("unchanged", comment)
            return Posted("updated", thread.update(comment.id, body))
    return Posted("created", thread.create(body))
