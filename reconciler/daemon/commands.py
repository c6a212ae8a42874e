"""CLI subcommands: `reconciler daemon`, and `status` / `sync` clients of a running daemon.

`status` and `sync` mirror stoa-connect's `stoactl connect status|sync`. The bearer token comes
from `RECONCILER_API_TOKEN` or `--token-file`, never from a command-line value (it would show in
`ps` and shell history).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def register_commands(subparsers: Any) -> None:
    """Called by `reconciler.cli` with its argparse subparsers."""
    daemon = subparsers.add_parser(
        "daemon", help="run the reconciler as a service (Git source, webhooks, drift detection)",
        description="Settings come from --config (YAML) and RECONCILER_* environment variables (see the README).")
    daemon.add_argument("--config", type=Path, default=None, help="YAML settings file (env vars override it)")
    daemon.add_argument("--check", action="store_true", help="validate the settings and exit")
    daemon.set_defaults(func=cmd_daemon)
    for name, text in (("status", "show the last plan of every gateway of a running daemon"),
                       ("sync", "make a running daemon fetch and reconcile now")):
        sub = subparsers.add_parser(name, help=text)
        sub.add_argument("--url", default=os.environ.get("RECONCILER_URL", "http://127.0.0.1:8080"),
                         help="daemon base URL (default: $RECONCILER_URL or http://127.0.0.1:8080)")
        sub.add_argument("--token-file", type=Path, default=None,
                         help="file holding the API token (default: $RECONCILER_API_TOKEN)")
        sub.add_argument("--timeout", type=float, default=120.0)
        if name == "sync":
            sub.add_argument("--no-wait", action="store_true", help="return once the sync is queued")
        sub.set_defaults(func=cmd_status if name == "status" else cmd_sync)
    _register_pause(subparsers)


def _register_pause(subparsers: Any) -> None:
    """`reconciler suspend|resume --url URL [--gateway NAME]` (Flux: `flux suspend|resume`)."""
    for name, text in (("suspend", "pause a running daemon's applies (all gateways, or --gateway); drift is "
                                   "still detected and reported"),
                       ("resume", "lift a pause made with `reconciler suspend` and reconcile at once")):
        sub = subparsers.add_parser(name, help=text, description=text + ". A gateway with `spec.suspend: true` "
                                    "in Git stays suspended until that commit is reverted.")
        sub.add_argument("--url", default=os.environ.get("RECONCILER_URL", "http://127.0.0.1:8080"),
                         help="daemon base URL (default: $RECONCILER_URL or http://127.0.0.1:8080)")
        sub.add_argument("--token-file", type=Path, default=None,
                         help="file holding the API token (default: $RECONCILER_API_TOKEN)")
        sub.add_argument("--gateway", metavar="NAME", default=None, help="only this gateway (default: the whole daemon)")
        sub.add_argument("--timeout", type=float, default=30.0)
        sub.set_defaults(func=cmd_pause, action=name)


def cmd_daemon(args: argparse.Namespace) -> int:
    from reconciler.daemon.runner import run_daemon
    from reconciler.daemon.settings import SettingsError, load_settings

    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.check:
        print("settings OK")
        return EXIT_OK
    return run_daemon(settings, config_file=args.config)


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file is not None:
        try:
            return str(args.token_file.read_text()).strip()
        except OSError as exc:
            raise SystemExit(f"error: cannot read {args.token_file}: {exc.strerror}") from None
    return os.environ.get("RECONCILER_API_TOKEN") or None


def _call(args: argparse.Namespace, method: str, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
    import httpx  # here, not at import: `reconciler --help` must not pay for the HTTP stack

    token = _token(args)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=args.url.rstrip("/"), timeout=args.timeout) as client:
            response = client.request(method, path, headers=headers, params=params)
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {args.url}: {type(exc).__name__}", file=sys.stderr)
        return -1, None
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:200]}
    return response.status_code, body


def cmd_status(args: argparse.Namespace) -> int:
    code, body = _call(args, "GET", "/status")
    if code == -1:
        return EXIT_ERROR
    if code != 200:
        print(f"error: HTTP {code}: {body.get('error', body)}", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(body, indent=2, sort_keys=True))
    failing = [g for g in body.get("gateways", {}).values() if g.get("last_error") or g.get("healthy") is False]
    return EXIT_FAILED if failing or (body.get("source") or {}).get("invalid") else EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    code, body = _call(args, "POST", "/sync", None if args.no_wait else {"wait": "true"})
    if code == -1:
        return EXIT_ERROR
    if code in (200, 202, 409):
        print(json.dumps(body, indent=2, sort_keys=True))
        return EXIT_OK if code != 409 else EXIT_FAILED
    print(f"error: HTTP {code}: {body.get('error', body)}", file=sys.stderr)
    return EXIT_ERROR


def cmd_pause(args: argparse.Namespace) -> int:
    """`suspend` / `resume`: one line saying what is paused now (`--json`-free on purpose: it is a switch)."""
    code, body = _call(args, "POST", f"/{args.action}", {"gateway": args.gateway} if args.gateway else None)
    if code == -1:
        return EXIT_ERROR
    if code != 200:
        print(f"error: HTTP {code}: {body.get('error', body)}", file=sys.stderr)
        return EXIT_ERROR
    paused = body.get("paused") or {}
    what = "the whole daemon" if paused.get("all") else (", ".join(paused.get("gateways") or {}) or "nothing")
    print(f"{'suspended' if args.action == 'suspend' else 'resumed'}"
          f"{' ' + args.gateway if args.gateway else ''}; paused now: {what}")
    for name, why in sorted((body.get("holds") or {}).items()):
        print(f"  {name}: {why}")
    return EXIT_OK
