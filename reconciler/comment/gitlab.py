"""A merge request's notes through GitLab's REST API (v4).

- list: `GET /projects/{id}/merge_requests/{iid}/notes?per_page=100&sort=asc&order_by=created_at`, next page
  from `Link` rel="next" or `X-Next-Page` (empty on the last page)
- create: `POST .../notes` (201), update: `PUT .../notes/{note_id}` (200)
- auth `PRIVATE-TOKEN` (a personal/project access token with the `api` scope) or `JOB-TOKEN` (CI_JOB_TOKEN)
- errors: `{"message": ...}` ("401 Unauthorized", "403 Forbidden", "404 Project Not Found"); a note over
  1,000,000 characters is a 400 ("Note {:note=>[\"is too long (maximum is 1000000 characters)\"]}")
- `{id}` is the project's ID or its URL-encoded path

https://docs.gitlab.com/api/notes/#merge-requests
https://docs.gitlab.com/api/rest/#pagination
https://docs.gitlab.com/api/rest/troubleshooting/#status-codes
https://docs.gitlab.com/ci/variables/predefined_variables/
https://docs.gitlab.com/ci/jobs/ci_job_token/ (the endpoints a job token reaches: merge request notes are not among them)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.comment.api import MAX_PAGES, Api, Comment, CommentError, status_text

TOKEN_ENV = "GITLAB_TOKEN"
JOB_TOKEN_ENV = "CI_JOB_TOKEN"


@dataclass(frozen=True)
class GitLabTarget:
    api_url: str
    project: str
    iid: int
    token_env: str = TOKEN_ENV

    @property
    def where(self) -> str:
        return f"{self.project}!{self.iid}"


def target_from_env(env: Mapping[str, str], *, pr: int | None = None, project: str | None = None,
                    api_url: str | None = None, token_env: str | None = None) -> GitLabTarget:
    """Options first, then GitLab CI's predefined variables: CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID."""
    api = api_url or env.get("CI_API_V4_URL", "")
    if not api:
        raise CommentError("GitLab: no API URL: pass --api-url https://HOST/api/v4 or set CI_API_V4_URL")
    project = project or env.get("CI_PROJECT_ID", "")
    if not project:
        raise CommentError("GitLab: no project: pass --project ID|GROUP/NAME or set CI_PROJECT_ID")
    iid = pr
    if iid is None:
        text = env.get("CI_MERGE_REQUEST_IID", "")
        if not text.isdigit():
            raise CommentError("GitLab: no merge request: pass --pr IID, or run in a merge request pipeline "
                               "(CI_MERGE_REQUEST_IID)")
        iid = int(text)
    if token_env is None:  # a token of our own first; the job's token if that is all there is
        token_env = TOKEN_ENV if env.get(TOKEN_ENV) or not env.get(JOB_TOKEN_ENV) else JOB_TOKEN_ENV
    return GitLabTarget(api_url=api.rstrip("/"), project=project, iid=iid, token_env=token_env)


class GitLabThread:
    """The notes of one merge request."""

    def __init__(self, target: GitLabTarget, token: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.target = target
        self.where = f"GitLab merge request {target.where}"
        self._notes = f"/projects/{quote(target.project, safe='')}/merge_requests/{target.iid}/notes"
        header = "JOB-TOKEN" if target.token_env == JOB_TOKEN_ENV else "PRIVATE-TOKEN"
        self._api = Api("GitLab", target.api_url, {header: token, "User-Agent": "stoa-reconciler"}, token, sleep=sleep)

    def close(self) -> None:
        self._api.close()

    def comments(self) -> Iterator[Comment]:
        url = self._notes
        params: dict[str, str | int] | None = {"per_page": 100, "sort": "asc", "order_by": "created_at"}
        for _ in range(MAX_PAGES):
            response = self._checked(self._api.request("GET", url, params=params), 200)
            for item in response.json():
                if isinstance(item, dict) and not item.get("system"):  # "added 1 commit": GitLab's own notes
                    yield _note(item)
            link = response.links.get("next", {}).get("url")
            following = response.headers.get("x-next-page", "").strip()
            if link is not None:
                if not self._api.same_origin(link):
                    raise CommentError(f"GitLab: the next page is on another host ({link.split('?')[0]}); "
                                       "not sending the token there")
                url, params = link, None
            elif following.isdigit():
                params = {"per_page": 100, "sort": "asc", "order_by": "created_at", "page": int(following)}
            else:
                return
        raise CommentError(f"GitLab: more than {MAX_PAGES} pages of notes on {self.target.where}")

    def create(self, body: str) -> Comment:
        return _note(self._checked(self._api.request("POST", self._notes, json={"body": body}), 201).json())

    def update(self, comment_id: int, body: str) -> Comment:
        response = self._api.request("PUT", f"{self._notes}/{comment_id}", json={"body": body})
        return _note(self._checked(response, 200).json())

    def _checked(self, response: httpx.Response, expected: int) -> httpx.Response:
        status = response.status_code
        if status == expected:
            return response
        detail = self._api.scrub(status_text(response))
        t = self.target
        if status == 401:
            raise CommentError(f"GitLab refused the token in {t.token_env} ({detail}): it is wrong, expired or revoked")
        if status == 403:
            raise CommentError(f"GitLab refused the token in {t.token_env} access to {t.where} ({detail}): use a "
                               f"project or personal access token with the api scope in {TOKEN_ENV} "
                               "(a CI_JOB_TOKEN cannot write merge request notes)")
        if status == 404:
            raise CommentError(f"GitLab: project {t.project} or merge request !{t.iid} not found ({detail}); check "
                               "--project/CI_PROJECT_ID, --pr/CI_MERGE_REQUEST_IID, and that the token in "
                               f"{t.token_env} can read it")
        if status in (400, 422):
            raise CommentError(f"GitLab rejected the note on {t.where} ({detail})")
        raise CommentError(f"GitLab: {response.request.method} {response.request.url.path} answered {detail}")


def _note(item: Any) -> Comment:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise CommentError("GitLab: a note without an id in the answer")
    return Comment(id=item["id"], body=str(item.get("body") or ""))
