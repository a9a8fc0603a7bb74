"""The `newsbot` command.

run | console | poll --once | preview TOPIC | feeds | db upgrade | cluster-model build DIR
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.config import Settings, SettingsError
from bot.embedding import SemanticUnavailableError, build_static_model
from bot.logs import configure_logging
from bot.pipeline import TickReport
from bot.runtime import Runtime
from bot.storage.database import Database, StorageError

logger = logging.getLogger("newsbot")

HOW_TO_GET_A_BOT = """\
newsbot needs a Telegram bot token to run as a bot.

  1. In Telegram, open a chat with @BotFather and send /newbot.
  2. Choose a name and a username; BotFather answers with a token like 123456:ABC-DEF...
  3. Run:  TELEGRAM_BOT_TOKEN=123456:ABC-DEF... newsbot run

To try newsbot without Telegram, chat with it in this terminal:

  newsbot console
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    parser = argparse.ArgumentParser(
        prog="newsbot", description="A Telegram bot that alerts you to news on your topics."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    commands.add_parser("console", help="chat with the bot in this terminal, no Telegram needed")
    poll = commands.add_parser("poll", help="poll the feeds that are due and print what was new")
    poll.add_argument("--once", action="store_true", help="one poll, then exit (the default)")
    poll.add_argument("--all", action="store_true", help="poll every feed, due or not")
    preview = commands.add_parser("preview", help="show stored stories a topic would match")
    preview.add_argument("topic", help='the topic, e.g. "Pakistan Afghanistan"')
    preview.add_argument("--days", type=int, default=3, help="how many days back (default 3)")
    commands.add_parser("feeds", help="list the feeds and their health")
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="upgrade: apply schema migrations")
    cluster_model = commands.add_parser(
        "cluster-model", help="the static model that lets clustering compare stories by meaning"
    )
    cluster_model.add_argument(
        "action", choices=["build"], help="build: distill it from the semantic extra's model"
    )
    cluster_model.add_argument("dir", type=Path, help="the directory to write the model to")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Entry point of the `newsbot` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "cluster-model":
        return _build_cluster_model(args.dir, sys.stdout)
    env = os.environ if environ is None else environ
    try:
        settings = Settings.from_environ(env)
    except SettingsError as exc:
        print(f"newsbot: configuration error: {exc}", file=sys.stderr)
        return 2
    secrets = [settings.telegram_token or "", settings.llm_api_key or ""]
    command = args.command or "run"
    # In the console, log lines would interleave with the chat: only warnings, unless asked.
    quiet = command == "console" and "NEWSBOT_LOG_LEVEL" not in env
    configure_logging("WARNING" if quiet else settings.log_level, secrets)
    try:
        if command == "db":
            Database(settings.database_url).upgrade()
            print("database schema is up to date")
            return 0
        if command == "run" and settings.telegram_token is None:
            print(HOW_TO_GET_A_BOT, file=sys.stderr)
            return 2
        runtime = Runtime.start(settings)
    except (SettingsError, StorageError) as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return 2
    if command == "run":
        return run_bot(runtime)
    if command == "console":
        return asyncio.run(_console(runtime))
    if command == "poll":
        return asyncio.run(_poll(runtime, every_feed=args.all, out=sys.stdout))
    if command == "preview":
        return _preview(runtime, args.topic, args.days, sys.stdout)
    return _feeds(runtime, sys.stdout)


def _build_cluster_model(target: Path, out: TextIO) -> int:
    """Distill the static clustering model into ``target``; needs no token and no database."""

    def started() -> None:
        print(
            f"building the clustering model in {target} (a minute or two) ...", file=out, flush=True
        )

    try:
        where = build_static_model(target, started=started).resolve()
    except SemanticUnavailableError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"newsbot: cannot write the model to {target}: {exc}", file=sys.stderr)
        return 2
    print(f"the clustering model is in {where}. newsbot ships one built the same way and", file=out)
    print("uses it unless told otherwise; to use this one instead, set:", file=out)
    print(f"NEWSBOT_CLUSTER_MODEL={where}", file=out)
    return 0


def run_bot(runtime: Runtime) -> int:
    """Run the Telegram bot until interrupted."""
    from handlers.app import build_application

    token = runtime.settings.telegram_token
    assert token is not None
    app = build_application(runtime, token=token)
    logger.info("newsbot starting api=%s", runtime.settings.telegram_api_url)
    try:
        app.run_polling(allowed_updates=["message", "callback_query", "channel_post"])
    finally:
        asyncio.run(runtime.aclose())
    return 0


async def _console(runtime: Runtime) -> int:
    from handlers.console import run_console

    def read_line() -> str | None:
        try:
            return input("you> ") if sys.stdin.isatty() else (sys.stdin.readline() or None)
        except EOFError:
            return None

    try:
        await run_console(runtime, read_line=read_line, write=print)
    finally:
        await runtime.aclose()
    return 0


def print_tick(report: TickReport, out: TextIO) -> None:
    """What one poll found, feed by feed."""
    if not report.feeds:
        print("no feed is due; use --all to poll every feed now", file=out)
    for feed in report.feeds:
        note = " (first poll: stored, no alerts)" if feed.first_poll else ""
        print(f"{feed.feed}: {feed.status}, {len(feed.new_stories)} new{note}", file=out)
        for title in feed.new_stories[:20]:
            print(f"  + {title}", file=out)
        if len(feed.new_stories) > 20:
            print(f"  ... and {len(feed.new_stories) - 20} more", file=out)
        for alert in feed.alerts:
            print(f"  ! alert for chat {alert.chat_id} [{alert.topic}]: {alert.title}", file=out)
    print(f"{report.alert_count} alert(s) queued", file=out)


async def _poll(runtime: Runtime, *, every_feed: bool, out: TextIO) -> int:
    try:
        if every_feed:
            runtime.pipeline.make_all_due()
        report = await runtime.pipeline.tick(datetime.now(UTC))
    finally:
        await runtime.aclose()
    print_tick(report, out)
    return 0


def _preview(runtime: Runtime, topic: str, days: int, out: TextIO) -> int:
    result = runtime.services.preview(topic, datetime.now(UTC), days=days, limit=50)
    runtime.database.dispose()
    if result.error is not None:
        print(result.error, file=out)
        return 1
    print(f"{result.query_text!r} means {result.description}.", file=out)
    print(f"In the last {days} days it would have matched {result.total} stories:", file=out)
    for item in result.stories:
        story = item.story
        stamp = story.published_at.strftime("%Y-%m-%d %H:%M")
        print(f"  {stamp}  {story.title}  ({story.source})", file=out)
        if story.url:
            print(f"                    {story.url}", file=out)
    return 0


def _feeds(runtime: Runtime, out: TextIO) -> int:
    for item in runtime.services.feed_health():
        state = item.state
        if not state.enabled:
            status = "disabled"
        elif state.last_polled_at is None:
            status = "not polled yet"
        else:
            status = state.last_error or "ok"
        last = (
            state.last_success_at.strftime("%Y-%m-%d %H:%M") if state.last_success_at else "never"
        )
        print(f"{state.name}: {status}; last ok {last}; {item.story_count} stories", file=out)
        print(f"    {state.url}", file=out)
    runtime.database.dispose()
    return 0
