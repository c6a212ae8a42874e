"""A loopback server answering as GitHub's and GitLab's documented comment endpoints do.

Only what `reconciler comment` calls, with the documented shapes: list (paginated at a small page size so
a thread of a few comments already spans pages), create, update, and the documented error bodies.

GitHub (https://docs.github.com/en/rest/issues/comments,
https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api,
https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api):
  GET/POST /repos/{o}/{r}/issues/{n}/comments, PATCH /repos/{o}/{r}/issues/comments/{id};
  `Link: <...&page=2>; rel="next", <...>; rel="last"` while pages remain;
  401 {"message": "Bad credentials"}, 403 {"message": "Resource not accessible by integration"},
  404 {"message": "Not Found"}, 422 {"message": "Validation Failed", "errors": [{"resource": "IssueComment",
  "code": "unprocessable", "field": "data", "message": "Body is too long (maximum is 65536 characters)"}]},
  each with "documentation_url" and "status"; 429 with Retry-After on a rate limit.
GitLab (https://docs.gitlab.com/api/notes/#merge-requests, https://docs.gitlab.com/api/rest/#pagination,
https://docs.gitlab.com/api/rest/troubleshooting/#status-codes):
  GET/POST /api/v4/projects/{id}/merge_requests/{iid}/notes, PUT .../notes/{note_id}; `{id}` an ID or a
  URL-encoded path; X-Page, X-Per-Page, X-Next-Page (empty on the last page), X-Total, X-Total-Pages, Link;
  401 {"message": "401 Unauthorized"}, 403 {"message": "403 Forbidden"}, 404 {"message": "404 Project Not
  Found"} / "404 Merge Request Not Found", 400 for a note over 1,000,000 characters; GitLab adds system notes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.conftest import free_port

GITHUB_LIMIT = 65_536
GITLAB_LIMIT = 1_000_000
DOCS = "https://docs.github.com/rest/issues/comments"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None


@dataclass
class Platforms:
    """The state behind both fakes; tests seed threads and ask for failures."""

    token: str
    page_size: int = 2
    github: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    gitlab: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    gitlab_paths: dict[str, str] = field(default_factory=dict)  # "group/name" -> project ID
    read_only: bool = False  # a token that may read but not write: 403 on POST/PATCH/PUT
    gitlab_links: bool = True  # False: only the X-Next-Page headers tell the next page
    rate_limited: list[float] = field(default_factory=list)  # Retry-After of the next requests' 429s
    failures: list[int] = field(default_factory=list)  # statuses the next requests answer (e.g. 502)
    write_failures: list[int] = field(default_factory=list)  # statuses the next POST/PATCH/PUT answer
    seen: list[Seen] = field(default_factory=list)
    base_url: str = ""
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def seed_github(self, repository: str, number: int, *bodies: str) -> list[dict[str, Any]]:
        thread = self.github.setdefault((repository, number), [])
        for body in bodies:
            cid = self.new_id()
            thread.append({"id": cid, "body": body, "user": {"login": "someone"},
                           "html_url": f"https://github.com/{repository}/pull/{number}#issuecomment-{cid}"})
        return thread

    def seed_gitlab(self, project_id: str, iid: int, *bodies: str, system: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        thread = self.gitlab.setdefault((project_id, iid), [])
        for text in system:
            thread.append({"id": self.new_id(), "body": text, "system": True, "noteable_type": "MergeRequest"})
        for body in bodies:
            thread.append({"id": self.new_id(), "body": body, "system": False, "noteable_type": "MergeRequest"})
        return thread

    def writes(self) -> list[Seen]:
        return [s for s in self.seen if s.method != "GET"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        query = parse_qs(parts.query)
        with state._lock:
            state.seen.append(Seen(self.command, parts.path, query, {k.lower(): v for k, v in self.headers.items()}, body))
            if state.rate_limited:
                wait = state.rate_limited.pop(0)
                return self._send(429, {"message": "API rate limit exceeded", "documentation_url": DOCS, "status": "429"},
                                  {"Retry-After": f"{wait:g}"})
            if state.failures or (state.write_failures and self.command != "GET"):
                status = (state.failures or state.write_failures).pop(0)
                return self._send(status, {"message": "Server Error"})
            if parts.path.startswith("/api/v4/"):
                return self._gitlab(state, parts.path, query, body)
            return self._github(state, parts.path, query, body)

    # ---------------------------------------------------------------- GitHub
    def _gh_error(self, status: int, message: str, doc: str, errors: list[dict[str, str]] | None = None) -> None:
        payload: dict[str, Any] = {"message": message, "documentation_url": f"{DOCS}#{doc}", "status": str(status)}
        if errors is not None:
            payload["errors"] = errors
        self._send(status, payload)

    def _github(self, state: Platforms, path: str, query: dict[str, list[str]], body: Any) -> None:
        if self.headers.get("Authorization") not in (f"Bearer {state.token}", f"token {state.token}"):
            return self._send(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                                    "status": "401"})
        segments = path.strip("/").split("/")
        if len(segments) == 6 and segments[0] == "repos" and segments[3] == "issues" and segments[5] == "comments":
            repository, number = f"{segments[1]}/{segments[2]}", segments[4]
            thread = state.github.get((repository, int(number))) if number.isdigit() else None
            if thread is None:
                return self._gh_error(404, "Not Found", "list-issue-comments")
            if self.command == "GET":
                return self._github_page(state, path, query, thread)
            if self.command == "POST":
                return self._github_write(state, thread, None, body, repository, int(number))
        if len(segments) == 6 and segments[0] == "repos" and segments[3:5] == ["issues", "comments"] \
                and self.command == "PATCH":
            repository = f"{segments[1]}/{segments[2]}"
            for (repo, number), thread in state.github.items():
                found = next((c for c in thread if repo == repository and str(c["id"]) == segments[5]), None)
                if found is not None:
                    return self._github_write(state, thread, found, body, repository, number)
            return self._gh_error(404, "Not Found", "update-an-issue-comment")
        return self._gh_error(404, "Not Found", "")

    def _github_page(self, state: Platforms, path: str, query: dict[str, list[str]], thread: list[dict[str, Any]]) -> None:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100, state.page_size)
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(thread) // per_page))
        items = thread[(page - 1) * per_page: page * per_page]
        links = []
        base = f"{state.base_url}{path}?per_page={query.get('per_page', ['30'])[0]}"
        if page < last:
            links += [f'<{base}&page={page + 1}>; rel="next"', f'<{base}&page={last}>; rel="last"']
        if page > 1:
            links += [f'<{base}&page={page - 1}>; rel="prev"', f'<{base}&page=1>; rel="first"']
        self._send(200, items, {"Link": ", ".join(links)} if links else None)

    def _github_write(self, state: Platforms, thread: list[dict[str, Any]], found: dict[str, Any] | None, body: Any,
                      repository: str, number: int) -> None:
        doc = "create-an-issue-comment" if found is None else "update-an-issue-comment"
        if state.read_only:
            return self._gh_error(403, "Resource not accessible by integration", doc)
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return self._gh_error(422, "Invalid request.\n\n\"body\" wasn't supplied.", doc)
        if len(text) > GITHUB_LIMIT:
            return self._gh_error(422, "Validation Failed", doc, [{
                "resource": "IssueComment", "code": "unprocessable", "field": "data",
                "message": f"Body is too long (maximum is {GITHUB_LIMIT} characters)"}])
        if found is None:
            cid = state.new_id()
            found = {"id": cid, "user": {"login": "github-actions[bot]"},
                     "html_url": f"https://github.com/{repository}/pull/{number}#issuecomment-{cid}"}
            thread.append(found)
        found["body"] = text
        self._send(201 if self.command == "POST" else 200, found)

    # ---------------------------------------------------------------- GitLab
    def _gitlab(self, state: Platforms, path: str, query: dict[str, list[str]], body: Any) -> None:
        if self.headers.get("PRIVATE-TOKEN") != state.token:
            return self._send(401, {"message": "401 Unauthorized"})
        # the raw path keeps %2F inside a project path as one segment
        segments = path[len("/api/v4/"):].strip("/").split("/")
        if len(segments) < 5 or segments[0] != "projects" or segments[2] != "merge_requests" or segments[4] != "notes":
            return self._send(404, {"message": "404 Not Found"})
        project = unquote(segments[1])
        project = state.gitlab_paths.get(project, project)
        if not any(key[0] == project for key in state.gitlab):
            return self._send(404, {"message": "404 Project Not Found"})
        thread = state.gitlab.get((project, int(segments[3]))) if segments[3].isdigit() else None
        if thread is None:
            return self._send(404, {"message": "404 Merge Request Not Found"})
        if len(segments) == 5 and self.command == "GET":
            return self._gitlab_page(state, path, query, thread)
        if len(segments) == 5 and self.command == "POST":
            return self._gitlab_write(state, thread, None, body)
        if len(segments) == 6 and self.command == "PUT":
            found = next((n for n in thread if str(n["id"]) == segments[5]), None)
            if found is None:
                return self._send(404, {"message": "404 Note Not Found"})
            return self._gitlab_write(state, thread, found, body)
        return self._send(405, {"message": "405 Method Not Allowed"})

    def _gitlab_page(self, state: Platforms, path: str, query: dict[str, list[str]], thread: list[dict[str, Any]]) -> None:
        per_page = min(int(query.get("per_page", ["20"])[0]), 100, state.page_size)
        page = int(query.get("page", ["1"])[0])
        ordered = thread if query.get("sort", ["desc"])[0] == "asc" else list(reversed(thread))
        last = max(1, -(-len(ordered) // per_page))
        headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(ordered)),
                   "X-Total-Pages": str(last), "X-Next-Page": str(page + 1) if page < last else "",
                   "X-Prev-Page": str(page - 1) if page > 1 else ""}
        if state.gitlab_links:
            keep = "&".join(f"{k}={v[0]}" for k, v in sorted(query.items()) if k != "page")
            base = f"{state.base_url}{path}?{keep}"
            links = [f'<{base}&page={page + 1}>; rel="next"'] if page < last else []
            links += [f'<{base}&page=1>; rel="first"', f'<{base}&page={last}>; rel="last"']
            headers["Link"] = ", ".join(links)
        self._send(200, ordered[(page - 1) * per_page: page * per_page], headers)

    def _gitlab_write(self, state: Platforms, thread: list[dict[str, Any]], found: dict[str, Any] | None, body: Any) -> None:
        if state.read_only:
            return self._send(403, {"message": "403 Forbidden"})
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return self._send(400, {"message": "400 (Bad request) \"body\" not given"})
        if len(text) > GITLAB_LIMIT:
            return self._send(400, {"message": "400 (Bad request) \"Note {:note=>[\"is too long (maximum is "
                                               f"{GITLAB_LIMIT} characters)\"]}}\" not given"})
        if found is None:
            found = {"id": state.new_id(), "system": False, "noteable_type": "MergeRequest"}
            thread.append(found)
        found["body"] = text
        self._send(201 if self.command == "POST" else 200, found)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: Platforms, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


@contextmanager
def serve(token: str, **options: Any) -> Iterator[Platforms]:
    state = Platforms(token=token, **options)
    server = _Server(state, free_port())
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
