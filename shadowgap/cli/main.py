"""The ``shadowgap`` command."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from shadowgap.cli.changes import change_app
from shadowgap.config import InvalidSettings, Settings, get_settings

app = typer.Typer(help="shadowgap: watch the cheap path of your LLM router.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(change_app, name="change")


def checked_settings() -> Settings:
    """The settings, or exit 2 with one line naming the bad setting and what it may be."""
    try:
        return get_settings()
    except InvalidSettings as exc:
        typer.echo(f"shadowgap: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
) -> None:
    """Run the HTTP API (ingest, read API, dashboard, /metrics)."""
    import uvicorn

    from shadowgap.logging_setup import configure_logging
    from shadowgap.privacy.redaction import for_settings

    settings = checked_settings()
    configure_logging(settings.log_level, settings.log_json, for_settings(settings).text)
    uvicorn.run(
        "shadowgap.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


def _celery_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "shadowgap.worker.app:app", *args]


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = (
        "shadow,judge,drift,alerts,reports,maintenance"
    ),
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run a Celery worker (the job stages)."""
    checked_settings()
    argv = _celery_argv(
        "worker", f"--concurrency={concurrency}", f"--queues={queues}", f"--loglevel={loglevel}"
    )
    os.execv(argv[0], argv)


@app.command()
def beat(loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO") -> None:
    """Run Celery beat (sweeps and the weekly report). Run exactly one per deployment."""
    checked_settings()
    argv = _celery_argv("beat", f"--loglevel={loglevel}")
    os.execv(argv[0], argv)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from shadowgap.db.migrate import upgrade

    upgrade(revision=revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()] = "base") -> None:
    """Revert migrations down to REVISION (default: base)."""
    from shadowgap.db.migrate import downgrade

    downgrade(revision=revision)
    typer.echo(f"database at {revision}")


@app.command("settings")
def show_settings(
    markdown: Annotated[bool, typer.Option(help="The settings table of docs/settings.md.")] = False,
) -> None:
    """Print every setting with its environment variable, default and description."""
    if markdown:
        typer.echo("| variable | default | what it does |\n|---|---|---|")
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, list):
            default = ",".join(default)
        elif isinstance(default, dict):  # set as JSON, so shown as JSON
            default = json.dumps(default)
        shown = "" if default in (None, "") else str(default).replace("|", "\\|")
        if markdown:
            typer.echo(f"| `SHADOWGAP_{name.upper()}` | `{shown}` | {field.description} |")
        else:
            typer.echo(
                f"SHADOWGAP_{name.upper()}  (default: {shown or '-'})\n    {field.description}"
            )


@app.command()
def demo(
    flagship: Annotated[
        str, typer.Option(help="'recorded' answers from the dataset, or 'local' llama.cpp.")
    ] = "recorded",
    data_dir: Annotated[Path, typer.Option(help="RouteLLM data folder.")] = Path(
        "../shared/data/routellm"
    ),
    port: Annotated[int, typer.Option(help="Port for the demo API.")] = 8765,
    keep_running: Annotated[bool, typer.Option(help="Leave the API up at the end.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the simulated traffic.")] = 7,
    bfcl_dir: Annotated[
        Path, typer.Option(help="BFCL data folder (the agentic tenant's requests).")
    ] = Path("../shared/data/bfcl"),
) -> None:
    """Replay real GSM8K and BFCL traffic through a simulated router and show what shadowgap
    catches."""
    from shadowgap.cli.demo.run import run_demo

    raise typer.Exit(
        run_demo(
            flagship=flagship,
            data_dir=data_dir,
            port=port,
            keep_running=keep_running,
            seed=seed,
            bfcl_dir=bfcl_dir,
        )
    )


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="JSONL or CSV file of events.")],
    url: Annotated[
        str, typer.Option(help="Base URL of a running shadowgap.")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None, typer.Option(envvar="SHADOWGAP_REPLAY_API_KEY", help="Bearer key for ingest.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="native or litellm.")] = "native",
    batch_size: Annotated[int, typer.Option(help="Events per request.")] = 100,
    rate: Annotated[float | None, typer.Option(help="Most events per second.")] = None,
    max_retries: Annotated[int, typer.Option(help="Retries per batch on 429/5xx/errors.")] = 8,
) -> None:
    """Stream a file of events to a running shadowgap, with rate control and retries."""
    from shadowgap.cli.replay import replay_file

    key = api_key or (
        get_settings().api_keys[0].get_secret_value() if get_settings().api_keys else None
    )
    if key is None:
        raise typer.BadParameter("an API key is needed: --api-key or SHADOWGAP_REPLAY_API_KEY")
    totals = replay_file(
        file, url, key, fmt=fmt, batch_size=batch_size, rate=rate, max_retries=max_retries
    )
    typer.echo(
        f"sent {totals.sent} events: {totals.new} new, {totals.duplicates} duplicates, "
        f"{totals.sampled} sampled, {totals.failed} failed"
    )
    if totals.failed:
        raise typer.Exit(1)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@app.command()
def report(
    since: Annotated[datetime | None, typer.Option(help="Period start (UTC).")] = None,
    until: Annotated[
        datetime | None,
        typer.Option(help="Period end (UTC), default the latest event time received."),
    ] = None,
) -> None:
    """Build the drift report for a period (default: the last 7 days of event time) and store
    it."""
    from shadowgap.db.engine import session_scope
    from shadowgap.db.watermark import window_end
    from shadowgap.reporting.weekly import build_weekly_report

    with session_scope() as session:
        end = _utc(until) if until else window_end(session)
        start = _utc(since) if since else end - timedelta(days=7)
        built = build_weekly_report(session, start, end, get_settings())
        session.flush()
        report_id = built.id
    typer.echo(f"report {report_id}: {get_settings().dashboard_url}/reports/{report_id}")


@app.command()
def purge(
    segment: Annotated[
        str | None, typer.Option(help="Segment key, e.g. tenant=acme: all its events.")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="The events' attributes.user (a deletion request).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete every event of a segment or a user and what was derived from it; their ids are
    kept as tombstones so a redelivery is a duplicate."""
    from shadowgap.db.engine import session_scope
    from shadowgap.errors import ShadowgapError
    from shadowgap.privacy.purge import purge as purge_events

    if segment is None and user is None:
        raise typer.BadParameter("name a --segment or a --user")
    target = " and ".join(
        f"{name} {value!r}" for name, value in (("segment", segment), ("user", user)) if value
    )
    if not yes:
        typer.confirm(f"Delete every event of {target}?", abort=True)
    try:
        with session_scope() as session:
            result = purge_events(session, datetime.now(UTC), segment=segment, user=user)
    except ShadowgapError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"purged {result.events} events ({result.shadow_runs} shadow runs, {result.verdicts} "
        f"verdicts; examples removed from {result.alerts} alerts, {result.deliveries} delivery "
        f"payloads emptied, {result.outbox_files} outbox files deleted)"
    )


@app.command()
def slices(
    until: Annotated[
        datetime | None,
        typer.Option(help="Window end (UTC), default the latest event time received."),
    ] = None,
) -> None:
    """Run slice discovery now (the hourly slices.discover job) and print the slices found."""
    from shadowgap.db.engine import session_scope
    from shadowgap.slices import cadence
    from shadowgap.slices.discovery import discover, list_slices
    from shadowgap.slices.watches import explore

    with session_scope() as session:
        summary = discover(session, get_settings(), _utc(until) if until else None)
        cadence.refresh(session, summary.window_start, summary.window_end)
        watch = explore(session, get_settings(), summary.window_end, datetime.now(UTC))
        typer.echo(
            f"window {summary.window_start:%Y-%m-%d %H:%M} - {summary.window_end:%Y-%m-%d %H:%M}: "
            f"{summary.pairs} judged pairs, {summary.tested} slices tested, "
            f"{len(summary.found)} found, {len(summary.confirmed)} confirmed "
            f"({summary.seconds:.1f} s)"
        )
        for record in list_slices(session):
            after = (record.details or {}).get("after") or {}
            low, high = after.get("ci_low"), after.get("ci_high")
            interval = f"[{low:+.3f}, {high:+.3f}]" if low is not None and high is not None else ""
            typer.echo(
                f"  {record.key}: share {record.traffic_share:.2%}, n={record.n}, excess gap "
                f"{after.get('excess') or 0:+.3f} {interval}, {record.status}"
            )
        if watch.watching:
            typer.echo(f"under watch (exploration): {', '.join(watch.watching)}")
    deliveries = summary.delivery_ids + watch.delivery_ids
    if deliveries:
        from shadowgap.worker import queue

        for delivery_id in deliveries:
            queue.send("alerts.deliver", [delivery_id])


@app.command("export-pairs")
def export_pairs(
    since: Annotated[datetime, typer.Option(help="First request time (UTC), inclusive.")],
    until: Annotated[datetime, typer.Option(help="Last request time (UTC), exclusive.")],
    segment: Annotated[str | None, typer.Option(help="Only this segment key.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the JSONL here (default: standard output).")
    ] = None,
) -> None:
    """Write judged pairs as Chatbot-Arena battles (JSONL) for router retraining."""
    import json

    from sqlalchemy import select

    from shadowgap.db.engine import session_scope
    from shadowgap.db.models import Segment
    from shadowgap.reporting.router_export import battles

    start, end = _utc(since), _utc(until)
    if end <= start:
        raise typer.BadParameter("--until must be after --since", param_hint="--until")
    count = 0
    with session_scope() as session:
        segment_id = None
        if segment is not None:
            segment_id = session.scalar(select(Segment.id).where(Segment.key == segment))
            if segment_id is None:
                raise typer.BadParameter(f"no segment {segment!r}", param_hint="--segment")
        handle = out.open("w", encoding="utf-8") if out else sys.stdout
        try:
            for battle in battles(session, start, end, segment_id):
                handle.write(json.dumps(battle, ensure_ascii=False) + "\n")
                count += 1
        finally:
            if out:
                handle.close()
    typer.echo(f"{count} battles", err=True)


@app.command()
def thresholds(
    segment: Annotated[str, typer.Option(help="Segment key.")],
    days: Annotated[int, typer.Option(help="Window: the last N days.")] = 7,
) -> None:
    """Print a segment's threshold what-if table and the recommended threshold."""
    from sqlalchemy import select

    from shadowgap.attribution.periods import Window
    from shadowgap.attribution.thresholds import what_if
    from shadowgap.db.engine import session_scope
    from shadowgap.db.models import Segment
    from shadowgap.db.watermark import window_end

    settings = get_settings()
    with session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.key == segment))
        if segment_id is None:
            raise typer.BadParameter(f"no segment {segment!r}", param_hint="--segment")
        end = window_end(session)
        view = what_if(
            session,
            segment_id,
            Window(start=end - timedelta(days=days), end=end),
            target=settings.target_excess_gap,
            cheap_below=settings.router_cheap_when == "below",
        )
    typer.echo(threshold_text(view))


def threshold_text(view: dict[str, Any]) -> str:
    """The what-if as a plain-text table, the recommended row marked with '*'."""

    def pct(value: object) -> str:
        return f"{value * 100:.1f}%" if isinstance(value, float) else "-"

    recommended = view.get("recommended") or {}
    lines = [
        f"cheap when score is {view['cheap_when']} the threshold; target excess gap "
        f"{pct(view['target_excess_gap'])}; {view['events']} events, "
        f"{view['forward_pairs']} forward + {view['reverse_pairs']} reverse judged pairs",
        f"  {'threshold':>10} {'cheap':>7} {'excess gap':>11} {'95% CI':>17} "
        f"{'cost/req':>10} {'pairs':>6}",
    ]
    for row in view["thresholds"]:
        ci = row["excess_gap_ci"]
        mark = "*" if recommended and row["threshold"] == recommended.get("threshold") else " "
        cost = row["cost_per_request_usd"]
        lines.append(
            f"{mark} {row['threshold']:>10.4f} {pct(row['cheap_share']):>7} "
            f"{pct(row['excess_gap']) if row['covered'] else 'uncovered':>11} "
            f"{(pct(ci[0]) + ' – ' + pct(ci[1])) if ci else '-':>17} "
            f"{'-' if cost is None else f'${cost:.5f}':>10} {row['pairs']:>6}"
        )
    if recommended:
        lines.append(
            f"recommended: {recommended['threshold']:.4f} "
            f"(cheap {pct(recommended['cheap_share'])}, gap {pct(recommended['excess_gap'])})"
        )
    else:
        lines.append("recommended: none (no covered threshold keeps the gap under the target)")
    current = view.get("current_threshold")
    if isinstance(current, float):
        lines.append(f"current: {current:.4f} (cheap {pct(view.get('current_cheap_share'))})")
    return "\n".join(lines)


@app.command()
def propose(
    segment: Annotated[str | None, typer.Option(help="Only this segment (its key).")] = None,
    slice_key: Annotated[
        str | None, typer.Option("--slice", help="Only this confirmed slice (its key).")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="text (a summary and the patches) or json.")
    ] = "text",
) -> None:
    """Propose routing changes for the segments whose quality burns and the confirmed slices
    (exit 0 with none)."""
    from sqlalchemy import select

    from shadowgap.attribution.proposals import list_proposals
    from shadowgap.db.engine import session_scope
    from shadowgap.db.models import Segment
    from shadowgap.db.watermark import window_end

    if output not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--format")
    settings = get_settings()
    with session_scope() as session:
        segment_id = None
        if segment is not None:
            segment_id = session.scalar(select(Segment.id).where(Segment.key == segment))
            if segment_id is None:
                raise typer.BadParameter(f"no segment {segment!r}", param_hint="--segment")
        view = list_proposals(
            session, settings, window_end(session), segment_id=segment_id, slice_key=slice_key
        )
    if output == "json":
        typer.echo(json.dumps(view, indent=2, default=str))
        return
    typer.echo(proposal_text(view))


def proposal_text(view: dict[str, Any]) -> str:
    """Each proposal: what it changes, current -> predicted (95% intervals), and its patches."""

    def span(value: dict[str, Any], fmt: str) -> str:
        if value.get("value") is None:
            return "-"
        low, high = value.get("low"), value.get("high")
        shown = format(value["value"], fmt)
        if low is None or high is None:
            return shown
        return f"{shown} ({format(low, fmt)} - {format(high, fmt)})"

    proposals = view["proposals"]
    if not proposals:
        return (
            f"no proposals: no segment breaks the target excess gap {view['target_excess_gap']:.1%}"
        )
    lines: list[str] = []
    for p in proposals:
        what = (
            "route to the flagship"
            if p["kind"] == "route_to_flagship"
            else f"move the threshold to {p['threshold']:.4f}"
        )
        scope = p["segment"] if p.get("segment") else f"slice {p['slice']}"
        lines.append(f"{p['id']}  {scope}: {what}")
        lines.append(f"  because: {'; '.join(p['triggered_by'])}")
        for label, key, fmt in (
            ("cost/day", "cost_per_day_usd", ",.2f"),
            ("excess gap", "excess_gap", ".1%"),
            ("p95 ms", "p95_ms", ",.0f"),
        ):
            lines.append(
                f"  {label:<11} {span(p['current'][key], fmt):<34} -> "
                f"{span(p['predicted'][key], fmt)}"
            )
        formats = p["formats"]
        if formats["routellm_model"]:
            lines.append(f"  RouteLLM model: {formats['routellm_model']}")
        if formats["litellm_config"]:
            lines.append("  LiteLLM config.yaml:")
            lines.extend("    " + line for line in formats["litellm_config"].splitlines())
        lines.append(f"  JSON rule: {json.dumps(formats['json_rule'])}")
    return "\n".join(lines)


@app.command("judge-eval")
def judge_eval(
    judge: Annotated[
        str, typer.Option(help="answer-match, pairwise or reference.")
    ] = "answer-match",
    limit: Annotated[
        int | None, typer.Option(help="Evaluate an evenly spaced subset of N rows per dataset.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the JSON results.")] = Path(
        "shadowgap-data/judge-eval.json"
    ),
    dataset: Annotated[
        str,
        typer.Option(
            help="gsm8k+mt-bench (default), gsm8k, mt-bench, or bfcl: the tool-call judge on "
            "the BFCL function-calling data, exiting 1 when a target fails."
        ),
    ] = "gsm8k+mt-bench",
    seed: Annotated[int, typer.Option(help="bfcl: seed of the cheap-call variants.")] = 21,
) -> None:
    """Measure a judge against the GSM8K correctness labels and MT-Bench GPT-4 scores, or the
    tool-call judge against BFCL's acceptable calls (--dataset bfcl)."""
    if dataset == "bfcl":
        from shadowgap.judging.tool_eval import run_bfcl_eval

        figures = run_bfcl_eval(limit, out, seed=seed)
        typer.echo(figures["table"])
        typer.echo(f"results written to {out}")
        if not figures["passed"]:
            raise typer.Exit(1)
        return
    chosen = tuple(dataset.split("+"))
    if not set(chosen) <= {"gsm8k", "mt-bench"}:
        raise typer.BadParameter(f"unknown dataset {dataset!r}", param_hint="--dataset")
    from shadowgap.judging.evaluate import run_judge_eval

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 100) == 0:  # about 1% steps
            typer.echo(f"\r  {done}/{total}", nl=False, err=True)

    result = run_judge_eval(judge, limit, out, progress, datasets=chosen)
    typer.echo("", err=True)
    typer.echo(result["table"])
    typer.echo(f"results written to {out}")


if __name__ == "__main__":
    app()
