"""The API server: one process owning the store, with the writer and the correlator inside it.

`create_app` composes the routes of every stage and starts the long-lived parts in `lifespan`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from adapters.registry import load_all as load_adapters
from collector.api import adapters, clock, dead_letters, deliveries, events, health, logs, traces
from collector.consume import KafkaWriter
from collector.ledger import DeliveryLedger
from collector.otlp.schema import MIGRATIONS as OTLP_MIGRATIONS
from collector.otlp.writer import TelemetryWriter
from collector.produce import KafkaAppender
from collector.quarantine import Quarantine
from collector.schema import MIGRATIONS as COLLECTOR_MIGRATIONS
from collector.writer import GroupCommitWriter
from correlator.api import journeys, lookup
from correlator.api import logs as log_reads
from correlator.api import traces as trace_reads
from correlator.engine import Correlator, CorrelatorParams, HorizonClock
from correlator.feed import KafkaFeed
from correlator.process import CorrelatorProcess
from correlator.schema import MIGRATIONS as CORRELATOR_MIGRATIONS
from slo.api import alerts as slo_alerts
from slo.api import kpis as slo_kpis
from slo.api import reconciliation, slos
from slo.engine import SloEngine, build_engine
from slo.schema import MIGRATIONS as SLO_MIGRATIONS
from tower import __version__, compiled
from tower.api import JSON, ApiError, error_response
from tower.bus import InProcessBus
from tower.clock import Clock, clock_from_setting
from tower.kafka import ensure_topics
from tower.openapi import describe_errors
from tower.retention import Retention, run_retention, ttl_days
from tower.settings import Settings, load_settings
from tower.store import Migration, Store, StoreError
from tower.telemetry import configure_tracing, shutdown_tracing, untraced
from tower.timing import ServerTiming

log = logging.getLogger(__name__)

MIGRATIONS: tuple[Migration, ...] = (*COLLECTOR_MIGRATIONS, *OTLP_MIGRATIONS, *CORRELATOR_MIGRATIONS, *SLO_MIGRATIONS)


@dataclass
class Services:
    store: Store
    bus: InProcessBus
    writer: GroupCommitWriter | KafkaAppender
    correlator: Correlator | CorrelatorProcess | None
    quarantine: Quarantine
    clock: Clock  # the clock: driven by /v1/admin/clock when manual
    telemetry: TelemetryWriter
    # "now" for every evaluation (stuck orders, SLOs): the clock, held back to what the correlator
    # has applied, so a journey is never judged on traffic acknowledged but not yet correlated
    evaluation_clock: Clock
    slo: SloEngine | None  # None where this process runs no correlator (a Kafka writer or collector)
    kafka_writer: KafkaWriter | None = None  # under Kafka, the stages this process runs
    feed: KafkaFeed | None = None
    owns_store: bool = True  # False: an ingest-only process beside another that owns the embedded store
    ledger: DeliveryLedger | None = None  # body-signed webhook deliveries (replays refused); set where owns_store
    retention: asyncio.Task[None] | None = None  # drops partitions past their TTL (tower/retention.py)


def build_services(settings: Settings, stages: frozenset[str] | None = None) -> Services:
    if settings.kafka_bootstrap:
        return build_kafka_services(settings, stages)
    store = Store(settings.dsn, settings.database, cluster=settings.clickhouse_cluster)
    bus = InProcessBus(max_events=2 * settings.correlator_batch_events)
    clock = clock_from_setting(settings.clock)
    correlator: Correlator | CorrelatorProcess
    if settings.correlator_process:
        bus = InProcessBus(max_events=1)  # the batches go to the child process, not held here
        correlator = CorrelatorProcess(store, bus, CorrelatorParams.from_settings(settings), clock)
    else:
        correlator = CorrelatorParams.from_settings(settings).build(store, bus, clock)
    evaluation_clock = HorizonClock(clock, correlator)
    return Services(
        store=store,
        bus=bus,
        writer=GroupCommitWriter(
            store,
            bus,
            max_events=settings.commit_max_events,
            max_delay=settings.commit_max_delay_ms / 1000,
            pending_max=settings.pending_max_events,
            max_wait=settings.pending_max_wait_s,
            correlator_lag=lambda: bus.high_water - correlator.applied_seq,
            max_correlator_lag=settings.correlator_max_lag_events,
        ),
        correlator=correlator,
        quarantine=Quarantine(store, clock),
        clock=clock,
        telemetry=TelemetryWriter(store, max_delay=settings.commit_max_delay_ms / 1000),
        evaluation_clock=evaluation_clock,
        slo=build_engine(store, evaluation_clock, settings),
        ledger=DeliveryLedger(store, exclusive=settings.embedded),
    )


def build_kafka_services(settings: Settings, stages: frozenset[str] | None = None) -> Services:
    """Under Kafka: the collector produces; the writer and correlator run here if `stages` names them."""
    stages = (frozenset({"collector"}) | settings.kafka_stage_names) if stages is None else stages
    store = Store(settings.dsn, settings.database, cluster=settings.clickhouse_cluster)
    owns_store = not settings.embedded or bool(stages & {"writer", "correlator"})
    bus = InProcessBus(max_events=1)
    clock = clock_from_setting(settings.clock)
    correlator = None
    if "correlator" in stages:
        correlator = CorrelatorParams.from_settings(settings).build(store, bus, clock)
    # The SLO engine runs beside the correlator (its "now" held to what that correlator applied) or
    # in a process of its own (`tower slo`, on a ClickHouse server) on the plain clock.
    evaluation_clock: Clock = HorizonClock(clock, correlator) if correlator is not None else clock
    runs_slo = correlator is not None or "slo" in stages
    return Services(
        store=store,
        bus=bus,
        writer=KafkaAppender(settings, store if owns_store else None),
        correlator=correlator,
        quarantine=Quarantine(store, clock),
        clock=clock,
        telemetry=TelemetryWriter(store, max_delay=settings.commit_max_delay_ms / 1000),
        evaluation_clock=evaluation_clock,
        slo=build_engine(store, evaluation_clock, settings) if runs_slo else None,
        kafka_writer=KafkaWriter(store, settings) if "writer" in stages else None,
        feed=KafkaFeed(correlator, store, settings) if correlator is not None else None,
        owns_store=owns_store,
        # under Kafka, several collectors may accept deliveries: every check reads the table
        ledger=DeliveryLedger(store, exclusive=False) if owns_store else None,
    )


async def start_services(services: Services, settings: Settings, stages: frozenset[str] | None) -> None:
    if services.owns_store:
        services.store.migrate(MIGRATIONS)
    if services.feed is None and services.kafka_writer is None and not settings.kafka_bootstrap:
        await services.writer.start()
        assert services.correlator is not None
        await services.correlator.start()
    else:
        await ensure_topics(settings)
        if stages is None or "collector" in stages:
            await services.writer.start()
        if services.kafka_writer is not None:
            await services.kafka_writer.start()
        if services.feed is not None:
            await services.feed.start()
        appender = services.writer
        if isinstance(appender, KafkaAppender):
            # The collector notices a broker that came back without the topic; the stages in this
            # process move to the new log before anything is produced into it.
            if services.kafka_writer is not None:
                appender.on_new_log.append(services.kafka_writer.begin_again)
            if services.feed is not None:
                appender.on_new_log.append(services.feed.begin_again)
    if services.owns_store:
        await services.telemetry.start()
    if services.ledger is not None:
        await asyncio.to_thread(services.ledger.load)
    if services.slo is not None and settings.slo_engine:
        await services.slo.start()
    if services.owns_store and any(ttl_days(settings).values()):
        retention = Retention(services.store, ttl_days(settings))
        services.retention = asyncio.create_task(
            run_retention(retention, services.clock, settings.retention_interval_s, lambda: False)
        )


async def stop_services(services: Services) -> None:
    """Upstream first: the collector flushes to Kafka, the writer commits, the correlator snapshots."""
    if services.retention is not None:
        services.retention.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await services.retention
    if services.slo is not None:
        await services.slo.close()
    await services.telemetry.close()
    await services.writer.close()
    if services.kafka_writer is not None:
        await services.kafka_writer.close()
    if services.feed is not None:
        await services.feed.close()
    elif services.correlator is not None:
        await services.correlator.close()
    services.store.close()


def create_app(settings: Settings | None = None, stages: frozenset[str] | None = None) -> FastAPI:
    """The API server. `stages` (Kafka only) picks what this process runs: collector, writer, correlator.
    Without `settings`, they are loaded from the `TOWER_*` variables: a refused one raises SettingsError."""
    settings = settings if settings is not None else load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The correlator holds a large, long-lived graph with no reference cycles; the default
        # collector thresholds walk it over and over (measured: half the correlator's time).
        gc.set_threshold(100_000, 50, 100)
        speedups = compiled.STATUS
        (log.warning if speedups.rebuild else log.info)(
            "compiled speedups %s: %s", "in use" if speedups.compiled else "not in use", speedups.reason
        )
        if settings.embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Control Tower's own spans (ingest, adapters, correlation), when OTEL_* variables ask for them.
        tracing = configure_tracing("control-tower")
        services = build_services(settings, stages)
        await start_services(services, settings, stages)
        app.state.services = services
        try:
            yield
        finally:
            await stop_services(services)
            await asyncio.to_thread(shutdown_tracing, tracing)

    app = FastAPI(
        title="Control Tower",
        version=__version__,
        summary="Order journeys across channels, ERP, WMS and carriers.",
        lifespan=lifespan,
        default_response_class=JSON,
        # FastAPI's own request spans, once configure_tracing set a provider; our spans add the counts.
        telemetry={"exclude": untraced, "operation_spans": False},
    )
    app.state.settings = settings
    app.add_middleware(ServerTiming)  # outside every other middleware of ours: it times all they do

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSON:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSON:
        details = [
            {
                "index": None,
                "id": None,
                "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                "reason": e["msg"],
            }
            for e in exc.errors()
        ]
        return error_response(ApiError(400, "invalid_request", "the request's parameters are not valid", details))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSON:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(ApiError(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})))

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> JSON:
        log.error("store error on %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            ApiError(
                503, "store_unavailable", "the store failed to answer; retry shortly", headers={"Retry-After": "1"}
            )
        )

    load_adapters(settings.mappings_dir)
    ingest = (events, deliveries, adapters, traces, logs)
    reads = (dead_letters, lookup, journeys, trace_reads, log_reads, clock, slos, slo_alerts, slo_kpis, reconciliation)
    if stages is None or "collector" in stages:
        routers: tuple[Any, ...] = (*ingest, health, *reads)
    elif "slo" in stages:  # the SLO engine's process answers every read (the dashboard's API)
        routers = (health, *reads)
    else:  # a writer or the correlator: health and metrics only
        routers = (health,)
    for module in routers:
        app.include_router(module.router)
    describe_errors(app, [module.router for module in routers])
    return app
