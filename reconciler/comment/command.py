"""`reconciler comment --github|--gitlab [--body FILE|-]`: argparse wiring and exit codes (0 posted, 1 error)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any

from reconciler.comment.api import CommentError
from reconciler.comment.post import Posted, Thread, post_comment

EXIT_OK, EXIT_ERROR = 0, 1


def _number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expects a pull/merge request number, got {text!r}")
    return int(text)


def register_command(sub: Any) -> None:
    p = sub.add_parser("comment", help="post a plan's markdown as one PR/MR comment, updated in place")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--github", action="store_true", help="a GitHub pull request (GITHUB_TOKEN)")
    which.add_argument("--gitlab", action="store_true", help="a GitLab merge request (GITLAB_TOKEN, else CI_JOB_TOKEN)")
    p.add_argument("--body", default="-", metavar="FILE",
                   help="the markdown of `reconciler plan --format markdown` (default -: stdin)")
    p.add_argument("--pr", type=_number, metavar="N",
                   help="pull request number / merge request IID (default: GITHUB_EVENT_PATH, CI_MERGE_REQUEST_IID)")
    p.add_argument("--repository", metavar="OWNER/NAME", help="GitHub repository (default: GITHUB_REPOSITORY)")
    p.add_argument("--project", metavar="ID", help="GitLab project ID or path (default: CI_PROJECT_ID)")
    p.add_argument("--api-url", metavar="URL", help="API root (default: GITHUB_API_URL or api.github.com; CI_API_V4_URL)")
    p.add_argument("--token-env", metavar="VAR", help="read the token from this variable (default: GITHUB_TOKEN; GITLAB_TOKEN)")
    p.set_defaults(func=cmd_comment)


def _body(source: str) -> str:
    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    except OSError as exc:
        raise CommentError(f"cannot read the comment body {source}: {exc.strerror or exc}") from None
    if not text.strip():
        raise CommentError(f"the comment body ({'stdin' if source == '-' else source}) is empty")
    return text


def _thread(args: argparse.Namespace) -> Thread:
    env = os.environ
    if args.github:
        from reconciler.comment import github

        gh = github.target_from_env(env, pr=args.pr, repository=args.repository, api_url=args.api_url,
                                    token_env=args.token_env)
        return github.GitHubThread(gh, _token(env, gh.token_env))
    from reconciler.comment import gitlab

    gl = gitlab.target_from_env(env, pr=args.pr, project=args.project, api_url=args.api_url, token_env=args.token_env)
    return gitlab.GitLabThread(gl, _token(env, gl.token_env))


def _token(env: Mapping[str, str], name: str) -> str:
    token = env.get(name, "").strip()
    if not token:
        raise CommentError(f"no token: the environment variable {name} is not set")
    return token


def cmd_comment(args: argparse.Namespace) -> int:
    try:
        body = _body(args.body)
        thread = _thread(args)
        try:
            posted: Posted = post_comment(thread, body)
        finally:
            thread.close()
    except CommentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    where = f" ({posted.comment.url})" if posted.comment.url else ""
    print(f"{posted.action} comment {posted.comment.id} on {thread.where}{where}")
    return EXIT_OK
