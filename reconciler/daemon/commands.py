"""CLI subcommands: `reconciler daemon`, and `status` / `sync` clients of a running daemon.

`status` and `sync` mirror stoa-connect's `stoactl connect status|sync`: a table for people, `--json`
for machines. The bearer token comes from `RECONCILER_API_TOKEN` or `--token-file`, never from a
command-line value (it would show in `ps` and shell history).

Exit codes of these commands (never 2, which `plan --detailed-exitcode` uses for "changes present"):
0 ok, 1 a gateway or the source failed (or the daemon cannot be reached), 3 invalid settings, or
the daemon refused the request (token missing or wrong).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.daemon.fields import FLAGS, env_table, flags_epilog, flags_table

EXIT_OK, EXIT_FAILED, EXIT_SETTINGS = 0, 1, 3

TOKEN_HINT = "set RECONCILER_API_TOKEN (or --token-file FILE) to the daemon's API token"


def register_commands(subparsers: Any) -> None:
    """Called by `reconciler.cli` with its argparse subparsers."""
    daemon = subparsers.add_parser(
        "daemon", help="run the reconciler as a service (Git source, webhooks, drift detection)",
        description="Follow a Git branch (or a local directory) and keep every gateway of the repository\n"
                    "reconciled: apply each new commit, fetch on push webhooks and on a poll timer, check\n"
                    "for drift. Settings come from the flags below, RECONCILER_* environment variables and\n"
                    "--config (YAML), in that order of precedence.",
        epilog=flags_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    daemon.add_argument("--config", type=Path, default=None, help="YAML settings file (env vars and flags override it)")
    daemon.add_argument("--check", action="store_true",
                        help="validate the settings, fetch the source, load the repository and read every "
                             "gateway once (a plan, nothing applied); report and exit")
    daemon.add_argument("--settings-table", action="store_true",
                        help="print the README tables of flags and environment variables (Markdown) and exit")
    for flag in FLAGS:
        daemon.add_argument(flag.flag, dest=flag.dest, metavar=flag.metavar, default=None,
                            help=flag.help.replace("`", ""))
    daemon.set_defaults(func=cmd_daemon)
    for name, text in (("status", "show the state of every gateway of a running daemon"),
                       ("sync", "make a running daemon fetch and reconcile now")):
        sub = subparsers.add_parser(name, help=text)
        sub.add_argument("--url", default=os.environ.get("RECONCILER_URL", "http://127.0.0.1:8080"),
                         help="daemon base URL (default: $RECONCILER_URL or http://127.0.0.1:8080)")
        sub.add_argument("--token-file", type=Path, default=None,
                         help="file holding the API token (default: $RECONCILER_API_TOKEN)")
        sub.add_argument("--timeout", type=float, default=120.0)
        sub.add_argument("--json", action="store_true", help="print the daemon's JSON answer (for machines)")
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
    if args.settings_table:
        print(flags_table() + "\n\n" + env_table())
        return EXIT_OK
    from reconciler.daemon.settings import SettingsError, load_settings

    flags = {f.dest: getattr(args, f.dest) for f in FLAGS if getattr(args, f.dest) is not None}
    try:
        settings = load_settings(args.config, flags=flags)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    if args.check:
        from reconciler.daemon.check import run_check

        return run_check(settings)
    from reconciler.daemon.runner import run_daemon

    return run_daemon(settings, config_file=args.config, flags=flags)


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
        print(f"error: cannot reach the daemon at {args.url} ({type(exc).__name__}); "
              "is it running? (--url or RECONCILER_URL)", file=sys.stderr)
        return -1, None
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:200]}
    return response.status_code, body if isinstance(body, dict) else {"error": str(body)[:200]}


def _refused(code: int, body: dict[str, Any], token: bool) -> int:
    """An HTTP error answer: say what to fix, and exit with the code of a settings problem."""
    if code == 401:
        what = "the daemon refused the API token" if token else "the daemon asks for an API token"
        print(f"error: {what} (HTTP 401); {TOKEN_HINT}", file=sys.stderr)
        return EXIT_SETTINGS
    if code == 404:
        print(f"error: HTTP 404: {body.get('error', body)} (on the daemon's side)", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"error: HTTP {code}: {body.get('error', body)}", file=sys.stderr)
    return EXIT_FAILED


def iso(ts: Any) -> str:
    """An epoch time as ISO 8601 in UTC, to the second; '-' when unknown."""
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return "-"
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(commit: Any) -> str:
    return str(commit)[:12] if commit else "-"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _last_run(plan: dict[str, Any]) -> str:
    """`apply: 2 changed`, `detect: 1 differs`: the mode of the last run and what it found or did."""
    if not plan:
        return "-"
    n = len(plan.get("pending", []))
    return f"{plan.get('mode', '?')}: {n} {'differ' if plan.get('mode') == 'detect' else 'changed'}"


def render_status(body: dict[str, Any]) -> str:
    """`reconciler status` for people: the source, then one row per gateway, times in ISO 8601 (UTC)."""
    src = body.get("source") or {}
    where = f"{src.get('kind', '?')} {src.get('location', '?')}" + (f" ({src['branch']})" if src.get("branch") else "")
    lines = [f"source   {where}",
             f"         head {_short(src.get('head'))}, applying {_short(src.get('good_commit'))}, "
             f"last fetch {iso(src.get('last_fetch'))}"]
    if src.get("last_fetch_error"):
        lines.append(f"         fetch error: {src['last_fetch_error']}")
    invalid = src.get("invalid")
    if invalid:
        lines.append(f"         commit {_short(invalid.get('commit'))} is invalid (since {iso(invalid.get('at'))}); "
                     "gateways stay on the last good commit:")
        for err in invalid.get("errors", []):
            lines.append(f"           {err.get('file')}:{err.get('line') or ''}: {err.get('field')}: {err.get('message')}")
    paused = body.get("paused") or {}
    if paused.get("all"):
        lines.append("paused   the whole daemon (`reconciler resume` to lift): drift is detected, not healed")
    rows = [["GATEWAY", "TYPE", "HEALTHY", "COMMIT", "LAST SYNC", "DRIFT", "HOLD", "LAST RUN", "ERROR"]]
    for name, g in sorted((body.get("gateways") or {}).items()):
        healthy = {True: "yes", False: "no", None: "-"}.get(g.get("healthy"), "-")
        plan = g.get("last_plan") or {}
        error = g.get("last_error") or (g.get("health_error") if g.get("healthy") is False else None) or "-"
        rows.append([name, str(g.get("type", "?")), healthy, _short(g.get("last_commit")), iso(g.get("last_sync")),
                     str(g.get("drift", 0)), str(g.get("hold") or "-"), _last_run(plan), error])
    lines += ["", *_table(rows)] if len(rows) > 1 else ["", "no gateway yet"]
    coordination = body.get("coordination")
    if coordination:
        lines += ["", f"member   {coordination.get('member', '?')}"]
    return "\n".join(lines)


def render_sync(body: dict[str, Any]) -> str:
    """`reconciler sync` for people: the commit, then one line per gateway with its counts."""
    if body.get("accepted"):
        return "sync queued"
    lines = [f"synced commit {_short(body.get('commit'))} (head {_short(body.get('head'))})"]
    if body.get("fetch_error"):
        lines.append(f"fetch error: {body['fetch_error']}")
    if body.get("invalid"):
        lines.append("the head commit is invalid; gateways stay on the last good commit (see `reconciler status`)")
    rows = [["GATEWAY", "MODE", "RESULT", "CHANGES", "ERROR"]]
    gateways = body.get("gateways", [])
    for g in gateways:
        counts = ", ".join(f"{op} {n}" for op, n in sorted((g.get("counts") or {}).items())) or "-"
        rows.append([str(g.get("gateway", "?")), str(g.get("mode", "-")), "ok" if g.get("ok") else "FAILED", counts,
                     g.get("error") or "-"])
    if len(rows) > 1:
        header, *table = _table(rows)
        lines.append(header)
        for row, g in zip(table, gateways, strict=True):
            lines += [row, *(f"    {obj}" for obj in g.get("objects") or [])]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    code, body = _call(args, "GET", "/status")
    if code == -1:
        return EXIT_FAILED
    if code != 200:
        return _refused(code, body, _token(args) is not None)
    print(json.dumps(body, indent=2, sort_keys=True) if args.json else render_status(body))
    failing = [g for g in body.get("gateways", {}).values() if g.get("last_error") or g.get("healthy") is False]
    return EXIT_FAILED if failing or (body.get("source") or {}).get("invalid") else EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    code, body = _call(args, "POST", "/sync", None if args.no_wait else {"wait": "true"})
    if code == -1:
        return EXIT_FAILED
    if code in (200, 202, 409):
        print(json.dumps(body, indent=2, sort_keys=True) if args.json else render_sync(body))
        return EXIT_OK if code != 409 else EXIT_FAILED
    return _refused(code, body, _token(args) is not None)


def cmd_pause(args: argparse.Namespace) -> int:
    """`suspend` / `resume`: one line saying what is paused now (`--json`-free on purpose: it is a switch)."""
    code, body = _call(args, "POST", f"/{args.action}", {"gateway": args.gateway} if args.gateway else None)
    if code == -1:
        return EXIT_FAILED
    if code != 200:
        return _refused(code, body, _token(args) is not None)
    paused = body.get("paused") or {}
    what = "the whole daemon" if paused.get("all") else (", ".join(paused.get("gateways") or {}) or "nothing")
    print(f"{'suspended' if args.action == 'suspend' else 'resumed'}"
          f"{' ' + args.gateway if args.gateway else ''}; paused now: {what}")
    for name, why in sorted((body.get("holds") or {}).items()):
        print(f"  {name}: {why}")
    return EXIT_OK
