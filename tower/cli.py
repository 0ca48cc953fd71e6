"""`tower`: the command line. The composition root: stages are imported inside the commands that run them."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer

from tower.api import is_loopback
from tower.settings import Settings, SettingsError, load_settings, settings_table

# An idle keep-alive connection stays open this long. It must outlast the longest `Retry-After` the
# collector sends (30 s, while the correlator is behind): a client that waits as told and then reuses
# its connection must not find it closed under it (uvicorn's default is 5 s).
KEEP_ALIVE_S = 75

app = typer.Typer(help="Control Tower: order journeys across channels, ERP, WMS and carriers.", no_args_is_help=True)


def _settings(host: str | None = None, port: int | None = None, data_dir: Path | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        for line in exc.lines:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None


def _headers(api_key: str | None, tenant: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers of a CLI call to the API: the key, the tenant, anything else the call needs."""
    headers = dict(extra or {})
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if tenant:
        headers["X-Tower-Tenant"] = tenant
    return headers


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("TOWER_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [TOWER_HOST, 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [TOWER_PORT, 8000]")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Embedded store [TOWER_DATA_DIR, ./.tower]")] = None,
) -> None:
    """Run the API server with the collector and the correlator inside it."""
    import uvicorn

    from collector.app import create_app

    _logging()
    settings = _settings(host, port, data_dir)
    if not settings.auth_enabled:
        if not is_loopback(settings.host):
            typer.echo(
                f"error: refusing to bind {settings.host} without API keys; set TOWER_API_KEYS "
                "(key=ingest+read+admin,…) or bind 127.0.0.1",
                err=True,
            )
            raise typer.Exit(2)
        typer.echo(
            f"no API keys configured (TOWER_API_KEYS): serving loopback only, without auth, "
            f"on http://{settings.host}:{settings.port}",
            err=True,
        )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def _run_stage(stage: str, host: str | None, port: int | None) -> None:
    import uvicorn

    from collector.app import create_app

    _logging()
    settings = _settings(host, port)
    if not settings.kafka_bootstrap:
        typer.echo(f"error: `tower {stage}` needs TOWER_KAFKA_BOOTSTRAP; `tower serve` runs it otherwise", err=True)
        raise typer.Exit(2)
    app_ = create_app(settings, stages=frozenset({stage}))
    uvicorn.run(
        app_,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=30,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


@app.command()
def writer(
    host: Annotated[str | None, typer.Option(help="Bind address of /healthz, /readyz, /metrics [TOWER_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port of /healthz, /readyz, /metrics [TOWER_PORT]")] = None,
) -> None:
    """Run a Kafka writer: a member of the writer group, storing the events topic in ClickHouse."""
    _run_stage("writer", host, port)


@app.command()
def correlator(
    host: Annotated[str | None, typer.Option(help="Bind address of /healthz, /readyz, /metrics [TOWER_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port of /healthz, /readyz, /metrics [TOWER_PORT]")] = None,
) -> None:
    """Run the correlator on Kafka: it reads every partition as far as the writers stored."""
    _run_stage("correlator", host, port)


@app.command()
def slo(
    host: Annotated[str | None, typer.Option(help="Bind address of the read API [TOWER_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port of the read API [TOWER_PORT]")] = None,
) -> None:
    """Run the SLO engine on its own, with the read API the dashboard uses (journeys, SLOs, alerts, KPIs)."""
    _run_stage("slo", host, port)


@app.command()
def migrate(
    data_dir: Annotated[Path | None, typer.Option(help="Embedded store [TOWER_DATA_DIR]")] = None,
    materialize: Annotated[
        bool,
        typer.Option(
            "--materialize",
            help="Also write columns that migrations added into the parts written before them, "
            "so reads stop computing them (rewrites those columns; run it with the server stopped)",
        ),
    ] = False,
) -> None:
    """Apply the schema migrations not yet applied (the server also does this when it starts)."""
    from collector.app import MIGRATIONS
    from tower.store import Store

    _logging()
    settings = _settings(data_dir=data_dir)
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.dsn, settings.database, cluster=settings.clickhouse_cluster)
    try:
        applied = store.migrate(MIGRATIONS)
        typer.echo(f"applied {len(applied)} migration(s): {', '.join(f'{n:04d}' for n in applied) or 'none needed'}")
        if materialize:
            written = store.materialize()
            typer.echo(
                f"materialized {len(written)} column(s): {', '.join(f'{t}.{c}' for t, c in written) or 'none needed'}"
            )
        elif pending := store.unmaterialized():
            typer.echo(
                f"{len(pending)} column(s) are computed on every read of older parts "
                f"({', '.join(f'{t}.{c}' for t, c in pending)}): `tower migrate --materialize` writes them"
            )
    finally:
        store.close()


@app.command()
def retention(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be dropped; drop nothing")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Embedded store [TOWER_DATA_DIR]")] = None,
) -> None:
    """Drop the month partitions past their TOWER_RETENTION_*_DAYS (what the server does every
    TOWER_RETENTION_INTERVAL_S), on the tower's clock (TOWER_CLOCK); with --dry-run, only list them
    and the old months kept because something still needs them."""
    from collector.app import MIGRATIONS
    from tower.clock import clock_from_setting
    from tower.retention import Retention, ttl_days
    from tower.store import Store

    _logging()
    settings = _settings(data_dir=data_dir)
    ttl = ttl_days(settings)
    if not any(ttl.values()):
        typer.echo("no TOWER_RETENTION_*_DAYS set: everything is kept")
        return
    store = Store(settings.dsn, settings.database, cluster=settings.clickhouse_cluster)
    try:
        store.migrate(MIGRATIONS)
        plan = Retention(store, ttl)
        now = clock_from_setting(settings.clock).now()
        drops, kept = plan.plan(now)
        for drop in drops:
            typer.echo(f"{'would drop' if dry_run else 'drop'} {drop.table} {drop.partition} ({drop.rows} rows)")
        for k in kept:
            typer.echo(f"keep {k.table} {k.partition}: {k.reason}")
        if not dry_run:
            plan.apply(now)
    finally:
        store.close()
    typer.echo(f"{len(drops)} partition(s) {'would be ' if dry_run else ''}dropped, {len(kept)} old ones kept")


@app.command("import")
def import_events(
    files: Annotated[list[Path], typer.Argument(help="JSON-array or NDJSON files of canonical events (.gz too)")],
    url: Annotated[str | None, typer.Option(help="Server URL [http://TOWER_HOST:TOWER_PORT]")] = None,
    batch: Annotated[int, typer.Option(help="Events per request")] = 5_000,
    api_key: Annotated[
        str | None, typer.Option(envvar="TOWER_API_KEY", help="Bearer key with the ingest scope")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant for events that name none")] = None,
    adapter: Annotated[
        str | None, typer.Option(help="Send each file whole to POST /v1/adapters/NAME (x12, shopify, tracking…)")
    ] = None,
    param: Annotated[list[str] | None, typer.Option(help="key=value for the adapter, e.g. carrier=ups")] = None,
) -> None:
    """Stream canonical events from files to a running server, with a progress bar; or, with
    --adapter, send each file in its native format through that adapter."""
    from tower.jsonstream import iter_event_bytes

    if adapter:
        _import_native(files, adapter, dict(p.partition("=")[::2] for p in param or []), url, api_key, tenant)
        return

    settings = _settings()
    base = url or f"http://{settings.host}:{settings.port}"
    headers = _headers(api_key, tenant, {"Content-Type": "application/x-ndjson"})
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for path in files:
            if not path.exists():
                typer.echo(f"error: {path} does not exist", err=True)
                raise typer.Exit(2)
            size = path.stat().st_size
            with typer.progressbar(length=size, label=f"{path.name}", show_pos=True) as bar:
                pending: list[bytes] = []
                sent_bytes = 0
                for raw in iter_event_bytes(path):
                    pending.append(raw)
                    sent_bytes += len(raw) + 1
                    if len(pending) >= batch:
                        _post(client, pending, totals)
                        bar.update(min(sent_bytes, size) - bar.pos)
                        pending = []
                if pending:
                    _post(client, pending, totals)
                bar.update(size - bar.pos)
    typer.echo(
        f"accepted {totals['accepted']}, duplicates {totals['duplicates']}, rejected {totals['rejected']}"
        " (rejected events are in GET /v1/dead-letters)"
    )
    if totals["rejected"]:
        raise typer.Exit(1)


def _import_native(
    files: list[Path], adapter: str, params: dict[str, str], url: str | None, api_key: str | None, tenant: str | None
) -> None:
    settings = _settings()
    headers = _headers(api_key, tenant, {"Content-Type": "application/octet-stream"})
    failed = 0
    with httpx.Client(base_url=url or f"http://{settings.host}:{settings.port}", headers=headers, timeout=120) as c:
        for path in files:
            try:
                response = c.post(f"/v1/adapters/{adapter}", content=path.read_bytes(), params=params)
            except OSError as exc:
                typer.echo(f"error: {path}: {exc}", err=True)
                raise typer.Exit(2) from None
            except httpx.TransportError as exc:
                typer.echo(f"error: cannot reach {c.base_url}: {exc}; is `tower serve` running?", err=True)
                raise typer.Exit(2) from None
            payload = response.json()
            if response.status_code == 202:
                typer.echo(
                    f"{path.name}: {payload['events']} events, accepted {payload['accepted']}, "
                    f"duplicates {payload['duplicates']}, rejected {len(payload['rejected'])}"
                )
                failed += bool(payload["rejected"])
            else:
                failed += 1
                typer.echo(f"{path.name}: {response.status_code} {payload['error']['message']}", err=True)
    if failed:
        raise typer.Exit(1)


def _post(client: httpx.Client, lines: list[bytes], totals: dict[str, int]) -> None:
    body = b"\n".join(lines)
    for _attempt in range(60):
        try:
            response = client.post("/v1/events", content=body)
        except httpx.TransportError as exc:
            typer.echo(f"\nerror: cannot reach {client.base_url}: {exc}; is `tower serve` running?", err=True)
            raise typer.Exit(2) from None
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        payload = response.json()
        if response.status_code == 202:
            totals["accepted"] += payload["accepted"]
            totals["duplicates"] += payload["duplicates"]
            totals["rejected"] += len(payload["rejected"])
            return
        if response.status_code == 400 and payload.get("error", {}).get("code") == "invalid_events":
            totals["rejected"] += len(payload["error"]["details"])
            return
        typer.echo(f"\nerror: {response.status_code} {payload.get('error', payload)}", err=True)
        raise typer.Exit(1)
    typer.echo("\nerror: the server stayed busy (429) for a minute", err=True)
    raise typer.Exit(1)


@app.command()
def watch(
    folder: Annotated[Path, typer.Argument(help="Drop folder: every file that appears is sent to the adapter")],
    adapter: Annotated[str, typer.Option(help="Adapter name, e.g. x12, tracking, mapping/erpnext-sales-order")],
    url: Annotated[str | None, typer.Option(help="Server URL [http://TOWER_HOST:TOWER_PORT]")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="TOWER_API_KEY", help="Bearer key with the ingest scope")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant for the events")] = None,
    param: Annotated[list[str] | None, typer.Option(help="key=value for the adapter, e.g. carrier=ups")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between looks at the folder")] = 2.0,
    once: Annotated[bool, typer.Option(help="Handle what is there now, then stop")] = False,
) -> None:
    """Send files dropped into FOLDER through an adapter: accepted ones move to FOLDER/done, refused
    ones to FOLDER/failed with a .reason file beside them; unreachable server: retried next round."""
    from tower.dropfolder import DropFolder

    settings = _settings()
    headers = _headers(api_key, tenant)
    params = dict(p.partition("=")[::2] for p in param or [])
    with httpx.Client(base_url=url or f"http://{settings.host}:{settings.port}", headers=headers, timeout=120) as c:
        drop = DropFolder(folder, lambda body: c.post(f"/v1/adapters/{adapter}", content=body, params=params))
        rounds = 0
        while True:
            for line in drop.sweep():
                typer.echo(line)
            rounds += 1
            if once and rounds == 2:  # the first look only notes sizes: a file is sent once it has settled
                return
            time.sleep(min(interval, 1.0) if once else interval)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="File to write ('-' for standard output)")],
    journey: Annotated[
        list[str] | None, typer.Option(help="Journey ids; default: every journey the filters match")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Filter: open, delivered, stuck…")] = None,
    stage: Annotated[str | None, typer.Option(help="Filter: a stage")] = None,
    fmt: Annotated[str, typer.Option("--format", help="ocel (OCEL 2.0 JSON) or ndjson (one journey a line)")] = "ocel",
    url: Annotated[str | None, typer.Option(help="Server URL [http://TOWER_HOST:TOWER_PORT]")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="TOWER_API_KEY", help="Bearer key with the read scope")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant to export")] = None,
) -> None:
    """Export journeys end to end: as an OCEL 2.0 log (pm4py and other process-mining tools read it)
    or as NDJSON of the journey documents."""
    if fmt not in ("ocel", "ndjson"):
        typer.echo("error: --format must be ocel or ndjson", err=True)
        raise typer.Exit(2)
    settings = _settings()
    headers = _headers(api_key, tenant)
    with httpx.Client(base_url=url or f"http://{settings.host}:{settings.port}", headers=headers, timeout=120) as c:
        ids = list(journey or [])
        if not ids:
            cursor = None
            while True:
                params = {k: v for k, v in {"status": status, "stage": stage, "cursor": cursor}.items() if v}
                page = c.get("/v1/journeys", params={**params, "limit": 1000})
                if page.status_code != 200:
                    typer.echo(f"error: {page.status_code} {page.text}", err=True)
                    raise typer.Exit(1)
                body = page.json()
                ids += [item["id"] for item in body["items"]]
                cursor = body["next"]
                if not cursor:
                    break
        journeys = []
        for journey_id in ids:
            response = c.get(f"/v1/journeys/{journey_id}")
            if response.status_code != 200:
                typer.echo(f"error: journey {journey_id}: {response.status_code} {response.text}", err=True)
                raise typer.Exit(1)
            journeys.append(response.json())
    if fmt == "ocel":
        from adapters.ocel.export import journeys_to_ocel

        data = orjson.dumps(journeys_to_ocel(journeys), option=orjson.OPT_INDENT_2)
    else:
        data = b"".join(orjson.dumps(j) + b"\n" for j in journeys)
    if str(out) == "-":
        sys.stdout.buffer.write(data)
    else:
        out.write_bytes(data)
        typer.echo(f"exported {len(journeys)} journeys to {out}", err=True)


@app.command()
def replay(
    letters: Annotated[list[str] | None, typer.Argument(help="Dead-letter ids (GET /v1/dead-letters)")] = None,
    url: Annotated[str | None, typer.Option(help="Server URL [http://TOWER_HOST:TOWER_PORT]")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="TOWER_API_KEY", help="Bearer key with the admin scope")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant the dead letters belong to")] = None,
    from_offset: Annotated[
        int | None, typer.Option(help="Kafka: move the writer group to this offset of every partition")
    ] = None,
    from_time: Annotated[
        str | None, typer.Option(help="Kafka: move the writer group to the first message at or after this time")
    ] = None,
) -> None:
    """Send dead letters through intake again, once what rejected them is fixed; or, with
    --from-offset / --from-time, have the Kafka writers read the events topic again from there
    (stop the writers first; what is already stored is recognised and not stored twice)."""
    settings = _settings()
    if from_offset is not None or from_time is not None:
        import asyncio

        from tower.events import parse_time
        from tower.kafka import rewind_writers

        when = None
        if from_time is not None:
            when, problem = parse_time(from_time, "--from-time")
            if problem is not None:
                typer.echo(f"error: {problem.field}: {problem.reason}", err=True)
                raise typer.Exit(2)
        if not settings.kafka_bootstrap:
            typer.echo("error: --from-offset and --from-time need TOWER_KAFKA_BOOTSTRAP", err=True)
            raise typer.Exit(2)
        moved = asyncio.run(rewind_writers(settings, from_offset, when))
        for partition, offset in sorted(moved.items()):
            typer.echo(f"{settings.kafka_topic}[{partition}] → offset {offset}")
        return
    if not letters:
        typer.echo("error: name dead-letter ids, or --from-offset / --from-time", err=True)
        raise typer.Exit(2)
    headers = _headers(api_key, tenant)
    failed = 0
    with httpx.Client(base_url=url or f"http://{settings.host}:{settings.port}", headers=headers, timeout=60) as c:
        for letter in letters:
            try:
                response = c.post(f"/v1/dead-letters/{letter}/replay")
            except httpx.TransportError as exc:
                typer.echo(f"error: cannot reach {c.base_url}: {exc}; is `tower serve` running?", err=True)
                raise typer.Exit(2) from None
            payload = response.json()
            if response.status_code == 200:
                typer.echo(f"{letter}: accepted {payload['accepted']}, duplicates {payload['duplicates']}")
            else:
                failed += 1
                typer.echo(f"{letter}: {response.status_code} {payload['error']['message']}", err=True)
    if failed:
        raise typer.Exit(1)


@app.command()
def simulate(
    days: Annotated[float, typer.Option(help="Simulated days")] = 30,
    orders_per_day: Annotated[float, typer.Option(help="Average orders a day (daily and weekly seasonality)")] = 2000,
    seed: Annotated[int, typer.Option(help="The same seed gives byte-identical traffic")] = 7,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="Fault scenario, repeatable: NAME or NAME:start=3d,duration=6h,intensity=0.5,target=ups"),
    ] = None,
    start: Annotated[str | None, typer.Option(help="Simulated start, RFC 3339 [the month ending this hour]")] = None,
    to: Annotated[str | None, typer.Option(help="A running tower's URL; default: start an embedded one")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="TOWER_API_KEY", help="Key with ingest+admin scopes")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Embedded tower's store [TOWER_DATA_DIR]")] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Where to write the ground truth [<data dir>/simulation/truth.json]")
    ] = None,
    step_minutes: Annotated[float, typer.Option(help="Simulated minutes per delivery step")] = 5,
    concurrency: Annotated[int, typer.Option(help="Requests in flight")] = 32,
    per_message: Annotated[
        bool,
        typer.Option(
            "--per-message",
            help="One request per delivery, as webhooks arrive in life (default: a step's deliveries in one "
            "POST /v1/deliveries, each still through its adapter)",
        ),
    ] = False,
    no_clock: Annotated[bool, typer.Option("--no-clock", help="Do not drive the tower's clock")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Generate the traffic, send nothing; print its digest")
    ] = False,
    list_scenarios: Annotated[bool, typer.Option("--list-scenarios", help="List the fault scenarios and exit")] = False,
    score: Annotated[
        bool,
        typer.Option(
            "--score",
            help="Then score the tower against the truth: each scenario's alert, how soon it fired and whether "
            "it resolved; precision and recall of stuck orders, missing tracking and inventory mismatches",
        ),
    ] = False,
) -> None:
    """Simulate a distributor — channels, ERP, warehouses, carriers, faults — through the real adapters."""
    from datetime import datetime

    from simulator import run as sim
    from simulator.scenarios import KINDS, ScenarioError

    if list_scenarios:
        for kind in KINDS.values():
            target = f" (target {kind.target}; one of {', '.join(kind.targets)})" if kind.targets else ""
            typer.echo(f"{kind.name:<18} {kind.summary}{target}")
        return
    try:
        begin = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else sim.default_start(days)
        plan = sim.Plan(begin, days, orders_per_day, seed, list(scenario or []), step_minutes)
        plan.simulation()  # scenario specs are checked before anything starts
    except (ValueError, ScenarioError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if dry_run:
        simulation, digest = sim.generate(plan)
        typer.echo(orjson.dumps({**digest, "summary": simulation.truth.summary()}, option=orjson.OPT_INDENT_2))
        return
    settings = _settings(data_dir=data_dir)
    truth_path = truth or settings.data_dir / "simulation" / "truth.json"
    typer.echo(
        f"simulating {days:g} days at {orders_per_day:g} orders/day from {begin:%Y-%m-%d %H:%M}Z (seed {seed})",
        err=True,
    )
    card: dict[str, Any] | None = None

    def scored(url: str, simulation: Any) -> dict[str, Any] | None:
        if not score:
            return None
        from simulator.score import score_tower

        typer.echo("scoring the tower against the truth", err=True)
        return score_tower(url, simulation.truth.as_dict(), api_key)

    try:
        if to:
            simulation, report = sim.deliver(
                plan,
                to,
                api_key=api_key,
                concurrency=concurrency,
                drive_clock=not no_clock,
                progress=sim.Progress(begin, days),
                batch=not per_message,
            )
            card = scored(to, simulation)
        else:
            from tower.processes import ServerProcess

            env = {**sim.secrets_env(), "TOWER_CLOCK": begin.strftime("%Y-%m-%dT%H:%M:%SZ")}
            with ServerProcess(settings.data_dir, env) as server:
                typer.echo(f"embedded tower on {server.url} (store {settings.data_dir})", err=True)
                simulation, report = sim.deliver(
                    plan,
                    server.url,
                    concurrency=concurrency,
                    drive_clock=not no_clock,
                    progress=sim.Progress(begin, days),
                    batch=not per_message,
                )
                card = scored(server.url, simulation)
    except Exception as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    sim.write_truth(simulation, truth_path, {"delivery": report.as_dict()})
    if card is not None:
        from simulator.score import render

        (truth_path.parent / "scorecard.json").write_text(orjson.dumps(card, option=orjson.OPT_INDENT_2).decode())
        typer.echo(render(card), err=True)
    (truth_path.parent / "state.json").write_text(orjson.dumps(simulation.state()).decode())
    typer.echo(
        orjson.dumps(
            {"delivery": report.as_dict(), "truth": str(truth_path), "summary": simulation.truth.summary()},
            option=orjson.OPT_INDENT_2,
        )
    )


@app.command()
def demo(
    days: Annotated[float, typer.Option(help="Simulated days before going live")] = 30,
    orders_per_day: Annotated[float, typer.Option(help="Orders a day in the simulated month")] = 500,
    live_orders_per_day: Annotated[float, typer.Option(help="Orders a day once live")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the simulated month")] = 7,
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    dashboard_port: Annotated[int, typer.Option(help="Dashboard port")] = 8501,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="Serve the API only")] = False,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its store")] = Path(".tower-demo"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Throw away an earlier demo's data first")] = False,
) -> None:
    """Simulate a month with a few incidents, then run the tower on it with live traffic."""
    import signal

    from simulator.demo import run_demo

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the demo as Ctrl-C does: server and children included

    signal.signal(signal.SIGTERM, interrupt)
    try:
        run_demo(
            data_dir.resolve(),
            days=days,
            orders_per_day=orders_per_day,
            seed=seed,
            port=port,
            fresh=fresh,
            live_orders_per_day=live_orders_per_day,
            dashboard_port=None if no_dashboard else dashboard_port,
        )
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def dashboard(
    api: Annotated[
        str | None, typer.Option(help="API URL [TOWER_DASHBOARD_API, else http://TOWER_HOST:TOWER_PORT]")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="TOWER_DASHBOARD_API_KEY", help="Bearer key: read scope, admin to act")
    ] = None,
    tenant: Annotated[str | None, typer.Option(envvar="TOWER_DASHBOARD_TENANT", help="Tenant to show")] = None,
    port: Annotated[int | None, typer.Option(help="Dashboard port [TOWER_DASHBOARD_PORT, 8501]")] = None,
    host: Annotated[str, typer.Option(help="Address the dashboard binds to")] = "127.0.0.1",
) -> None:
    """Run the dashboard (Streamlit) on a running API server."""
    from tower.processes import StartError, run_stack

    _ctrl_c_stops()

    settings = _settings()
    url = (api or settings.dashboard_api_url).rstrip("/")
    _warn_open_dashboard(host)
    try:
        with run_stack(
            host=host, dashboard_port=port or settings.dashboard_port, api_url=url, api_key=api_key, tenant=tenant
        ) as stack:
            typer.echo(f"dashboard: {stack.dashboard_url}  (reading {url}; Ctrl-C stops it)")
            code = stack.wait()
    except StartError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(0 if code == 130 else code)


def _ctrl_c_stops() -> None:
    """Ctrl-C (SIGINT) stops the command even when it was started with SIGINT ignored, as a shell does
    for a background job (`tower up &` in a script) and as a test runner's child may inherit: Python
    keeps an inherited SIG_IGN, and the command would never stop its children."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Bind address of both [TOWER_HOST, 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="API port [TOWER_PORT, 8000]")] = None,
    dashboard_port: Annotated[int | None, typer.Option(help="Dashboard port [TOWER_DASHBOARD_PORT, 8501]")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Embedded store [TOWER_DATA_DIR, ./.tower]")] = None,
) -> None:
    """Run the API server and the dashboard together; Ctrl-C stops both."""
    from tower.processes import StartError, run_stack

    _ctrl_c_stops()

    settings = _settings(host, port, data_dir)
    if settings.auth_enabled:
        key = settings.dashboard_api_key or _dashboard_key(settings)
        if not key:
            typer.echo("error: TOWER_API_KEYS has no key with the read scope for the dashboard", err=True)
            raise typer.Exit(2)
        scopes = "+".join(sorted(settings.keys[key].scopes)) if key in settings.keys else "?"
        keys = (
            f"keys from TOWER_API_KEYS (send 'Authorization: Bearer <key>'); the dashboard uses {key[:4]}… ({scopes})"
        )
    elif not is_loopback(settings.host):
        typer.echo(f"error: refusing to bind {settings.host} without API keys; set TOWER_API_KEYS", err=True)
        raise typer.Exit(2)
    else:
        key, keys = None, "no API keys (TOWER_API_KEYS unset): loopback only, no auth"
    _warn_open_dashboard(settings.host)
    logs = settings.data_dir / "logs"
    typer.echo(f"starting the server and the dashboard (logs in {logs}) …")
    try:
        with run_stack(
            host=settings.host,
            port=settings.port,
            dashboard_port=dashboard_port or settings.dashboard_port,
            data_dir=settings.data_dir,
            api_key=key,
            tenant=settings.dashboard_tenant,
            log_dir=logs,
        ) as stack:
            typer.echo(
                f"API:       {stack.api_url}  (docs {stack.api_url}/docs)\n"
                f"dashboard: {stack.dashboard_url}\n"
                f"auth:      {keys}\n"
                "send traffic with `tower simulate` or `tower import FILE`; Ctrl-C stops both"
            )
            code = stack.wait()
    except StartError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("stopped the server and the dashboard")
    raise typer.Exit(0 if code == 130 else code)


def _warn_open_dashboard(host: str) -> None:
    if not is_loopback(host):
        typer.echo(
            f"warning: the dashboard binds {host} and has no login of its own: whoever reaches it reads, "
            "and acts, with its API key; put it behind your proxy's authentication",
            err=True,
        )


def _dashboard_key(settings: Settings) -> str | None:
    """The configured key the dashboard can use best: admin (to act on alerts), else read."""
    usable = [k for k in settings.keys.values() if k.tenant is None or k.tenant == settings.dashboard_tenant]
    for scope in ("admin", "read"):
        for key in usable:
            if scope in key.scopes:
                return key.key
    return None


@app.command()
def settings() -> None:
    """Print every TOWER_* setting with its default and meaning."""
    for name, default, meaning in settings_table():
        typer.echo(f"{name:32} {default:40} {meaning}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
