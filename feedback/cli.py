"""The ``feedback`` command line.

Bad input never produces a traceback: every problem is one plain line, and the
exit code says whether things went well (0), the input was bad (1), or the
command was used wrongly (2, from click).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from feedback.errors import DefinitionError, FeedbackError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


class FeedbackGroup(click.Group):
    """The survey commands (validate, simulate, schema) are pure and start fast; the
    application commands (serve, db, call, sms...) import the web app and are only
    registered when one of them, or the command list, is asked for."""

    _app_commands_loaded = False

    def _load_app_commands(self) -> None:
        if not self._app_commands_loaded:
            self._app_commands_loaded = True
            from feedback.app_cli import register

            register(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load_app_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_app_commands()
        return super().list_commands(ctx)


@click.group(cls=FeedbackGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="feedback")
def cli() -> None:
    """One survey in YAML, every channel: web, email, IVR, SMS, chat."""


def main() -> None:
    try:
        cli(standalone_mode=True)
    except FeedbackError as e:  # pragma: no cover - commands handle their own errors
        err_console.print(f"error: {e.message}", markup=False)
        sys.exit(1)


# -- validate ------------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Do not print warnings.")
def validate(paths: tuple[Path, ...], quiet: bool) -> None:
    """Check survey files; print FILE:LINE:COL: message for every problem."""
    from feedback.definition.loader import load_file, survey_files

    files = survey_files(paths)
    # A folder's contact policy (policy.yaml) is checked with it.
    files += [d / n for d in paths if d.is_dir() for n in ("policy.yaml", "policy.yml") if (d / n).is_file()]
    empty = [p for p in paths if p.is_dir() and not survey_files([p])]
    for folder in empty:
        click.echo(f"{folder}: no survey files (*.yaml, *.yml) in this folder", err=True)
    if not files:
        sys.exit(1)
    failed = policies = 0
    for path in files:
        if not path.exists():
            click.echo(f"{path}:1:1: no such file", err=True)
            failed += 1
            continue
        try:
            if path.stem == "policy":  # survey_defs/policy.yaml: the contact policy, not a survey
                _check_policy(path)
                policies += 1
                continue
            compiled = load_file(path)
        except DefinitionError as e:
            failed += 1
            shown = e.problems if quiet else e.problems + e.warnings
            for p in sorted(shown, key=lambda p: (p.line, p.col)):
                click.echo(str(p), err=True)
            continue
        except Exception as e:  # noqa: BLE001 - a checker bug must not become a traceback
            failed += 1
            click.echo(f"{path}:1:1: this file could not be checked ({type(e).__name__}: {e})", err=True)
            continue
        if not quiet:
            for p in compiled.warnings:
                click.echo(str(p), err=True)
    ok = len(files) - failed - policies
    if failed:
        click.echo(f"{failed} of {len(files)} files have errors", err=True)
    if failed or empty:
        sys.exit(1)
    click.echo(f"{ok} survey file{'s' if ok != 1 else ''} valid" + (" (and the contact policy)" if policies else ""))


def _check_policy(path: Path) -> None:
    """Check the contact policy file with its own checker (raises DefinitionError)."""
    from feedback.errors import Problem

    try:
        from feedback.triggers.policyfile import parse_policy
    except ImportError:  # pragma: no cover - the triggers package is part of the platform
        raise DefinitionError([Problem(str(path), 1, 1, "cannot check a policy file here")]) from None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError([Problem(str(path), 1, 1, "no such file")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DefinitionError([Problem(str(path), 1, 1, f"cannot read the file: {e}")]) from None
    parse_policy(text, str(path))


# -- schema -----------------------------------------------------------------------------------


@cli.command()
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to a file.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the survey format (for editors)."""
    from feedback.definition.schema import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text)


# -- simulate ---------------------------------------------------------------------------------


@cli.command()
@click.argument("survey_file", type=click.Path(path_type=Path))
@click.option("--channel", type=click.Choice(["ivr", "sms", "chat", "web", "email"]), default="web",
              show_default=True, help="email runs as web, the first answer coming from the invitation.")
@click.option("--locale", help="Locale to run in (default: the survey's default).")
@click.option("--answer", "answers", multiple=True, help="A scripted answer; repeat for each turn. "
              "IVR: dtmf:7 is a keypad entry (dtmf: alone is no input), speech@0.3:eight is speech "
              "heard with confidence 0.3, other text is speech at --confidence; '(silence)' is no "
              "input, '(hangup)' hangs up.")
@click.option("--context", "context_json", help='JSON: {"contact": {...}, "event": {...}}.')
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for randomised choice order.")
@click.option("--confidence", type=click.FloatRange(0, 1), default=None,
              help="IVR: speech-recognition confidence of spoken answers (default 0.9); below the "
              "survey's ivr.min_confidence the answer is confirmed (\"I heard 8. Is that right?\").")
def simulate(
    survey_file: Path,
    channel: str,
    locale: str | None,
    answers: tuple[str, ...],
    context_json: str | None,
    as_json: bool,
    seed: int,
    confidence: float | None,
) -> None:
    """Run a survey in the terminal as a channel would put it."""
    from feedback.definition.loader import load_file
    from feedback.simulate import DEFAULT_CONFIDENCE, AnswerSyntaxError, Simulation

    try:
        compiled = load_file(survey_file)
    except DefinitionError as e:
        for p in e.problems:
            click.echo(str(p), err=True)
        sys.exit(1)
    context: dict[str, Any] = {}
    if context_json:
        try:
            context = json.loads(context_json)
        except json.JSONDecodeError as e:
            click.echo(f"--context: not valid JSON: {e.msg} at column {e.colno}", err=True)
            sys.exit(1)
        if not isinstance(context, dict) or any(
            not isinstance(context.get(k, {}), dict) for k in ("contact", "event")
        ):
            click.echo('--context must be an object like {"contact": {...}, "event": {...}}', err=True)
            sys.exit(1)
    if locale is not None:
        known = compiled.survey.all_locales
        picked = compiled.survey.pick_locale(locale)
        same_language = picked.split("-")[0].lower() == locale.replace("_", "-").split("-")[0].lower()
        if not locale.strip() or not same_language:
            click.echo(f"--locale: the survey has no locale '{locale}' (it has {', '.join(known)})", err=True)
            sys.exit(1)
        locale = picked
    if channel not in compiled.survey.channels:
        click.echo(
            f"note: the survey does not declare the {channel} channel "
            f"(it declares {', '.join(compiled.survey.channels)})",
            err=True,
        )
    if confidence is not None and channel != "ivr":
        click.echo("note: --confidence only applies to speech on the ivr channel", err=True)
    sim = Simulation(
        compiled, channel=channel, locale=locale, context=context, seed=seed,
        confidence=DEFAULT_CONFIDENCE if confidence is None else confidence,
    )
    interactive = not answers
    printer = None if as_json else (lambda line: out_console.print(line, markup=False))
    try:
        sim.begin(printer)
        if interactive:
            while not sim.finished:
                try:
                    # With --json the prompt goes to stderr so stdout stays one JSON document.
                    reply = click.prompt(">", prompt_suffix=" ", default="", show_default=False, err=as_json)
                except (EOFError, click.Abort):
                    sim.feed("(hangup)", printer)
                    break
                try:
                    sim.feed(reply, printer)
                except AnswerSyntaxError as e:  # say what is wrong and ask again
                    click.echo(f"error: {e.message}", err=True)
        else:
            for reply in answers:
                if sim.finished:
                    break
                if printer:
                    printer(f"> {reply}")
                try:
                    sim.feed(reply, printer)
                except AnswerSyntaxError as e:
                    click.echo(f"error: --answer {reply!r}: {e.message}", err=True)
                    sys.exit(1)
    except FeedbackError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(sim.outcome(), ensure_ascii=False, indent=2))
    elif not sim.finished:
        out_console.print(f"(stopped with the survey {sim.status_word()})", markup=False)

