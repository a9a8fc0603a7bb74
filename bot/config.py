"""Settings from the environment (12-factor) and the feed list from feeds.yaml, validated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.embedding import BUILT_IN_CLUSTER_MODEL
from bot.models import DEFAULT_POLL_INTERVAL, FeedSpec

DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_DATABASE_URL = "sqlite:///newsbot.db"
DEFAULT_FEEDS_PATH = "feeds.yaml"
# Semantic near misses (NEWSBOT_SEMANTIC): cosine similarities, see docs/MATCHING.md.
DEFAULT_SEMANTIC_THRESHOLD = 0.40
DEFAULT_SEMANTIC_TOPIC_THRESHOLD = 0.60
MIN_POLL_INTERVAL = timedelta(minutes=1)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting or the feed list is invalid; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything newsbot reads from its environment."""

    telegram_token: str | None = None
    telegram_api_url: str = DEFAULT_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    feeds_path: Path = Path(DEFAULT_FEEDS_PATH)
    admins: frozenset[int] = frozenset()
    allow_private_feeds: bool = False
    tick_seconds: float = 30.0
    delivery_lease_seconds: float = 120.0
    article_wait_seconds: float = 20.0
    log_level: str = "INFO"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    semantic: bool = False
    # Similarity a near miss needs to each concept it lacks, to the whole topic, or to a
    # recent full match (None: that route is off).
    semantic_threshold: float | None = DEFAULT_SEMANTIC_THRESHOLD
    semantic_topic_threshold: float | None = DEFAULT_SEMANTIC_TOPIC_THRESHOLD
    semantic_neighbour_threshold: float | None = None
    # The static model clustering compares stories' meaning with (None: shared words alone).
    cluster_model: Path | None = BUILT_IN_CLUSTER_MODEL

    @property
    def bot_base_url(self) -> str:
        """The Bot API base URL in the form python-telegram-bot expects (token appended)."""
        return self.telegram_api_url.rstrip("/") + "/bot"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate settings from an environment mapping (usually ``os.environ``)."""
        token = environ.get("TELEGRAM_BOT_TOKEN", "").strip() or None
        if token is not None and not re.fullmatch(r"\d+:[A-Za-z0-9_-]{20,}", token):
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then at least "
                "20 letters, digits, '-' or '_'). Copy it again from @BotFather."
            )
        api_url = environ.get("TELEGRAM_API_URL", DEFAULT_API_URL).strip() or DEFAULT_API_URL
        _require_http_url("TELEGRAM_API_URL", api_url)
        llm_base_url = environ.get("LLM_BASE_URL", "").strip() or None
        llm_model = environ.get("LLM_MODEL", "").strip() or None
        cluster_model = _parse_cluster_model(environ.get("NEWSBOT_CLUSTER_MODEL", ""))
        if llm_base_url is not None:
            _require_http_url("LLM_BASE_URL", llm_base_url)
            if llm_model is None:
                raise SettingsError(
                    "LLM_BASE_URL is set but LLM_MODEL is not: name the model to use."
                )
        return cls(
            telegram_token=token,
            telegram_api_url=api_url,
            database_url=environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            feeds_path=Path(environ.get("NEWSBOT_FEEDS", "").strip() or DEFAULT_FEEDS_PATH),
            admins=_parse_admins(environ.get("NEWSBOT_ADMINS", "")),
            allow_private_feeds=_parse_bool(
                "NEWSBOT_ALLOW_PRIVATE_FEEDS", environ.get("NEWSBOT_ALLOW_PRIVATE_FEEDS", "")
            ),
            tick_seconds=_parse_positive_float(
                "NEWSBOT_TICK_SECONDS", environ.get("NEWSBOT_TICK_SECONDS", "30")
            ),
            delivery_lease_seconds=_parse_positive_float(
                "NEWSBOT_DELIVERY_LEASE_SECONDS",
                environ.get("NEWSBOT_DELIVERY_LEASE_SECONDS", "120"),
            ),
            article_wait_seconds=_parse_seconds(
                "NEWSBOT_ARTICLE_WAIT_SECONDS", environ.get("NEWSBOT_ARTICLE_WAIT_SECONDS", "20")
            ),
            log_level=(environ.get("NEWSBOT_LOG_LEVEL", "INFO").strip() or "INFO").upper(),
            llm_base_url=llm_base_url,
            llm_model=llm_model,
            llm_api_key=environ.get("LLM_API_KEY", "").strip() or None,
            semantic=_parse_bool("NEWSBOT_SEMANTIC", environ.get("NEWSBOT_SEMANTIC", "")),
            semantic_threshold=_parse_similarity(
                "NEWSBOT_SEMANTIC_THRESHOLD",
                environ.get("NEWSBOT_SEMANTIC_THRESHOLD", ""),
                DEFAULT_SEMANTIC_THRESHOLD,
            ),
            semantic_topic_threshold=_parse_similarity(
                "NEWSBOT_SEMANTIC_TOPIC_THRESHOLD",
                environ.get("NEWSBOT_SEMANTIC_TOPIC_THRESHOLD", ""),
                DEFAULT_SEMANTIC_TOPIC_THRESHOLD,
            ),
            semantic_neighbour_threshold=_parse_similarity(
                "NEWSBOT_SEMANTIC_NEIGHBOUR_THRESHOLD",
                environ.get("NEWSBOT_SEMANTIC_NEIGHBOUR_THRESHOLD", ""),
                None,
            ),
            cluster_model=cluster_model,
        )


def _require_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, got {value!r}.")


def _parse_admins(raw: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in re.split(r"[,\s]+", raw.strip()):
        if not part:
            continue
        if not re.fullmatch(r"-?\d+", part):
            raise SettingsError(
                f"NEWSBOT_ADMINS must list numeric Telegram user ids separated by commas; {part!r} "
                "is not one (a user can see their id by sending /start to the bot)."
            )
        ids.add(int(part))
    return frozenset(ids)


def _parse_cluster_model(raw: str) -> Path | None:
    """NEWSBOT_CLUSTER_MODEL: unset for the built-in model, off for none, else a directory."""
    value = raw.strip()
    if not value:
        return BUILT_IN_CLUSTER_MODEL
    if value.lower() in _FALSE | {"none"}:
        return None
    return Path(value)


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be 1 or 0 (true/false), got {raw!r}.")


def _parse_positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}.") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}.")
    return value


def _parse_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}.") from None
    if value < 0:
        raise SettingsError(f"{name} must be 0 or more, got {raw!r}.")
    return value


def _parse_similarity(name: str, raw: str, default: float | None) -> float | None:
    """A similarity in (0, 1]; empty for the default, ``off`` to turn that route off."""
    text = raw.strip().lower()
    if not text:
        return default
    if text in _FALSE:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(
            f"{name} must be a similarity between 0 and 1 (or off), got {raw!r}."
        ) from None
    if not 0 < value <= 1:
        raise SettingsError(f"{name} must be above 0 and at most 1, got {raw!r}.")
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(raw: object) -> timedelta:
    """Read a poll interval: a number of minutes, or a string like ``90s``, ``15m``, ``2h``."""
    if isinstance(raw, bool):
        raise SettingsError(f"interval must be minutes or a duration like '15m', got {raw!r}")
    if isinstance(raw, int | float):
        return timedelta(minutes=float(raw))
    match = _DURATION.match(str(raw))
    if match is None:
        raise SettingsError(f"interval must be minutes or a duration like '15m', got {raw!r}")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "m"])


def load_feeds(path: Path) -> list[FeedSpec]:
    """Load and validate feeds.yaml; raise SettingsError naming the feed and field at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(
            f"cannot read the feed list {path} ({exc.strerror}); set NEWSBOT_FEEDS"
        ) from None
    return parse_feeds_yaml(text, origin=str(path))


def parse_feeds_yaml(text: str, *, origin: str = "feeds.yaml") -> list[FeedSpec]:
    """Parse the text of a feed list (see feeds.yaml for the format)."""
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise SettingsError(f"{origin} is not valid YAML: {exc}") from None
    items = data.get("feeds") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise SettingsError(f"{origin} must have a top-level 'feeds:' list")
    feeds: list[FeedSpec] = []
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        spec = _feed_from_yaml(item, f"{origin}, feed {number}")
        if spec.url in seen:
            raise SettingsError(f"{origin}, feed {number}: {spec.url} is listed twice")
        seen.add(spec.url)
        feeds.append(spec)
    return feeds


def _feed_from_yaml(item: object, where: str) -> FeedSpec:
    if not isinstance(item, dict):
        raise SettingsError(f"{where}: each feed must be a mapping with at least 'url'")
    unknown = set(item) - {"url", "name", "tags", "language", "interval"}
    if unknown:
        raise SettingsError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    url = str(item.get("url", "")).strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"{where}: url must be an http(s) URL, got {url!r}")
    name = str(item.get("name") or parts.netloc).strip()
    tags_raw = item.get("tags") or []
    if not isinstance(tags_raw, list) or not all(isinstance(t, str) for t in tags_raw):
        raise SettingsError(f"{where}: tags must be a list of words")
    language = item.get("language")
    if language is not None and not re.fullmatch(
        r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", str(language)
    ):
        raise SettingsError(f"{where}: language must be a code like 'en' or 'ur', got {language!r}")
    interval = DEFAULT_POLL_INTERVAL
    if item.get("interval") is not None:
        interval = parse_interval(item["interval"])
        if interval < MIN_POLL_INTERVAL:
            raise SettingsError(f"{where}: interval must be at least 1 minute")
    return FeedSpec(
        url=url,
        name=name,
        tags=tuple(t.strip().lower() for t in tags_raw if t.strip()),
        language=str(language).lower() if language else None,
        interval=interval,
        trusted=True,
    )
