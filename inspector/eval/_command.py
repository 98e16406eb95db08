"""``inspector eval`` from the command line: arguments in, the evaluation run, its reports out.

Exit status: 0 when every turn was scored (a candidate's errors are scores, not failures), 2 for
trouble before anything ran (no such session, no turns, a bad ``--turns``), 130 after a Ctrl-C — once
what was scored so far has been printed and written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from rich.console import Console

from ..protocol import TranslateOptions, get_form
from ._candidate import Candidate
from ._html import eval_report
from ._report import EvalDisplay, write_json
from ._run import EvalRun, run_eval
from ._turns import SKIP_REASONS, TurnSet, load_turns, parse_turns, sessions_of

__all__ = ["main"]


def _fail(err: Console, message: str) -> int:
    err.print(f"[red]error:[/] {message}", highlight=False)
    return 2


def main(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    form = get_form(args.backend)
    if not args.embedded and not (args.backend_url or form.default_url):
        return _fail(err, f"--backend-url is needed: a {form.label} server has no usual address")
    if not args.embedded and not args.model:
        return _fail(err, "--model NAME is needed (repeat it to compare several models), or --embedded")
    try:
        sessions = [s for spec in args.sessions for s in sessions_of(spec, args.root)]
        ranges = parse_turns(args.turns) if args.turns else None
    except (FileNotFoundError, ValueError) as e:
        return _fail(err, str(e))
    turns = load_turns(sessions, turns=ranges)
    if not turns.turns:
        skipped = ", ".join(f"{r} {n}" for r in SKIP_REASONS if (n := turns.skipped.get(r))) or "nothing recorded"
        return _fail(err, f"no model turns to evaluate in {', '.join(map(str, args.sessions))} (skipped: {skipped})")
    server = None
    if args.embedded:
        from .. import embedded

        if reason := embedded.why_unavailable():
            return _fail(err, f"the embedded backend is not available: {reason} (make embedded builds it)")
        server = embedded.EmbeddedBackend()
        err.print(f"starting the embedded backend (SmolLM2-135M-Instruct on CPU) at {server.url} …")
        try:
            server.start()
        except RuntimeError as e:
            return _fail(err, f"the embedded backend did not start: {e}")
        except KeyboardInterrupt:
            server.stop()
            return 130
        args.backend, args.backend_url = embedded.EmbeddedBackend.form, server.url
        args.model = args.model or [server.model]
        args.max_tokens_limit = args.max_tokens_limit or embedded.MAX_OUTPUT
    try:
        return _evaluate(args, turns, err)
    finally:
        if server is not None:
            server.stop()


def _evaluate(args: argparse.Namespace, turns: TurnSet, err: Console) -> int:
    form = get_form(args.backend)
    url = args.backend_url or str(form.default_url)
    options = TranslateOptions(num_ctx=args.num_ctx, max_tokens_limit=args.max_tokens_limit)
    run = EvalRun(turns, [Candidate(m, form.name, url, options, args.backend_api_key,
                                    getattr(args, "reask", "auto")) for m in args.model])
    display = EvalDisplay(run, err)
    err.print(f"[bold]inspector eval[/]  {len(turns.turns)} turns from {len(turns.sessions)} sessions → "
              f"{', '.join(args.model)} ({form.label} at {url})")
    record = Path(args.record) if args.record else None
    try:
        with display.live():
            asyncio.run(run_eval(run, concurrency=args.concurrency, record=record, idle_timeout=args.timeout,
                                 on_score=display.scored))
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted:[/] {len(run.scores)} of {run.total} turns scored")
    out = err if args.json == "-" else Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    display.summary(out)
    if args.json:
        write_json(run, args.json)
        if args.json != "-":
            err.print(f"wrote {args.json}")
    if args.html:
        Path(args.html).write_text(eval_report(run), encoding="utf-8")
        err.print(f"wrote {args.html}")
    if record is not None:
        err.print(f"recorded the candidates' exchanges in {record} (inspector view {record})")
    return 0 if run.complete else 130
