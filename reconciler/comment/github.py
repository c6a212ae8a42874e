"""A pull request's comments through GitHub's REST API (issue comments: every pull request is an issue).

- list: `GET /repos/{owner}/{repo}/issues/{n}/comments?per_page=100`, next page from the `Link` header
- create: `POST /repos/{owner}/{repo}/issues/{n}/comments` (201), update: `PATCH .../issues/comments/{id}` (200)
- auth `Authorization: Bearer TOKEN`, `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`
- errors: `{"message", "documentation_url", "status"}`, 422 adds `errors` (a body over 65,536 characters:
  "Body is too long (maximum is 65536 characters)")

https://docs.github.com/en/rest/issues/comments
https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api
https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/store-information-in-variables#default-environment-variables
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.comment.api import MAX_PAGES, Api, Comment, CommentError, status_text

DEFAULT_API = "https://api.github.com"
API_VERSION = "2022-11-28"
TOKEN_ENV = "GITHUB_TOKEN"


@dataclass(frozen=True)
class GitHubTarget:
    api_url: str
    repository: str
    number: int
    token_env: str = TOKEN_ENV

    @property
    def where(self) -> str:
        return f"{self.repository}#{self.number}"


def target_from_env(env: Mapping[str, str], *, pr: int | None = None, repository: str | None = None,
                    api_url: str | None = None, token_env: str | None = None) -> GitHubTarget:
    """Options first, then what GitHub Actions sets: GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH."""
    repository = repository or env.get("GITHUB_REPOSITORY", "")
    if repository.count("/") != 1 or not all(repository.split("/")):
        raise CommentError("GitHub: no repository: pass --repository OWNER/NAME or set GITHUB_REPOSITORY"
                           + (f" (got {repository!r})" if repository else ""))
    number = pr if pr is not None else _event_pr(env.get("GITHUB_EVENT_PATH", ""))
    if number is None:
        raise CommentError("GitHub: no pull request number: pass --pr N, or run on a pull_request event "
                           "(GITHUB_EVENT_PATH's pull_request.number)")
    return GitHubTarget(api_url=(api_url or env.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/"),
                        repository=repository, number=number, token_env=token_env or TOKEN_ENV)


def _event_pr(path: str) -> int | None:
    if not path:
        return None
    try:
        event: Any = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number") if isinstance(event, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


class GitHubThread:
    """The comments of one pull request."""

    def __init__(self, target: GitHubTarget, token: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.target = target
        self.where = f"GitHub pull request {target.where}"
        owner, name = (quote(part, safe="") for part in target.repository.split("/"))
        self._issue = f"/repos/{owner}/{name}/issues"
        self._api = Api("GitHub", target.api_url, {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "stoa-reconciler",
        }, token, sleep=sleep)

    def close(self) -> None:
        self._api.close()

    def comments(self) -> Iterator[Comment]:
        url: str | None = f"{self._issue}/{self.target.number}/comments"
        params: dict[str, str | int] | None = {"per_page": 100}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._checked(self._api.request("GET", url, params=params), 200)
            for item in response.json():
                yield _comment(item)
            url, params = response.links.get("next", {}).get("url"), None
            if url is not None and not self._api.same_origin(url):
                raise CommentError(f"GitHub: the next page is on another host ({url.split('?')[0]}); not sending the token there")
        raise CommentError(f"GitHub: more than {MAX_PAGES} pages of comments on {self.target.where}")

    def create(self, body: str) -> Comment:
        response = self._api.request("POST", f"{self._issue}/{self.target.number}/comments", json={"body": body})
        return _comment(self._checked(response, 201).json())

    def update(self, comment_id: int, body: str) -> Comment:
        response = self._api.request("PATCH", f"{self._issue}/comments/{comment_id}", json={"body": body})
        return _comment(self._checked(response, 200).json())

    def _checked(self, response: httpx.Response, expected: int) -> httpx.Response:
        status = response.status_code
        if status == expected:
            return response
        detail = self._api.scrub(status_text(response))
        t = self.target
        if status == 401:
            raise CommentError(f"GitHub refused the token in {t.token_env} ({detail}): it is wrong, expired or revoked")
        if status == 403:
            raise CommentError(f"GitHub refused the token in {t.token_env} access to {t.where} ({detail}): in Actions, "
                               "give the job `permissions: pull-requests: write`; a fine-grained token needs "
                               "Pull requests: write on the repository")
        if status == 404:
            raise CommentError(f"GitHub: repository {t.repository} or pull request #{t.number} not found ({detail}); check "
                               f"--repository/GITHUB_REPOSITORY, --pr, and that the token in {t.token_env} can read it")
        if status == 422:
            raise CommentError(f"GitHub rejected the comment on {t.where} ({detail})")
        raise CommentError(f"GitHub: {response.request.method} {response.request.url.path} answered {detail}")


def _comment(item: Any) -> Comment:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise CommentError("GitHub: a comment without an id in the answer")
    return Comment(id=item["id"], body=str(item.get("body") or ""), url=item.get("html_url"))
