"""The simulator's traffic: reproducible, in native formats every adapter takes, with faults placed as asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.registry import ADAPTERS, load_all
from simulator.engine import ROUTES
from simulator.run import Plan, generate
from simulator.scenarios import ScenarioError, parse

START = datetime(2026, 9, 1, tzinfo=UTC)


def test_the_same_seed_gives_byte_identical_traffic() -> None:
    plan = Plan(START, days=1, orders_per_day=300, seed=42, scenarios=["duplicate-orders", "malformed"])
    first, second = generate(plan)[1], generate(plan)[1]
    assert first["sha256"] == second["sha256"]
    assert first["messages"] == second["messages"] > 100
    other = generate(Plan(START, days=1, orders_per_day=300, seed=43, scenarios=[]))[1]
    assert other["sha256"] != first["sha256"]


def test_every_message_parses_with_its_adapter_unless_it_was_broken_on_purpose() -> None:
    load_all()
    plan = Plan(
        START, days=1.5, orders_per_day=200, seed=3, scenarios=["malformed:start=10h,duration=6h,intensity=0.2"]
    )
    simulation = plan.simulation()
    parsed = broken = 0
    kinds: set[str] = set()
    secrets = {"shopify": simulation.business.shopify_secret, "easypost": simulation.business.easypost_secret}
    for step in simulation.steps():
        for message in step.messages:
            if message.route in (ROUTES["events"], ROUTES["traces"]):
                continue
            path, _, query = message.route.removeprefix("/v1/adapters/").partition("?")
            headers = {k.lower(): v for k, v in message.headers.items()}
            if query:
                key, _, value = query.partition("=")
                headers[f"x-tower-param-{key}"] = value
            try:
                result = ADAPTERS[path].parse(message.body, headers, secrets)
            except Exception:
                assert message.malformed, f"{message.kind} was refused though it was not broken"
                broken += 1
                continue
            assert not message.malformed, f"a broken {message.kind} was accepted"
            assert result.events, f"{message.kind} yielded no event: {result.notes[:3]}"
            kinds.add(message.kind.split(" ")[0])
            parsed += 1
    assert broken == simulation.incidents["malformed"].messages > 0
    assert kinds == {"shopify", "x12", "csv", "mirakl", "easypost", "usps"}
    assert parsed > 500


def test_scenarios_are_placed_as_asked_and_bad_specs_say_why() -> None:
    s = parse("carrier-outage:start=2d6h,duration=90m,intensity=0.5,target=fedex", START, 30)
    assert (s.start, s.end, s.intensity, s.target) == (
        START + timedelta(days=2, hours=6),
        START + timedelta(days=2, hours=7, minutes=30),
        0.5,
        "fedex",
    )
    default = parse("erp-maintenance", START, 10)
    assert default.start == START + timedelta(days=5.5) and default.end - default.start == timedelta(hours=3)
    for spec, reason in (
        ("volcano", "unknown scenario 'volcano'"),
        ("carrier-outage:target=dhl", "target 'dhl' is not one of ups, fedex, usps"),
        ("erp-maintenance:target=erp", "takes no target"),
        ("malformed:intensity=2", "intensity must be in (0, 1]"),
        ("wms-delay:duration=soon", "duration='soon': expected a span"),
        ("rate-limit:when=3d", "unknown key 'when'"),
    ):
        with pytest.raises(ScenarioError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
            parse(spec, START, 30)
