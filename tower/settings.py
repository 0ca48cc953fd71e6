"""Every `TOWER_*` setting, its default and its meaning, in one place.

Read once per process with `load_settings()`, which refuses bad settings with a `SettingsError` that
names each variable but none of the values (API keys, DSN passwords); nothing here connects to anything.
"""

from __future__ import annotations

import tomllib
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tower.clock import clock_from_setting

# Defaults of DESIGN.md: a type's place downstream in the flow, or "reference" for context types.
DEFAULT_OBJECT_LEVELS: dict[str, int | None] = {
    "order": 0,
    "order_line": 1,
    "fulfillment": 2,
    "shipment": 3,
    "load": 4,
    "invoice": 5,
    "customer": None,
    "product": None,
    "warehouse": None,
    "carrier": None,
    "employee": None,
}

SCOPES = frozenset({"ingest", "read", "admin"})

# What TOWER_ALERT_WEBHOOKS receivers are sent (slo/notify.py renders each).
ALERT_FORMATS = ("json", "slack", "alertmanager")

# The consumers `tower serve` may run beside the collector under Kafka (TOWER_KAFKA_STAGES).
KAFKA_STAGES = frozenset({"writer", "correlator"})

# Span attributes that name a business identifier, and the namespace each names it in ("*": any).
DEFAULT_SPAN_IDENTIFIER_ATTRIBUTES = (
    "order.id=*,order.number=*,tower.order_id=*,purchase_order.number=po,shipment.id=*,"
    "shipment.tracking_number=tracking,tracking.number=tracking,invoice.number=*"
)


class ApiKey:
    """One configured API key: its secret, its scopes and, optionally, the one tenant it may touch."""

    __slots__ = ("key", "scopes", "tenant")

    def __init__(self, key: str, scopes: frozenset[str], tenant: str | None) -> None:
        self.key = key
        self.scopes = scopes
        self.tenant = tenant


def parse_api_keys(spec: str | None) -> dict[str, ApiKey]:
    """Parse `key=scope+scope[@tenant],…`; raise ValueError naming the bad entry."""
    keys: dict[str, ApiKey] = {}
    if not spec:
        return keys
    for n, raw in enumerate(spec.split(","), 1):
        entry = raw.strip()
        if not entry:
            continue
        key, sep, rest = entry.partition("=")
        if not sep or not key or not rest:  # the entry may be a bare key: never echo it
            raise ValueError(f"TOWER_API_KEYS entry {n} ({_masked(key)}): expected key=scope+scope[@tenant]")
        scope_part, _, tenant = rest.partition("@")
        scopes = frozenset(s.strip() for s in scope_part.split("+") if s.strip())
        unknown = scopes - SCOPES
        if unknown or not scopes:
            raise ValueError(
                f"TOWER_API_KEYS entry for key {_masked(key)}: unknown scope(s) {sorted(unknown) or '(none)'}; "
                f"use {'+'.join(sorted(SCOPES))}"
            )
        keys[key] = ApiKey(key, scopes, tenant or None)
    return keys


def _masked(key: str) -> str:
    """A key as an error may show it: its first 4 characters when it is long enough that they give
    little away (12 or more), else only its length."""
    return f"{key[:4]}…" if len(key) >= 12 else f"{len(key)} characters"


def parse_object_levels(spec: str | None, defaults: dict[str, int | None] | None = None) -> dict[str, int | None]:
    """Defaults overlaid with `type=level` or `type=reference` entries; ValueError names the bad entry."""
    levels = dict(DEFAULT_OBJECT_LEVELS if defaults is None else defaults)
    if not spec:
        return levels
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, value = (part.strip() for part in entry.partition("="))
        if not sep or not name:
            raise ValueError(f"TOWER_OBJECT_LEVELS entry {entry!r}: expected type=level or type=reference")
        if value == "reference":
            levels[name] = None
        else:
            try:
                levels[name] = int(value)
            except ValueError:
                raise ValueError(
                    f"TOWER_OBJECT_LEVELS entry {entry!r}: level must be a whole number or 'reference'"
                ) from None
    return levels


def parse_span_identifiers(spec: str | None) -> dict[str, str]:
    """`attribute=namespace,…` → {attribute: namespace}, namespace '' for `*` (any); ValueError names the entry."""
    found: dict[str, str] = {}
    for raw in (spec or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        attribute, sep, namespace = (part.strip() for part in entry.partition("="))
        if not sep or not attribute or not namespace:
            raise ValueError(
                f"TOWER_SPAN_IDENTIFIER_ATTRIBUTES entry {entry!r}: expected attribute=namespace (or attribute=*)"
            )
        found[attribute] = "" if namespace == "*" else namespace
    return found


def parse_partner_zones(spec: str | None) -> dict[str, ZoneInfo]:
    """`PARTNER=Area/City,…` → {PARTNER (trimmed, upper case): zone}, `*` the default for any other
    partner; empty: {} (every partner UTC). ValueError names the entry, its partner and its zone."""
    found: dict[str, ZoneInfo] = {}
    for raw in (spec or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        partner, sep, name = (part.strip() for part in entry.partition("="))
        if not sep or not partner or not name:
            raise ValueError(f"TOWER_EDI_PARTNER_ZONES entry {entry!r}: expected partner=Area/City (or *=Area/City)")
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"TOWER_EDI_PARTNER_ZONES: partner {partner!r} has zone {name!r}, which is no IANA time zone "
                "(America/Chicago, Europe/Berlin, UTC…)"
            ) from None
        found[partner.upper()] = zone
    return found


def _hhmm(text: str, where: str) -> time:
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not HH:MM") from None


def parse_shifts(spec: str) -> dict[str, list[tuple[time, time]]]:
    """`*=06:00-22:00,dc-west=06:00-14:00+15:00-23:00` → shifts per warehouse (`*` for the rest)."""
    out: dict[str, list[tuple[time, time]]] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        where = f"TOWER_WAREHOUSE_SHIFTS entry {entry!r}"
        name, sep, ranges = entry.partition("=")
        if not sep:
            raise ValueError(f"{where}: expected warehouse=HH:MM-HH:MM[+HH:MM-HH:MM]")
        shifts = []
        for part in ranges.split("+"):
            start, dash, end = part.partition("-")
            if not dash:
                raise ValueError(f"{where}: {part!r} is not HH:MM-HH:MM")
            a, b = _hhmm(start, where), _hhmm(end, where)
            if b <= a:
                raise ValueError(f"{where}: a shift ends after it starts (same day)")
            shifts.append((a, b))
        out[name.strip()] = sorted(shifts)
    return out


def parse_cutoffs(spec: str) -> dict[str, time]:
    """`*=17:00,fedex=18:30` → the daily pick-up cut-off per carrier (`*` for the rest)."""
    out: dict[str, time] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        if not sep:
            raise ValueError(f"TOWER_CARRIER_CUTOFFS entry {entry!r}: expected carrier=HH:MM")
        out[name.strip()] = _hhmm(value, f"TOWER_CARRIER_CUTOFFS entry {entry!r}")
    return out


def parse_alert_webhooks(spec: str | None) -> list[tuple[str, str]]:
    """`format=url,…` → [(format, url)]; ValueError names a bad entry by its place, not its text: a
    webhook URL is often its own secret (Slack's)."""
    found: list[tuple[str, str]] = []
    entries = [entry.strip() for entry in (spec or "").split(",") if entry.strip()]
    for place, entry in enumerate(entries, 1):
        where = f"TOWER_ALERT_WEBHOOKS entry {place} of {len(entries)}"
        fmt, sep, url = entry.partition("=")
        if not sep or fmt not in ALERT_FORMATS:
            raise ValueError(f"{where}: expected format=http(s)://…, the format one of {', '.join(ALERT_FORMATS)}")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{where} ({fmt}): the URL must start with http:// or https://")
        found.append((fmt, url))
    return found


def parse_kafka_stages(spec: str) -> frozenset[str]:
    """`writer,correlator`, either one, or empty (the collector alone) → the stage names; ValueError names
    the unknown ones."""
    names = frozenset(s.strip() for s in spec.split(",") if s.strip())
    unknown = names - KAFKA_STAGES
    if unknown:
        raise ValueError(
            f"TOWER_KAFKA_STAGES: unknown stage(s) {sorted(unknown)}; use writer, correlator, both "
            "(writer,correlator) or empty (the collector alone)"
        )
    return names


def read_levels_file(path: Path) -> dict[str, int | None]:
    """`[object_levels]` of a TOML file: `pallet = 4`, `quote = "reference"`; ValueError says what is
    wrong with the file (missing, unreadable, not TOML, a level neither a whole number nor "reference")."""
    where = f"TOWER_OBJECT_LEVELS_FILE {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        looked = "" if path.is_absolute() else f" ({path.resolve()})"
        raise ValueError(f"{where}: no such file{looked}; name an existing TOML file or unset it") from None
    except IsADirectoryError:
        raise ValueError(f"{where}: is a folder; name a TOML file of [object_levels]") from None
    except UnicodeDecodeError:
        raise ValueError(f"{where}: is not UTF-8 text, so not TOML") from None
    except OSError as exc:
        raise ValueError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        table = tomllib.loads(text).get("object_levels", {})
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: is not valid TOML ({exc})") from None
    if not isinstance(table, dict):
        raise ValueError(f"{where}: object_levels must be a table, [object_levels], of type = level")
    levels: dict[str, int | None] = {}
    for name, value in table.items():
        if value == "reference":
            levels[name] = None
        elif isinstance(value, int) and not isinstance(value, bool):
            levels[name] = value
        else:
            raise ValueError(f'TOWER_OBJECT_LEVELS_FILE {path}: {name} = {value!r}; use a whole number or "reference"')
    return levels


# Settings parsed where they are used, parsed at load too (`Settings._parses`): a bad one is refused
# with the others, not at the first use after the server started.
LOAD_CHECKS: dict[str, Any] = {
    "object_levels": parse_object_levels,
    "object_levels_file": read_levels_file,
    "kafka_stages": parse_kafka_stages,
    "clock": clock_from_setting,
    "warehouse_shifts": parse_shifts,
    "carrier_cutoffs": parse_cutoffs,
    "alert_webhooks": parse_alert_webhooks,
}


class Settings(BaseSettings):
    """Control Tower's settings; each field is the `TOWER_<NAME>` environment variable."""

    model_config = SettingsConfigDict(env_prefix="TOWER_", extra="ignore")

    data_dir: Path = Field(Path("./.tower"), description="Where the embedded store and local state live.")
    clickhouse_dsn: str | None = Field(
        None,
        description="chdb://$TOWER_DATA_DIR/clickhouse by default; http://user:pass@host:8123/db for a server.",
    )
    database: str = Field("tower", description="ClickHouse database holding Control Tower's tables.")
    kafka_bootstrap: str | None = Field(None, description="host:9092,… to put Kafka between the stages.")
    kafka_topic: str = Field(
        "tower.events", description="Kafka topic of canonical events; dead letters go to <topic>.dead-letters."
    )
    kafka_partitions: int = Field(
        6, description="Partitions of the events topic when Control Tower creates it (at most 1024)."
    )
    kafka_replication: int = Field(1, description="Replication factor of the topics Control Tower creates.")
    kafka_idempotence: bool = Field(
        True, description="Idempotent Kafka producer (needs InitProducerId; false for brokers without it, e.g. Tansu)."
    )
    kafka_ack_timeout_ms: int = Field(
        30_000,
        description=(
            "Longest the collector waits for the broker to acknowledge a request's events before answering 503; "
            "a broker found gone (a probe every second) is not waited for, and refused at once until it is back."
        ),
    )
    kafka_stages: str = Field(
        "writer,correlator",
        description="With Kafka, the consumers `tower serve` runs in its own process: writer, correlator, or empty.",
    )
    clickhouse_cluster: str | None = Field(
        None,
        description=(
            "ClickHouse cluster name: tables are made ON CLUSTER as Replicated* + Distributed. Needs a server "
            "TOWER_CLICKHOUSE_DSN (a node of the cluster): embedded chDB has no cluster."
        ),
    )
    host: str = Field("127.0.0.1", description="Address the API server binds to.")
    port: int = Field(8000, description="Port of the API server.")
    object_levels: str | None = Field(
        None, description="Comma-separated type=level or type=reference, added to or overriding the defaults."
    )
    object_levels_file: Path | None = Field(
        None,
        description=(
            'A TOML file of [object_levels] type = level or "reference", read when the settings load (a missing '
            "or bad file refuses them); TOWER_OBJECT_LEVELS wins over it."
        ),
    )
    api_keys: str | None = Field(
        None,
        description=(
            "Comma-separated key=scope+scope[@tenant]; scopes ingest, read, admin. Unset: loopback only, no auth."
        ),
    )
    shopify_webhook_secret: str | None = Field(
        None, description="Verifies X-Shopify-Hmac-SHA256 on /v1/adapters/shopify (401 when wrong); unset: not checked."
    )
    easypost_webhook_secret: str | None = Field(
        None, description="Verifies X-Hmac-Signature on /v1/adapters/easypost (401 when wrong); unset: not checked."
    )
    webhook_tolerance_s: float = Field(
        300,
        description=(
            "Seconds a webhook's signed timestamp may be from the tower's clock (EasyPost X-Hmac-Signature-V2 "
            "with X-Timestamp); older or newer deliveries are refused as replays (401). 0 accepts body-only "
            "signatures without a timestamp."
        ),
    )
    retention_events_days: float = Field(
        0,
        description=(
            "Days raw events (and webhook delivery records) are kept, by event time, in whole months; "
            "0 keeps forever. A month holding an open journey's events or uncorrelated events is kept."
        ),
    )
    retention_dead_letters_days: float = Field(
        0, description="Days dead letters are kept (whole months); 0 keeps forever."
    )
    retention_telemetry_days: float = Field(
        0, description="Days spans, span links and log records are kept (whole months); 0 keeps forever."
    )
    retention_journeys_days: float = Field(
        0,
        description=(
            "Days closed journeys (delivered, cancelled, rejected) are kept after their last event (whole months); "
            "open journeys are never dropped; 0 keeps forever."
        ),
    )
    retention_slo_days: float = Field(
        0,
        description="Days alert history and notifications are kept (whole months; active alerts stay); 0: forever.",
    )
    retention_interval_s: float = Field(3600, description="Seconds between the server's retention runs.")
    mappings_dir: Path | None = Field(
        None, description="A folder of declarative mappings (*.yaml), each served as /v1/adapters/mapping/<name>."
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, description="Largest request body accepted (413 above).")
    max_batch_events: int = Field(10_000, description="Most events accepted in one request (413 above).")
    commit_max_events: int = Field(20_000, description="Most events the writer puts in one insert.")
    commit_max_delay_ms: float = Field(
        5.0, description="How long the writer waits to gather concurrent requests into one insert."
    )
    pending_max_events: int = Field(
        100_000, description="Events waiting for the writer before new requests get 429 Retry-After."
    )
    ingest_max_bytes: int = Field(
        16_777_216,
        description=(
            "Bytes of `POST /v1/events` bodies read and parsed at once (by Content-Length); a request past it "
            "gets 429 Retry-After before its body is read. One request is always admitted."
        ),
    )
    pending_max_wait_s: float = Field(
        10.0,
        description=(
            "Seconds of work waiting for the writer (its backlog at the speed of its last commit) before new "
            "requests get 429 Retry-After: an acknowledgement never waits much longer than this."
        ),
    )
    correlator_max_lag_events: int = Field(
        1_000_000,
        description=(
            "Committed events the correlator may be behind before new requests get 429 Retry-After (0: no "
            "bound). Without Kafka only: there the broker holds the backlog."
        ),
    )
    correlator_batch_events: int = Field(
        20_000,
        description="Events per correlator step; behind by more than that, a step takes up to twice as many.",
    )
    correlator_process: bool = Field(
        True,
        description="On the embedded store, run the correlator in a process of its own beside the server "
        "(a second core for correlation); false runs it in the server's process. Under Kafka it runs where "
        "its stage runs.",
    )
    correlator_interval_ms: float = Field(
        100.0, description="How often the correlator looks for new events when not woken by the writer."
    )
    journey_hot_days: float | None = Field(
        1.0,
        description=(
            "Delivered, cancelled or rejected journeys idle this many days of event time leave the correlator's "
            "memory (they come back from the log when named again: a return or a late invoice costs one read); "
            "empty keeps everything in memory."
        ),
    )
    journey_idle_days: float | None = Field(
        30.0,
        description=(
            "Journeys not finished but idle this many days of event time (an order whose delivery scan never "
            "came) leave the correlator's memory too, and come back when named again; empty keeps them. "
            "Needs TOWER_JOURNEY_HOT_DAYS."
        ),
    )
    span_identifier_attributes: str = Field(
        DEFAULT_SPAN_IDENTIFIER_ATTRIBUTES,
        description=(
            "Span attributes naming a business identifier, as attribute=namespace (* for any; a namespace also "
            "matches its scoped forms, tracking → tracking:ups): such a span shows in the journeys of the objects "
            "known by that identifier, even without an event."
        ),
    )
    clock: str = Field(
        "system", description="'system', or an RFC 3339 instant to freeze the evaluation clock (tests, replays)."
    )
    slo_dir: Path | None = Field(
        None, description="A folder of OpenSLO v1 files added to the shipped SLOs (one of the same name replaces it)."
    )
    slo_engine: bool = Field(True, description="Run the SLO evaluation loop in the server.")
    slo_eval_interval_s: int = Field(60, description="Evaluation interval (simulated time), whole minutes.")
    slo_min_events: int = Field(
        10, description="Events a burn-rate alert's long window needs before it may fire (the low-traffic guard)."
    )
    slo_min_bad_events: int = Field(
        2, description="Bad events a burn-rate alert's long window needs before it may fire: one failure never pages."
    )
    slo_lookback_minutes: int = Field(
        360,
        description="Minutes before the last evaluation re-read every TOWER_SLO_LOOKBACK_EVERY_MINUTES, for events "
        "that arrive late.",
    )
    slo_lookback_every_minutes: int = Field(
        15, description="How often (simulated minutes) an evaluation re-reads the whole lookback.", ge=1
    )
    slo_recent_minutes: int = Field(
        15,
        description="Minutes before the last evaluation re-read by the evaluations in between: an event later "
        "than this shows in its minute within TOWER_SLO_LOOKBACK_EVERY_MINUTES.",
        ge=0,
    )
    slo_backfill_minutes: int = Field(
        4320, description="On a tenant's first evaluation, replay this much history into alerts (not notified)."
    )
    alert_webhooks: str | None = Field(
        None, description="Comma-separated format=url receivers of every alert group (json, slack or alertmanager)."
    )
    alert_group_wait_s: float = Field(30, description="Wait before a new alert group's first notification.")
    alert_group_interval_s: float = Field(300, description="Least time between notifications of a changed group.")
    alert_repeat_interval_s: float = Field(14_400, description="Re-notify a group still firing after this long.")
    warehouse_shifts: str = Field(
        "*=06:00-22:00", description="Working hours (UTC) per warehouse for stuck-order deadlines: wh=HH:MM-HH:MM[+…]."
    )
    edi_partner_zones: str = Field(
        "",
        description="Time zone of each EDI trading partner, by sender id (X12 ISA06, EDIFACT UNB sender; trimmed, any "
        "case): PARTNER=Area/City,…, * for the rest. Dates and times a document gives without a zone code are that "
        "partner's local time; empty: UTC.",
    )
    carrier_cutoffs: str = Field("*=17:00", description="Daily pick-up cut-off (UTC) per carrier: carrier=HH:MM,….")
    scan_grace_hours: float = Field(6, description="Hours after a carrier's cut-off before a missing scan counts.")
    missing_tracking_alert_min: int = Field(
        5, description="Shipments of one carrier missing a scan that raise ShipmentsMissingTracking; 0 disables it."
    )
    dashboard_api: str | None = Field(
        None, description="URL of the API the dashboard reads; unset: http://TOWER_HOST:TOWER_PORT."
    )
    dashboard_api_key: str | None = Field(
        None, description="Bearer key the dashboard sends (read scope; admin to acknowledge, silence and replay)."
    )
    dashboard_tenant: str | None = Field(None, description="Tenant the dashboard shows; unset: the default tenant.")
    dashboard_port: int = Field(8501, description="Port of the dashboard (tower dashboard, tower up).")
    dashboard_refresh_seconds: float = Field(
        30.0, description="How often the dashboard's pages refresh themselves; 0 turns auto-refresh off."
    )

    @field_validator("journey_hot_days", "journey_idle_days", "object_levels_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none") else value

    @field_validator(
        "object_levels",
        "object_levels_file",
        "kafka_stages",
        "clock",
        "warehouse_shifts",
        "carrier_cutoffs",
        "alert_webhooks",
    )
    @classmethod
    def _parses(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            LOAD_CHECKS[info.field_name or ""](value)
        return value

    @field_validator("span_identifier_attributes")
    @classmethod
    def _check_span_identifiers(cls, value: str) -> str:
        parse_span_identifiers(value)
        return value

    @field_validator("edi_partner_zones")
    @classmethod
    def _check_partner_zones(cls, value: str) -> str:
        parse_partner_zones(value)
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: str | None) -> str | None:
        parse_api_keys(value)
        return value

    @model_validator(mode="after")
    def _check_cluster_has_a_server(self) -> Settings:
        if self.clickhouse_cluster and self.embedded:
            dsn = self.clickhouse_dsn or f"unset, so {self.dsn}"
            raise ValueError(
                f"TOWER_CLICKHOUSE_CLUSTER={self.clickhouse_cluster} needs a ClickHouse server, but "
                f"TOWER_CLICKHOUSE_DSN is {dsn}: embedded chDB is one engine in this process, with no cluster. "
                "Unset TOWER_CLICKHOUSE_CLUSTER, or set TOWER_CLICKHOUSE_DSN to a node of the cluster "
                "(http://user:pass@host:8123/db)"
            )
        return self

    @property
    def dsn(self) -> str:
        if self.clickhouse_dsn:
            return self.clickhouse_dsn
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def dashboard_api_url(self) -> str:
        return (self.dashboard_api or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def kafka_stage_names(self) -> frozenset[str]:
        return parse_kafka_stages(self.kafka_stages)

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb:")

    @cached_property
    def levels(self) -> dict[str, int | None]:
        levels = dict(DEFAULT_OBJECT_LEVELS)
        if self.object_levels_file is not None:
            levels.update(read_levels_file(self.object_levels_file))
        levels.update(parse_object_levels(self.object_levels, defaults={}))
        return levels

    @cached_property
    def span_identifiers(self) -> dict[str, str]:
        return parse_span_identifiers(self.span_identifier_attributes)

    @cached_property
    def keys(self) -> dict[str, ApiKey]:
        return parse_api_keys(self.api_keys)

    @cached_property
    def secrets(self) -> dict[str, str]:
        """The webhook secrets by adapter name, as adapters receive them."""
        configured = {"shopify": self.shopify_webhook_secret, "easypost": self.easypost_webhook_secret}
        return {name: secret for name, secret in configured.items() if secret}

    @property
    def auth_enabled(self) -> bool:
        return bool(self.keys)


class SettingsError(ValueError):
    """Settings refused at load: one line per refused setting (`lines`), naming its variable and never
    its value. Nothing chains to pydantic's ValidationError, whose text repeats the values."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_settings(**overrides: Any) -> Settings:
    """The settings from the `TOWER_*` variables, `overrides` (field names) winning over them; a refused
    setting raises SettingsError. Use this rather than `Settings()`, whose ValidationError carries the
    values given into tracebacks and logs."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = refused_settings(exc)
    # Raised outside the `except`, so the ValidationError is not even the implicit context.
    raise SettingsError(lines) from None


def refused_settings(exc: ValidationError) -> list[str]:
    """One line per setting `Settings()` refused, without the values it was given: pydantic's own
    text repeats them, and for a check across settings that is every variable set (API keys and DSN
    passwords among them)."""
    lines = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ValueError):  # the validators' messages name their variables
            lines.append(str(cause))
        else:  # a type or bound pydantic checks: name the variable
            name = "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"TOWER_{name}: {error['msg']}")
    return lines


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: what `tower settings` and the README print."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "unset" if default is None else str(default)
        rows.append((f"TOWER_{name.upper()}", shown, field.description or ""))
    return rows
