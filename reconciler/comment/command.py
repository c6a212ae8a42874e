"""`reconciler comment --github|--gitlab [--body FILE|-]`: argparse wiring and exit codes (0 posted, 1 error)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from reconciler.comment.api import CommentError
from reconciler.comment.post import Posted, Thread, post_comment

EXIT_OK, EXIT_ERROR = 0, 1


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
