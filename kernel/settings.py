"""Typed configuration: ``config.yaml`` validated at start-up, overridable by environment.

Every section has its own ``<Area>Settings`` model; unknown keys are errors. Environment
variables override any key: ``SENSING_`` prefix, ``__`` for nesting (``SENSING_DATABASE__URL``).
Secrets are never literals in the file: a secret field holds ``$env:NAME`` or ``$file:PATH``.
A bad file raises :class:`ConfigError` listing one line per problem with the file, the key
path and what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from kernel import plugins

ENV_PREFIX = "SENSING_"
REPORT_FORMATS: tuple[Literal["docx", "xlsx", "pdf"], ...] = ("docx", "xlsx", "pdf")
DEFAULT_CONFIG = "config.yaml"


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` holds one message per fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:  # one line, so error records (first line only) keep the problem
            super().__init__(f"invalid configuration: {problems[0]}")
        else:
            super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


def _check_cron(expr: str) -> str:
    try:
        CronTrigger.from_crontab(expr)
    except ValueError as exc:
        raise ValueError(f"a 5-field cron expression like '*/5 * * * *' ({exc})") from None
    return expr


def _check_tz(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"an IANA time zone like 'Asia/Shanghai', got {name!r}") from None
    return name


def _check_http_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"an http(s) URL, got {url!r}")
    return url


def _check_secret_ref(value: str) -> str:
    if not (value.startswith("$env:") or value.startswith("$file:")) or len(value.split(":", 1)[1]) == 0:
        raise ValueError("a secret reference '$env:NAME' or '$file:PATH', never a literal secret")
    return value


def _registered(group: str, what: str, name: str) -> str:
    if name not in plugins.names(group):
        raise ValueError(f"unknown {what} kind {name!r}; expected one of {plugins.names(group)}")
    return name


Cron = Annotated[str, AfterValidator(_check_cron)]
TimeZone = Annotated[str, AfterValidator(_check_tz)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
SecretRef = Annotated[str, AfterValidator(_check_secret_ref)]


def resolve_secret(ref: str | None) -> str | None:
    """Return the value a ``$env:NAME`` / ``$file:PATH`` reference points to (None if unset)."""
    if not ref:
        return None
    kind, _, target = ref.partition(":")
    if kind == "$env":
        return os.environ.get(target)
    path = Path(target).expanduser()
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatabaseSettings(Section):
    url: str = Field(
        "sqlite:///var/minsheng.db", description="SQLAlchemy URL (sqlite:/// or postgresql+psycopg://)"
    )
    echo: bool = Field(False, description="log every SQL statement")
    busy_timeout_ms: int = Field(10_000, ge=0, le=600_000, description="SQLite busy timeout")
    pool_size: int = Field(5, ge=1, le=100, description="PostgreSQL connection pool size")

    @field_validator("url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("postgresql")):
            raise ValueError(f"a sqlite:/// or postgresql+psycopg:// URL, got {v!r}")
        return v


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    json_logs: bool | None = Field(None, description="JSON lines; default: when not on a terminal")


class ScheduleSettings(Section):
    """When a job runs: exactly one of interval_seconds or cron."""

    interval_seconds: int | None = Field(None, ge=1, le=7 * 86400, description="run every N seconds")
    cron: Cron | None = Field(None, description="5-field cron expression, in the app time zone")

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleSettings:
        if (self.interval_seconds is None) == (self.cron is None):
            raise ValueError("exactly one of interval_seconds or cron")
        return self


class SourceSettings(Section):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="unique source name")
    kind: str = Field(..., description="source kind: a name in the minsheng.sources entry points (rss, ...)")
    enabled: bool = True
    channel: Literal["social", "news", "hotline", "gov"] | None = Field(None, description="default channel")
    timezone: TimeZone = Field("Asia/Shanghai", description="time zone of naive timestamps")
    schedule: ScheduleSettings = Field(default_factory=lambda: ScheduleSettings(interval_seconds=300))
    options: dict[str, Any] = Field(default_factory=dict, description="kind-specific options")

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, v: str) -> str:
        return _registered(plugins.SOURCES, "source", v)


class ModelSettings(Section):
    backend: Literal["default", "transformers"] = Field("default", description="model backend")
    path: str | None = Field(None, description="local model directory (transformers) or artifact dir")


class TopicSettings(Section):
    window_days: int = Field(14, ge=1, le=365, description="sliding window refit on")
    min_topic_size: int | None = Field(None, ge=2, le=1000, description="null: n_docs/100 in [5, 50]")
    max_docs: int = Field(5000, ge=100, le=1_000_000, description="newest documents per refit")
    refit: ScheduleSettings = Field(default_factory=lambda: ScheduleSettings(cron="15 */6 * * *"))
    embedder: Literal["auto", "lsa", "encoder"] = Field(
        "auto",
        description="space topics are clustered in: auto = the encoder tier's stored embeddings once "
        "they cover encoder_coverage of the window (the rest embedded at refit), else n-gram LSA",
    )
    encoder_coverage: float = Field(0.9, ge=0, le=1, description="auto: share of the window already encoded")


Channel = Literal["social", "news", "hotline", "gov"]


class EncoderSettings(Section):
    """The encoder tier (``sensing encode``): e5 embeddings and stacked models, behind the fast tier.

    Its workers re-tag documents the fast tier has tagged, in priority order: documents of
    ``priority_channels`` first, then those of the ``hot_topics`` hottest topics and of open
    alerts, then the rest; newest first within each.
    """

    enabled: bool = Field(True, description="run the encoder tier's workers with the system")
    workers: int = Field(1, ge=0, le=16, description="encoder worker processes (PostgreSQL: several)")
    batch_size: int = Field(32, ge=1, le=10_000, description="documents per encoder batch")
    idle_seconds: float = Field(
        10.0, ge=0.1, le=3600, description="worker sleep when there is nothing to encode"
    )
    threads: int = Field(1, ge=1, le=64, description="encoder threads per worker process")
    priority_channels: list[Channel] = Field(
        default_factory=lambda: list[Channel](["hotline", "gov"]), description="channels encoded first"
    )
    hot_topics: int = Field(20, ge=0, le=1000, description="this many current hot topics are encoded next")
    path: str | None = Field(
        None, description="directory of the stacked models (default: the shipped nlp/models/encoder)"
    )


class NlpSettings(Section):
    sentiment: ModelSettings = Field(default_factory=ModelSettings)
    emotion: ModelSettings = Field(default_factory=ModelSettings)
    category: ModelSettings = Field(default_factory=ModelSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    batch_size: int = Field(500, ge=1, le=100_000, description="documents per tagging batch")
    worker_idle_seconds: float = Field(5.0, ge=0.1, le=3600, description="worker sleep when idle")
    low_confidence: float = Field(0.55, ge=0, le=1, description="below this score a tag is 'uncertain'")
    encoder: EncoderSettings = Field(default_factory=EncoderSettings)


class HeatWeightsSettings(Section):
    volume: float = Field(0.30, ge=0)
    growth: float = Field(0.20, ge=0)
    spread: float = Field(0.15, ge=0)
    engagement: float = Field(0.15, ge=0)
    negativity: float = Field(0.10, ge=0)
    persistence: float = Field(0.10, ge=0)


class AnalyticsSettings(Section):
    heat_weights: HeatWeightsSettings = Field(default_factory=HeatWeightsSettings)
    rollup: ScheduleSettings = Field(default_factory=lambda: ScheduleSettings(interval_seconds=60))
    retention_days: int | None = Field(None, ge=1, description="archive raw text older than N days")


class AlertRuleSettings(Section):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    kind: str = Field(..., description="rule kind: a name in the minsheng.rules entry points")
    enabled: bool = True
    dimension: Literal["total", "channel", "category", "region", "topic"] = "total"
    expression: str | None = Field(None, description='keyword rule: AND / OR / NOT, "phrases"')
    subject: str | None = Field(
        None, description="subject rules: the 专题's name (unset: every active subject)"
    )
    window_hours: int = Field(1, ge=1, le=168)
    lookback_days: int = Field(14, ge=1, le=90)
    threshold: float | None = Field(
        None, gt=0, description="z-score to fire; unset: derived from alarms_per_week (volume rules)"
    )
    alarms_per_week: float = Field(1.0, gt=0, le=168, description="false-alarm budget per series and week")
    min_count: int = Field(10, ge=0, description="ignore windows with fewer documents")
    detector: Literal["scan", "zscore"] = Field(
        "scan", description="volume/share spikes: likelihood-ratio scan (default) or robust z-score"
    )
    silence_minutes: int = Field(120, ge=1, description="source_silence: minutes without items")
    severity: Literal["info", "warning", "critical"] = "warning"
    cooldown_minutes: int = Field(60, ge=0)
    renotify_minutes: int = Field(240, ge=0)
    notify: list[str] = Field(default_factory=list, description="notifier names")

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, v: str) -> str:
        return _registered(plugins.RULES, "rule", v)

    @model_validator(mode="after")
    def _expression_for_keyword(self) -> AlertRuleSettings:
        if self.kind == "keyword" and not self.expression:
            raise ValueError("keyword rules need an 'expression'")
        return self


class NotifierSettings(Section):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    kind: str = Field(..., description="notifier kind: a name in the minsheng.notifiers entry points")
    url: HttpUrl | None = Field(None, description="webhook URL (webhook/wecom/dingtalk/feishu)")
    secret: SecretRef | None = Field(None, description="HMAC / robot signing secret reference")
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = Field(
        True,
        description="STARTTLS before login and sending (refused when the server lacks it); false only for a local relay",
    )
    smtp_user: str | None = None
    smtp_password: SecretRef | None = None
    sender: str | None = None
    recipients: list[str] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, v: str) -> str:
        return _registered(plugins.NOTIFIERS, "notifier", v)

    @model_validator(mode="after")
    def _target(self) -> NotifierSettings:
        if self.kind == "smtp" and not (self.smtp_host and self.recipients and self.sender):
            raise ValueError("smtp notifiers need smtp_host, sender and recipients")
        if self.kind != "smtp" and not self.url:
            raise ValueError(f"{self.kind} notifiers need a url")
        return self


class AlertSettings(Section):
    evaluate: ScheduleSettings = Field(default_factory=lambda: ScheduleSettings(interval_seconds=60))
    deliver: ScheduleSettings = Field(default_factory=lambda: ScheduleSettings(interval_seconds=15))
    delivery_expiry_hours: int = Field(24, ge=1, le=720)
    rules: list[AlertRuleSettings] = Field(default_factory=list)
    notifiers: list[NotifierSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_notifiers(self) -> AlertSettings:
        names = {n.name for n in self.notifiers}
        for rule in self.rules:
            missing = [n for n in rule.notify if n not in names]
            if missing:
                raise ValueError(f"rule {rule.name!r} names unknown notifiers {missing}")
        return self


class ReplyQualitySettings(Section):
    """Weights of the reply-quality components (see analytics/reply_quality.py) and delay bands."""

    relevance: float = Field(0.30, ge=0, description="text similarity, place and demand addressed")
    completeness: float = Field(0.30, ge=0, description="unit, action/result, contact path, date")
    policy: float = Field(0.10, ge=0, description="cites a policy or regulation")
    timeliness: float = Field(0.20, ge=0, description="reply delay, banded")
    tone: float = Field(0.10, ge=0, description="courteous, not dismissive")
    delay_bands_days: list[float] = Field(
        default_factory=lambda: [3.0, 7.0, 15.0, 30.0, 90.0],
        description="upper bounds; score falls a step per band",
    )

    @field_validator("delay_bands_days")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if not v or any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("a non-empty, strictly increasing list of days")
        return v


class ReportSettings(Section):
    schedule: ScheduleSettings | None = Field(None, description="when to generate the weekly report")
    formats: list[Literal["docx", "xlsx", "pdf"]] = Field(default_factory=lambda: list(REPORT_FORMATS))
    out_dir: str = Field("var/reports", description="where report files are written")
    recipients: list[str] = Field(default_factory=list, description="e-mail recipients")
    notifier: str | None = Field(None, description="smtp notifier used to send reports")
    briefing: bool = Field(
        True, description="append the week's verified model-written briefing, if there is one"
    )
    subject_schedule: ScheduleSettings | None = Field(
        None, description="when to report the previous month of every subject with subscribers, by e-mail"
    )


class ImportSettings(Section):
    """Bounds on reading an imported file (``sensing import``, ``hotline_files``): see ingest/read_limits.py."""

    max_decompressed_mb: int = Field(
        1024, ge=1, le=65_536, description="a .gz file or an XLSX's zip members may expand to this much"
    )
    max_json_document_mb: int = Field(
        256, ge=1, le=8192, description="a .json document is read whole; larger ones must be JSON Lines"
    )
    max_line_kb: int = Field(
        4096, ge=1, le=1_048_576, description="longest CSV / JSON Lines line (or quoted multi-line CSV row)"
    )
    max_field_chars: int = Field(
        200_000, ge=100, le=100_000_000, description="longest value in one field; a longer one skips its row"
    )
    max_json_depth: int = Field(64, ge=2, le=500, description="deepest nesting of JSON objects and arrays")

    @property
    def max_decompressed_bytes(self) -> int:
        return self.max_decompressed_mb << 20

    @property
    def max_json_document_bytes(self) -> int:
        return self.max_json_document_mb << 20

    @property
    def max_line_bytes(self) -> int:
        return self.max_line_kb << 10


class UserSettings(Section):
    username: str = Field(..., pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    role: Literal["official", "analyst", "duty", "admin"]
    display_name: str | None = None
    password_hash: SecretRef | None = Field(None, description="argon2 hash reference ($env:/$file:)")
    password: SecretRef | None = Field(None, description="plain password reference, hashed on load")


class DashboardSettings(Section):
    host: str = Field("127.0.0.1", description="bind address (localhost unless you mean it)")
    port: int = Field(8501, ge=1, le=65535)
    base_url: str | None = Field(None, description="public URL used in alert links")
    auto_refresh_seconds: int = Field(60, ge=5, le=3600)
    users: list[UserSettings] = Field(default_factory=list)


class AppSettings(Section):
    timezone: TimeZone = Field("Asia/Shanghai", description="display and cron time zone")
    data_dir: str = Field("var", description="runtime files: database, drop folders, reports")
    author_hash_key: SecretRef | None = Field(
        None, description="key for hashing author ids; required unless only simulated sources run"
    )


class LlmSettings(Section):
    """The office's own large model: an OpenAI-compatible chat endpoint (vLLM, Ollama, Xinference ...).

    Unset (the default), nothing is contacted and no briefing is written by a model.
    """

    base_url: HttpUrl = Field(..., description="endpoint root including /v1, e.g. http://10.0.0.5:8000/v1")
    model: str = Field(..., min_length=1, max_length=128, description="model name the server serves")
    api_key: SecretRef | None = Field(None, description="bearer token reference ($env:/$file:), if any")
    timeout_seconds: float = Field(60.0, gt=0, le=600, description="one request, connect to last byte")
    max_tokens: int = Field(1500, ge=64, le=32_768, description="most tokens the model may write per call")
    max_prompt_chars: int = Field(
        60_000, ge=2000, le=1_000_000, description="longest prompt sent; facts beyond it are left out"
    )
    temperature: float = Field(0.0, ge=0, le=2, description="0: the same facts give the same text")
    max_retries: int = Field(1, ge=0, le=5, description="retries after a 429 or 5xx (Retry-After honoured)")
    max_failed_share: float = Field(
        0.3, ge=0, le=1, description="above this share of removed sentences the template text is shown"
    )
    daily_schedule: ScheduleSettings | None = Field(
        None,
        description="when the scheduler writes yesterday's briefing (e.g. cron '30 7 * * *'); unset: never",
    )
    weekly_schedule: ScheduleSettings | None = Field(
        None,
        description="when the scheduler writes last week's briefing (e.g. cron '0 7 * * 1'); unset: never",
    )


class Settings(Section):
    """The whole configuration."""

    app: AppSettings = Field(default_factory=AppSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    sources: list[SourceSettings] = Field(default_factory=list)
    nlp: NlpSettings = Field(default_factory=NlpSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    reply_quality: ReplyQualitySettings = Field(default_factory=ReplyQualitySettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    llm: LlmSettings | None = Field(None, description="the office's large model; unset: none is used")
    _origin: str = PrivateAttr(DEFAULT_CONFIG)

    @property
    def origin(self) -> str:
        """The file these settings were loaded from (for error messages)."""
        return self._origin

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for label, items in (("sources", self.sources), ("alerts.rules", self.alerts.rules)):
            names = [i.name for i in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{label}: duplicate names {dupes}")
        return self

    def source(self, name: str) -> SourceSettings:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """Overlay ``SENSING_A__B__C=value`` onto the nested dict (list items by index)."""
    for key, raw in sorted(environ.items()):
        if not key.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if not path or path[0] not in Settings.model_fields:
            continue  # SENSING_CONFIG, secrets such as SENSING_ADMIN_PASSWORD: not config keys
        try:
            value: Any = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)) is False and not isinstance(value, (int, float, bool)):
            value = raw
        node: Any = data
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, list):
                idx = int(part) if part.isdigit() else None
                if idx is None or idx >= len(node):
                    raise ConfigError([f"env {key}: no list item {part!r} at {'.'.join(path[:i])}"])
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
    return data


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def format_errors(exc: ValidationError, origin: str) -> list[str]:
    """One message per problem: ``origin: key.path: what was expected (got ...)``."""
    out = []
    for err in exc.errors(include_url=False):
        loc = _loc(err["loc"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] not in ("missing",) and "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        out.append(f"{origin}: {loc or '<root>'}: {msg}")
    return out


def config_path(path: str | os.PathLike[str] | None, environ: dict[str, str] | None = None) -> Path:
    """The configuration file: ``path``, else ``$SENSING_CONFIG``, else ``./config.yaml``."""
    env = os.environ if environ is None else environ
    return Path(path or env.get("SENSING_CONFIG") or DEFAULT_CONFIG)


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Load and validate the configuration file plus environment overrides.

    Raises:
        ConfigError: with one message per problem, naming the file and key path.
    """
    environ = dict(os.environ if environ is None else environ)
    cfg_path = config_path(path, environ)
    origin = str(cfg_path)
    data: dict[str, Any] = {}
    if cfg_path.exists():
        try:
            loaded = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError([f"{origin}: not valid YAML: {exc}"]) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError([f"{origin}: <root>: a mapping of sections"])
        data = loaded or {}
    elif path is not None:
        raise ConfigError([f"{origin}: file not found"])
    data = _apply_env(data, environ)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, origin)) from None
    settings._origin = origin
    return settings
