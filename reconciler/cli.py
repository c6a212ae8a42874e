"""The `reconciler` command: validate, plan, apply, show, diff, schema, emulate, export, demo (and the daemon).

Exit codes follow Terraform: 0 success (no changes), 1 error, 2 changes present (only with
`--detailed-exitcode`). A plan with a gateway that could not be read is incomplete: it exits 1, never
0 or 2, and so does a usage error (argparse's own 2 would read as "changes"). `apply` exits non-zero
when any resource or gateway failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from reconciler import __version__

if TYPE_CHECKING:
    from reconciler.gitref import InvalidAtRef
    from reconciler.runner import ApplyOutcome, RunOptions

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
T = TypeVar("T")
MAX_DELETES = 1_000_000
"""The largest --max-deletes / maxDeletes accepted: anything above is a typo, not a policy."""


class _Parser(argparse.ArgumentParser):
    """argparse exiting 1 on a usage error: 2 means "changes present" under --detailed-exitcode."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _max_deletes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects an integer (-1: no limit), got {text!r}") from None
    if value < -1 or value > MAX_DELETES:
        raise argparse.ArgumentTypeError(f"expects -1 (no limit) or 0 to {MAX_DELETES}, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects seconds, got {text!r}") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"expects 0 to 86400 seconds, got {text}")
    return value


def _endpoints(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise SystemExit(f"error: --endpoint expects NAME=http(s)://HOST:PORT, got {value!r}")
        out[name] = url
    return out


def _options(args: argparse.Namespace) -> object:
    from reconciler.runner import RunOptions

    return RunOptions(
        gateways=frozenset(args.gateway) if args.gateway else None,
        endpoints=_endpoints(args.endpoint or []),
        adopt=args.adopt,
        max_deletes=args.max_deletes,
        prune=False if args.no_prune else None,
        targets=_targets(args),
        # a suspended gateway (spec.suspend) is skipped unless --gateway names it (Flux: suspended
        # objects are not reconciled; naming one is the deliberate manual override)
        keep_suspended=frozenset(args.gateway or ()),
    )


def _print_validation(exc: Exception) -> int:
    errors = getattr(exc, "errors", [])
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"{len(errors)} error(s); nothing was planned or applied.", file=sys.stderr)
    return EXIT_ERROR


def _colour(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_color", False) and sys.stdout.isatty() and "NO_COLOR" not in os.environ


# ------------------------------------------------------------------------------------ commands
def _run(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, with the result handed out of the loop in a box: the main task's own result is
    None, so nothing on the way out (Python 3.11 formats the task) walks a 90,000-object plan."""
    import asyncio  # noqa: PLC0415 - not on `--help`'s path (about a third of its imports)

    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]


def cmd_validate(args: argparse.Namespace) -> int:
    from reconciler.engine.canonical import desired_records
    from reconciler.manifests.loader import ValidationFailed, load
    from reconciler.runner import capability_errors

    try:
        state = load(Path(args.path))
    except ValidationFailed as exc:
        return _print_validation(exc)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    refused = capability_errors(state)
    if refused:
        return _print_validation(ValidationFailed(refused))
    records = desired_records(state, {})
    counts = {kind: len(docs) for kind, docs in sorted(state.documents.items())}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no documents"
    print(f"{args.path}: valid ({summary}; {sum(len(r) for r in records.values())} gateway objects, owner "
          f"{state.settings.owner!r})")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from reconciler.gitref import InvalidAtRef
    from reconciler.output import render
    from reconciler.runner import ValidationFailed, plan_repo

    try:
        if args.base or args.changed_since:
            plan = _review_plan(args)
        else:
            plan = _run(plan_repo(Path(args.path), _options(args)))  # type: ignore[arg-type]
    except ValidationFailed as exc:
        return _print_validation(exc)
    except (FileNotFoundError, LookupError) as exc:  # LookupError: gitref.RefError (unknown ref, no repo)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except InvalidAtRef as exc:
        return _print_invalid_ref(exc)
    if args.out:
        Path(args.out).write_text(json.dumps(render.plan_json(plan), indent=2, sort_keys=True) + "\n")
    if args.format == "json":
        print(json.dumps(render.plan_json(plan), indent=2, sort_keys=True))
    elif args.format == "markdown":
        print(render.plan_markdown(plan, repo=args.path, commit=_head_commit(Path(args.path))))
    else:
        print(render.plan_text(plan, colour=_colour(args), verbose=args.verbose))
        if args.out:
            print(f"\nSaved the plan to {args.out}: apply it with `reconciler apply {args.out}`.")
    if plan.failed:  # a refused plan, or an incomplete one: never "no changes" (0) nor "changes" (2)
        return EXIT_ERROR
    if args.detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _head_commit(path: Path) -> str | None:
    """HEAD of the Git checkout holding `path`, for the PR comment's header (None: not a checkout)."""
    from reconciler.gitref import head_commit

    return head_commit(path)


def _confirm() -> bool:
    """Terraform's prompt: only "yes" approves. It reads stdin whether or not it is a terminal, so
    `echo yes | reconciler apply repo` works; no answer at all (end of input) declines."""
    try:
        answer: str | None = input("\nDo you want to apply these changes? Only 'yes' will be accepted: ")
    except (EOFError, OSError, ValueError):  # end of input, or no readable stdin (closed, a test runner's)
        answer = None
    if answer is None:
        print("\nerror: apply needs confirmation: no answer on stdin; answer 'yes' or pass --auto-approve",
              file=sys.stderr)
        return False
    return answer.strip() == "yes"


class _Interrupts:
    """Signal-safe apply: SIGTERM or a first Ctrl-C stop new writes, let in-flight requests finish
    (at most `GRACE` seconds), and the per-resource report of what was written is printed; a second
    Ctrl-C aborts at once. Armed only once writes may start (after the confirmation prompt)."""

    GRACE = 30.0

    def __init__(self) -> None:
        import asyncio  # noqa: PLC0415 - see _run

        self.stop = asyncio.Event()
        self.received: str | None = None
        self.aborted = False
        self._task: asyncio.Task[object] | None = None

    def arm(self) -> None:
        import asyncio  # noqa: PLC0415 - see _run

        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if self.stop.is_set():
            if sig == signal.SIGINT and self._task is not None:
                self.aborted = True
                self._task.cancel()
            return
        self.received = name
        self.stop.set()
        print(f"\n{name}: starting no new writes; finishing the requests in flight (Ctrl-C again to abort)",
              file=sys.stderr, flush=True)
        if self._task is not None:
            self._task.get_loop().call_later(self.GRACE, self._abort_late)

    def _abort_late(self) -> None:
        if self._task is not None and not self._task.done():
            self.aborted = True
            self._task.cancel()


def _coordinated(args: argparse.Namespace, options: RunOptions,
                 run: Callable[[RunOptions], Coroutine[Any, Any, ApplyOutcome]]) -> ApplyOutcome:
    """Run an apply; with RECONCILER_ETCD_URL set, holding the etcd write lock of every gateway it touches."""
    if not os.environ.get("RECONCILER_ETCD_URL", "").strip():
        return _run(run(options))
    from reconciler.coordination.connection import Connection
    from reconciler.coordination.locks import LockInfo, apply_locks

    connection = Connection.from_env()  # RECONCILER_ETCD_CA/_CERT/_KEY/_USER/_PASSWORD, as the daemon reads them

    def waiting(info: LockInfo) -> None:
        print(f"waiting for the lock of gateway {info.gateway} (held by {info.holder} for {info.age():.1f}s; "
              f"--lock-timeout {args.lock_timeout:g})", file=sys.stderr, flush=True)

    async def go() -> ApplyOutcome:
        async with apply_locks(connection, prefix=os.environ.get("RECONCILER_ETCD_PREFIX", "/stoa-reconciler"),
                               ttl=int(os.environ.get("RECONCILER_MEMBER_TTL", "10") or 10),
                               timeout=args.lock_timeout, on_wait=waiting) as locks:
            return await run(dataclasses.replace(options, guard=locks))

    return _run(go())


def cmd_apply(args: argparse.Namespace) -> int:
    from reconciler.coordination.errors import CoordinationError

    target = Path(args.path)
    interrupts = _Interrupts()
    base: RunOptions = _options(args)  # type: ignore[assignment]
    if args.target and target.suffix == ".json":
        print("error: --target limits a plan; a saved plan is applied as it was planned (plan it with --target)",
              file=sys.stderr)
        return EXIT_ERROR
    if args.changed_since:
        selected = _changed_since(args, base)
        if isinstance(selected, int):
            return selected
        base = selected
    options = dataclasses.replace(base, stop=interrupts.stop)
    try:
        return _apply(args, target, interrupts, options)
    except CoordinationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _apply(args: argparse.Namespace, target: Path, interrupts: _Interrupts, options: RunOptions) -> int:
    from asyncio import CancelledError  # noqa: PLC0415 - see _run

    from reconciler.output import render
    from reconciler.runner import RepoPlan, ValidationFailed, apply_repo, apply_saved

    try:
        if target.is_file() and target.suffix == ".json":
            try:
                saved = render.plan_from_json(json.loads(target.read_text()))
            except (ValueError, KeyError) as exc:
                print(f"error: {target}: not a saved plan: {exc}", file=sys.stderr)
                return EXIT_ERROR
            print(render.plan_text(saved, colour=_colour(args)))
            if not saved.has_changes:
                return EXIT_ERROR if saved.failed else EXIT_OK  # an incomplete plan is no success
            if not args.auto_approve and not _confirm():
                print("Apply cancelled; nothing was changed.", file=sys.stderr)
                return EXIT_ERROR
            root = Path(args.repo) if args.repo else Path.cwd()
            shown = len(saved.errors)
            async def go(opts: RunOptions) -> ApplyOutcome:
                interrupts.arm()
                return await apply_saved(saved, root, opts)

            outcome: ApplyOutcome = _coordinated(args, options, go)
            for error in outcome.plan.errors[shown:]:  # found while applying: not in the plan printed above
                print(f"error: {error}", file=sys.stderr)
        else:
            def approve(plan: RepoPlan) -> bool:
                print(render.plan_text(plan, colour=_colour(args)))
                if plan.errors or not plan.has_changes:
                    return True  # nothing will be written: the runner refuses a plan with errors
                if args.auto_approve or _confirm():  # an incomplete plan still writes to the other gateways: ask
                    interrupts.arm()
                    return True
                return False

            outcome = _coordinated(args, options, lambda opts: apply_repo(target, opts, approve=approve))
            if outcome.declined:
                print("Apply cancelled; nothing was changed.", file=sys.stderr)
                return EXIT_ERROR
    except ValidationFailed as exc:
        return _print_validation(exc)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except CancelledError:
        print("Aborted while requests were in flight: the report is lost; run `reconciler plan` to see where "
              "the gateways stand (the next apply converges).", file=sys.stderr)
        return EXIT_ERROR
    if outcome.plan.errors:
        print("\nNothing was applied.", file=sys.stderr)
        return EXIT_ERROR
    print()
    if args.format == "json":
        print(json.dumps(render.report_json(outcome.reports), indent=2, sort_keys=True))
    else:
        print(render.report_text(outcome.reports, outcome.plan))
    if interrupts.received is not None:
        print(f"Interrupted by {interrupts.received}: what is reported applied was written; the rest was not "
              "started. Run apply again to finish.", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_ERROR if outcome.failed else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from reconciler.manifests.schema import all_schemas, write_schemas

    if args.write:
        written = write_schemas(Path(args.write))
        for path in written:
            print(f"wrote {path}")
        return EXIT_OK
    schemas = all_schemas()
    if args.kind:
        if args.kind not in schemas:
            print(f"error: unknown schema {args.kind!r} (have: {', '.join(sorted(schemas))})", file=sys.stderr)
            return EXIT_ERROR
        print(json.dumps(schemas[args.kind], indent=2, sort_keys=True))
    else:
        print(json.dumps(schemas, indent=2, sort_keys=True))
    return EXIT_OK


def cmd_emulate(args: argparse.Namespace) -> int:
    from reconciler.emulators import emulator_class

    try:
        cls = emulator_class(args.type)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    creds: dict[str, str] = {}
    for key, env_name in (("token", args.token_env), ("username", args.username_env), ("password", args.password_env)):
        if env_name:
            value = os.environ.get(env_name)
            if not value:
                print(f"error: environment variable {env_name} is not set", file=sys.stderr)
                return EXIT_ERROR
            creds[key] = value
    options: dict[str, object] = {}
    for item in args.option or []:
        key, _, value = item.partition("=")
        options[key] = value
    if args.mode:
        options["mode"] = args.mode
    emulator = cls.from_credentials(creds, options)
    print(f"{args.type} emulator on http://127.0.0.1:{args.port} (Ctrl-C to stop)", flush=True)
    emulator.serve_forever(args.port)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from reconciler.runner import RunOptions, ValidationFailed, build_adapters

    options = RunOptions(gateways=frozenset([args.gateway]), endpoints=_endpoints(args.endpoint or []))
    try:
        adapters = build_adapters(Path(args.path), options)
    except ValidationFailed as exc:
        return _print_validation(exc)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.gateway not in adapters:
        print(f"error: unknown gateway {args.gateway!r}", file=sys.stderr)
        return EXIT_ERROR
    adapter = adapters[args.gateway]
    if not adapter.can_export:
        print(f"error: gateway {args.gateway!r} (type {adapter.gateway_type}) cannot export an archive: "
              f"Not supported by {adapter.gateway_type}", file=sys.stderr)
        return EXIT_ERROR

    async def run() -> object:
        async with adapter:
            return await adapter.export_archive()

    result = _run(run())
    data = getattr(result, "data", None) or {}
    if not getattr(result, "success", False) or not isinstance(data.get("content"), bytes):
        print(f"error: export failed: {getattr(result, 'error', 'no content')}", file=sys.stderr)
        return EXIT_ERROR
    Path(args.output).write_bytes(data["content"])
    print(f"wrote {args.output} ({len(data['content'])} bytes) from gateway {args.gateway}")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Read a live gateway and write its objects as manifests; a report of what was not written."""
    from reconciler.importer.documents import Selection
    from reconciler.importer.report import import_text
    from reconciler.importer.run import ImportFailed, ImportRequest, import_gateway
    from reconciler.manifests.loader import ValidationFailed
    from reconciler.runner import RunOptions

    request = ImportRequest(Path(args.path), args.gateway, Path(args.out) if args.out else None,
                            Selection(unowned_only=args.unowned, owner=args.owner, names=tuple(args.name or ())),
                            force=args.force)
    try:
        result, written = _run(import_gateway(request, RunOptions(endpoints=_endpoints(args.endpoint or []))))
    except ValidationFailed as exc:
        return _print_validation(exc)
    except (ImportFailed, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(import_text(result, request.target, written, repo=request.repo))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from reconciler.demo import run_demo

    return run_demo(Path(args.repo) if args.repo else None)


# ------------------------------------------------------------------------------------ review (#14)
def _target(text: str) -> tuple[str, str]:
    from reconciler.engine.review import parse_target

    try:
        return parse_target(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _targets(args: argparse.Namespace) -> frozenset[tuple[str, str]] | None:
    targets = getattr(args, "target", None)
    return frozenset(targets) if targets else None


def _print_invalid_ref(exc: InvalidAtRef) -> int:
    """The manifests at a compared ref are invalid: say it is that ref, then every error."""
    print(f"error: the manifests at the base ref {exc.ref} ({exc.commit[:12]}) are not valid:", file=sys.stderr)
    return _print_validation(exc)


def _review_plan(args: argparse.Namespace) -> Any:
    from reconciler.review import plan_review

    return _run(plan_review(Path(args.path), _options(args), base=args.base,  # type: ignore[arg-type]
                            changed_since=args.changed_since))


def _changed_since(args: argparse.Namespace, options: RunOptions) -> RunOptions | int:
    """`apply --changed-since REF`: the options limited to the changed gateways (the others said), or an exit code."""
    from reconciler.gitref import InvalidAtRef, load_at
    from reconciler.review import load_head, select_changed
    from reconciler.runner import ValidationFailed

    if Path(args.path).suffix == ".json":
        print("error: --changed-since applies a repo, not a saved plan (plan it with --changed-since)", file=sys.stderr)
        return EXIT_ERROR
    try:
        selection = select_changed(load_head(Path(args.path)), load_at(Path(args.path), args.changed_since), options)
    except ValidationFailed as exc:
        return _print_validation(exc)
    except (FileNotFoundError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except InvalidAtRef as exc:
        return _print_invalid_ref(exc)
    for name, why in sorted(selection.skipped.items()):
        print(f"Skipped gateway {name}: {why}", file=sys.stderr)
    return selection.options


def cmd_show(args: argparse.Namespace) -> int:
    from reconciler.output import render

    try:
        plan = render.plan_from_json(json.loads(Path(args.plan).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {args.plan}: not a saved plan: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "json":
        print(json.dumps(render.plan_json(plan), indent=2, sort_keys=True))
    elif args.format == "markdown":
        print(render.plan_markdown(plan), end="")
    else:
        print(render.plan_text(plan, colour=_colour(args), verbose=args.verbose))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from reconciler.gitref import InvalidAtRef
    from reconciler.output import diff as rendered
    from reconciler.review import diff_refs
    from reconciler.runner import ValidationFailed

    try:
        found = diff_refs(Path(args.path), args.source, args.to)
    except ValidationFailed as exc:  # the working tree
        return _print_validation(exc)
    except (FileNotFoundError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except InvalidAtRef as exc:
        print(f"error: the manifests at {exc.ref} ({exc.commit[:12]}) are not valid:", file=sys.stderr)
        return _print_validation(exc)
    if args.format == "json":
        print(json.dumps(rendered.diff_json(found), indent=2, sort_keys=True))
    elif args.format == "markdown":
        print(rendered.diff_markdown(found), end="")
    else:
        print(rendered.diff_text(found))
    return EXIT_CHANGES if args.detailed_exitcode and found.has_changes else EXIT_OK


def _add_review_options(p: argparse.ArgumentParser, *, base: bool) -> None:
    if base:
        p.add_argument("--base", metavar="REF",
                       help="Git ref to split the plan against: this change (REF vs HEAD) and drift (live vs REF)")
    p.add_argument("--changed-since", metavar="REF", help="only the gateways whose desired state changed since REF")
    p.add_argument("--target", action="append", type=_target, metavar="KIND/NAME",
                   help="only this object and what it depends on (repeatable); the plan may be incomplete")


def _add_review_commands(sub: Any) -> None:
    p = sub.add_parser("show", help="render a plan saved with `plan --out` (text, markdown or json)")
    p.add_argument("plan", help="plan.json")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("--verbose", "-v", action="store_true", help="also list unchanged objects")
    p.add_argument("--no-color", action="store_true", help="no ANSI colours")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("diff", help="desired-state diff of two Git refs (no gateway contacted)")
    p.add_argument("path")
    p.add_argument("--from", dest="source", required=True, metavar="REF")
    p.add_argument("--to", metavar="REF", help="default: the working tree")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when the desired states differ")
    p.set_defaults(func=cmd_diff)


# ------------------------------------------------------------------------------------ parser
def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gateway", action="append", metavar="NAME", help="only this gateway (repeatable)")
    p.add_argument("--endpoint", action="append", metavar="NAME=URL", help="override a gateway's baseUrl (repeatable)")
    p.add_argument("--adopt", action="store_true", help="take over unowned objects that have a desired name")
    p.add_argument("--max-deletes", type=_max_deletes, metavar="N",
                   help=f"abort when the plan deletes more (-1: no limit; at most {MAX_DELETES})")
    p.add_argument("--no-prune", action="store_true", help="never delete, whatever the settings say")
    p.add_argument("--no-color", action="store_true", help="no ANSI colours")


def _add_tool_commands(sub: Any) -> None:
    """schema, emulate, export and import: the commands around a plan and an apply."""
    p = sub.add_parser("schema", help="print the JSON Schemas of the manifest kinds")
    p.add_argument("kind", nargs="?")
    p.add_argument("--write", metavar="DIR", help="write schemas/*.json into DIR")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("emulate", help="run a gateway emulator on 127.0.0.1 in the foreground")
    p.add_argument("type")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", help="emulator mode (kong: dbless | postgres)")
    p.add_argument("--token-env", metavar="VAR", help="admin token from this environment variable")
    p.add_argument("--username-env", metavar="VAR")
    p.add_argument("--password-env", metavar="VAR")
    p.add_argument("--option", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_emulate)

    p = sub.add_parser("export", help="export a gateway's archive (webMethods)")
    p.add_argument("path")
    p.add_argument("--gateway", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--endpoint", action="append", metavar="NAME=URL")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="write a live gateway's objects as manifests (then `plan --adopt`)")
    p.add_argument("path", help="the repo declaring the gateway (its GatewayInstance and settings)")
    p.add_argument("--gateway", required=True, metavar="NAME", help="the gateway to read")
    p.add_argument("--out", metavar="DIR", help="where to write (default: PATH/imported/NAME)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--unowned", action="store_true", help="only objects no reconciler owns")
    who.add_argument("--owner", metavar="OWNER", help="only this owner's objects")
    p.add_argument("--name", action="append", metavar="PATTERN", help="only names matching this glob (repeatable)")
    p.add_argument("--endpoint", action="append", metavar="NAME=URL", help="override the gateway's baseUrl")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(func=cmd_import)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reconciler", description="GitOps reconciler for API gateways")
    parser.add_argument("--version", action="version", version=f"stoa-reconciler {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a repo of manifests (file, line, field for every error)")
    p.add_argument("path")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="show what apply would change (dry run)")
    p.add_argument("path")
    _add_run_options(p)
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes")
    p.add_argument("--out", metavar="FILE", help="save the plan as JSON for `reconciler apply FILE`")
    p.add_argument("--verbose", "-v", action="store_true", help="also list unchanged objects")
    _add_review_options(p, base=True)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("apply", help="apply a repo (or a saved plan.json) to the gateways")
    p.add_argument("path", help="repo directory, or a plan saved with `plan --out`")
    _add_run_options(p)
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--repo", help="with a saved plan: the repo root that relative secret files are read from")
    p.add_argument("--lock-timeout", type=_seconds, default=60.0, metavar="SECONDS",
                   help="with RECONCILER_ETCD_URL: how long to wait for a gateway's write lock (0: fail at once)")
    _add_review_options(p, base=False)
    p.set_defaults(func=cmd_apply)

    _add_tool_commands(sub)

    p = sub.add_parser("demo", help="emulated gateways + the example repo: apply, re-plan, drift, heal, then the daemon")
    p.add_argument("--repo", help="another repo to demo (default: the example repo shipped in the package)")
    p.set_defaults(func=cmd_demo)
    _add_review_commands(sub)

    from reconciler.comment.register import register_command as register_comment  # `reconciler comment`

    register_comment(sub)

    try:
        from reconciler.daemon.commands import register_commands
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("reconciler.daemon"):
            raise
    else:
        register_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # inside the try: a reader gone before the exit flush is a BrokenPipeError here
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # `reconciler plan ... | head`: the reader left; no traceback, and no second error at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
