"""The `reconciler comment` arguments, registered without importing httpx: `--help` stays fast."""

from __future__ import annotations

import argparse
from typing import Any


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
    p.set_defaults(func=_cmd_comment)


def _cmd_comment(args: argparse.Namespace) -> int:
    from reconciler.comment.command import cmd_comment

    return cmd_comment(args)
