"""X12 throughput in process: our tokenizer and 850/856 mappings against pyx12's `X12Reader`.

    python -m bench.x12 [--mb 20] [--sets 5] [--rounds 3] [--seed 1] [--stream-mb 2]

The corpus is generated in memory before any clock starts: `--mb` megabytes of X12 4010
interchanges, half 850 purchase orders (BEG, CUR, REF, DTM, N1/N3/N4 ship-to, 3-12 PO1 lines with
PID) and half 856 ship notices (BSN, an HL tree shipment → order (PRF) → 1-4 packs (MAN GM SSCC,
REF CN tracking) → 1-4 items (LIN, SN1, PID) each, TD1/TD5/REF BM at shipment level), `--sets`
transaction sets per interchange in one functional group. Every envelope is right: ISA13, GS06 and
ST02 unique, SE01/GE01/IEA01 counts exact (pyx12 validates them too; its error list must stay empty,
which the run checks). Segments end in ``~`` and a line break, as most partner files do.

Each interchange is fed on its own (one interchange per body, as the adapter usually gets them),
round after round, every measurement in every round so they see the same moments of a busy machine:

- baseline: `pyx12.x12file.X12Reader(io.StringIO(body.decode()))` iterated to the end (pyx12 builds a
  `Segment` per segment and checks ISA/GS/ST/SE/GE/IEA control numbers and counts, HL parents: the
  same envelope work our tokenizer does, without mapping). pyx12 is a bench-only dependency;
- tokenize: `adapters.x12.tokenizer.tokenize(body)`;
- tokenize + map: `tokenize` then `map_interchange` (canonical events), per kind (850, 856);
- split floor (a reference, not the baseline): `body.split(b"~")` then each segment `.split(b"*")`.

Also timed once, untimed corpus aside: the whole corpus (cut to `--stream-mb`) as *one* body, for
both `tokenize` and `X12Reader`, with the per-interchange rate of that same prefix: how each copes
with a big multi-interchange file.

Figures are the best round (highest rate) of each measurement; ratios are ours / pyx12 on the same
bytes. Prints a table and writes `bench/results/x12.json`.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from adapters.x12.mappings import map_interchange
from adapters.x12.tokenizer import tokenize
from bench.common import machine, table, write_result

PIP = "/tmp/probe-venv/bin/pip install -q pyx12"
ELEMENT, COMPONENT, TERM = "*", ">", "~\n"

BUYERS = ["ACMERETAIL", "GLOBEX", "INITECH", "UMBRELLA", "STARKIND"]
SELLERS = ["WIDGETCO", "GIZMOWORKS", "SPROCKETS"]
CARRIERS = ["UPSN", "FDEG", "RDWY", "ODFL"]
CITIES = [("COLUMBUS", "OH", "43215"), ("RENO", "NV", "89502"), ("ATLANTA", "GA", "30303"), ("DALLAS", "TX", "75201")]


def _pyx12() -> Any:
    try:
        import pyx12.x12file  # a bench-only baseline, not a project dependency
    except ImportError:
        print(f"bench.x12 needs pyx12 as its baseline (not a project dependency): {PIP}", file=sys.stderr)
        raise SystemExit(2) from None
    return pyx12.x12file


# ---------------------------------------------------------------- the corpus


@dataclass(slots=True)
class Body:
    kind: str  # "850" or "856"
    data: bytes
    sets: int
    segments: int


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.isa = 0
        self.gs = 0
        self.po = 4_500_000_000
        self.asn = 0
        self.day = date(2024, 3, 1)

    def _sku(self) -> tuple[str, str]:
        n = self.rng.randrange(10_000, 99_999)
        return f"SKU-{n}", f"0{n:05d}{self.rng.randrange(100_000, 999_999)}"

    def _po850(self, st: str, buyer: str, when: str) -> list[str]:
        rng = self.rng
        self.po += 1
        city, state, zip_ = rng.choice(CITIES)
        store = rng.randrange(1, 999)
        due = (self.day + timedelta(days=rng.randrange(5, 20))).strftime("%Y%m%d")
        segs = [
            f"ST*850*{st}",
            f"BEG*00*SA*{self.po}**{when}",
            "CUR*BY*USD",
            f"REF*DP*{rng.randrange(10, 99):03d}",
            f"REF*IA*{rng.randrange(100000, 999999)}",
            f"DTM*002*{due}",
            f"N1*ST*{buyer} STORE {store}*92*{store:04d}",
            f"N3*{rng.randrange(1, 9999)} COMMERCE PKWY",
            f"N4*{city}*{state}*{zip_}*US",
        ]
        lines = rng.randrange(3, 13)
        for n in range(1, lines + 1):
            sku, upc = self._sku()
            qty = rng.choice((6, 12, 24, 48, 96))
            segs.append(f"PO1*{n}*{qty}*EA*{rng.randrange(100, 9999) / 100:.2f}**VP*{sku}*UP*{upc}")
            segs.append(f"PID*F****WIDGET MODEL {sku[-3:]} ASSORTED")
        segs.append(f"CTT*{lines}")
        return segs

    def _asn856(self, st: str, when: str) -> list[str]:
        rng = self.rng
        self.asn += 1
        city, state, zip_ = rng.choice(CITIES)
        carrier = rng.choice(CARRIERS)
        packs = rng.randrange(1, 5)
        segs = [
            f"ST*856*{st}",
            f"BSN*00*ASN{self.asn:08d}*{when}*{rng.randrange(6, 20):02d}{rng.randrange(0, 60):02d}",
            "HL*1**S",
            f"TD1*CTN25*{packs}****G*{rng.randrange(10, 400)}.{rng.randrange(10)}*LB",
            f"TD5**2*{carrier}*M",
            f"REF*BM*BOL{rng.randrange(10**9, 10**10)}",
            f"DTM*011*{when}",
            f"N1*ST*DISTRIBUTION CENTER*92*{rng.randrange(1, 99):04d}",
            f"N4*{city}*{state}*{zip_}*US",
            "HL*2*1*O",
            f"PRF*{rng.randrange(4_500_000_001, 4_500_100_000)}***{when}",
        ]
        hl = 2
        for _ in range(packs):
            hl += 1
            pack = hl
            segs.append(f"HL*{pack}*2*P")
            segs.append(f"MAN*GM*00{rng.randrange(10**17, 10**18)}")
            segs.append(f"REF*CN*1Z{rng.randrange(10**15, 10**16)}")
            for _ in range(rng.randrange(1, 5)):
                hl += 1
                sku, upc = self._sku()
                segs.append(f"HL*{hl}*{pack}*I")
                segs.append(f"LIN**VP*{sku}*UP*{upc}")
                segs.append(f"SN1**{rng.choice((6, 12, 24))}*EA")
                segs.append(f"PID*F****WIDGET MODEL {sku[-3:]}")
        segs.append(f"CTT*{hl}")
        return segs

    def interchange(self, kind: str, n_sets: int) -> Body:
        self.isa += 1
        self.gs += 1
        if self.isa % 50 == 0:
            self.day += timedelta(days=1)
        when = self.day.strftime("%Y%m%d")
        buyer, seller = self.rng.choice(BUYERS), self.rng.choice(SELLERS)
        sender, receiver = (buyer, seller) if kind == "850" else (seller, buyer)
        hhmm = f"{self.rng.randrange(0, 24):02d}{self.rng.randrange(0, 60):02d}"
        isa = (
            f"ISA*00*{'':10}*00*{'':10}*ZZ*{sender:<15}*ZZ*{receiver:<15}*{when[2:]}*{hhmm}*U*00401*"
            f"{self.isa:09d}*0*P*{COMPONENT}"
        )
        assert len(isa) == 105, len(isa)
        segs = [isa, f"GS*{'PO' if kind == '850' else 'SH'}*{sender}*{receiver}*{when}*{hhmm}*{self.gs}*X*004010"]
        for k in range(1, n_sets + 1):
            st = f"{k:04d}"
            body = self._po850(st, buyer, when) if kind == "850" else self._asn856(st, when)
            segs.extend(body)
            segs.append(f"SE*{len(body) + 1}*{st}")
        segs.append(f"GE*{n_sets}*{self.gs}")
        segs.append(f"IEA*1*{self.isa:09d}")
        return Body(kind, (TERM.join(segs) + TERM).encode("ascii"), n_sets, len(segs))


def corpus(total_bytes: int, sets: int, seed: int) -> list[Body]:
    gen = Generator(seed)
    bodies: list[Body] = []
    size = 0
    while size < total_bytes:
        body = gen.interchange("850" if len(bodies) % 2 == 0 else "856", sets)
        bodies.append(body)
        size += len(body.data)
    return bodies


# ---------------------------------------------------------------- the measurements


def run_pyx12(x12file: Any) -> Callable[[bytes], int]:
    def run(data: bytes) -> int:
        reader = x12file.X12Reader(io.StringIO(data.decode("ascii")))
        n = 0
        for _seg in reader:
            n += 1
        if reader.pop_errors():
            raise AssertionError("pyx12 found envelope errors in the generated corpus")
        return n

    return run


def run_tokenize(data: bytes) -> int:
    return sum(len(g.sets) for i in tokenize(data) for g in i.groups)


def run_map(data: bytes) -> int:
    notes: list[str] = []
    rejected: dict[tuple[str, str], str] = {}
    n = 0
    for interchange in tokenize(data):
        n += len(map_interchange(interchange, notes, rejected))
    if rejected:
        raise AssertionError(f"sets rejected by the mapping: {rejected}")
    return n


def run_split(data: bytes) -> int:
    n = 0
    for seg in data.split(b"~"):
        n += len(seg.split(b"*"))
    return n


def timed(fn: Callable[[bytes], int], bodies: list[Body]) -> tuple[float, int]:
    started = time.perf_counter()
    out = 0
    for body in bodies:
        out += fn(body.data)
    return time.perf_counter() - started, out


def stream_figures(x12file: Any, bodies: list[Body], limit: int) -> dict[str, Any]:
    """The first `limit` bytes' worth of interchanges as one body, against the same fed one by one."""
    prefix: list[Body] = []
    size = 0
    for body in bodies:
        if size >= limit:
            break
        prefix.append(body)
        size += len(body.data)
    whole = Body("mixed", b"".join(b.data for b in prefix), sum(b.sets for b in prefix), 0)
    out: dict[str, Any] = {"bytes": size, "interchanges": len(prefix)}
    for name, fn in (("pyx12", run_pyx12(x12file)), ("tokenize", run_tokenize)):
        one_s, _ = timed(fn, [whole])
        each_s, _ = timed(fn, prefix)
        out[name] = {
            "one_body_mb_per_s": round(size / one_s / 1e6, 3),
            "per_interchange_mb_per_s": round(size / each_s / 1e6, 3),
            "one_body_vs_per_interchange": round(each_s / one_s, 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=20, help="corpus size in megabytes (default 20)")
    parser.add_argument("--sets", type=int, default=5, help="transaction sets per interchange (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best of each is reported (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stream-mb", type=float, default=2, help="size of the one-body check (0 to skip)")
    args = parser.parse_args()
    x12file = _pyx12()

    bodies = corpus(int(args.mb * 1e6), args.sets, args.seed)
    kinds = {k: [b for b in bodies if b.kind == k] for k in ("850", "856")}
    n_bytes = {"all": sum(len(b.data) for b in bodies)} | {k: sum(len(b.data) for b in v) for k, v in kinds.items()}
    n_sets = {"all": sum(b.sets for b in bodies)} | {k: sum(b.sets for b in v) for k, v in kinds.items()}
    n_segs = {"all": sum(b.segments for b in bodies)} | {k: sum(b.segments for b in v) for k, v in kinds.items()}
    print(
        f"corpus: {n_bytes['all'] / 1e6:.1f} MB, {len(bodies)} interchanges, {n_sets['all']} sets "
        f"({n_sets['850']} 850, {n_sets['856']} 856), {n_segs['all']} segments",
        flush=True,
    )

    pyx12_run = run_pyx12(x12file)
    # (measurement, input) → fn; every one runs every round, in this order
    plan: dict[tuple[str, str], Callable[[bytes], int]] = {
        ("pyx12", "850"): pyx12_run,
        ("pyx12", "856"): pyx12_run,
        ("tokenize", "850"): run_tokenize,
        ("tokenize", "856"): run_tokenize,
        ("tokenize+map", "850"): run_map,
        ("tokenize+map", "856"): run_map,
        ("split", "850"): run_split,
        ("split", "856"): run_split,
    }
    seconds: dict[tuple[str, str], list[float]] = {key: [] for key in plan}
    counts: dict[tuple[str, str], int] = {}
    for r in range(args.rounds):
        for key, fn in plan.items():
            s, out = timed(fn, kinds[key[1]])
            seconds[key].append(s)
            counts[key] = out
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k[0]} {k[1]} {v[-1]:.2f}s" for k, v in seconds.items()))

    for kind in ("850", "856"):  # the corpus is what it claims to be
        assert counts[("pyx12", kind)] == n_segs[kind], (counts[("pyx12", kind)], n_segs[kind])
        assert counts[("tokenize", kind)] == n_sets[kind]
        assert counts[("tokenize+map", kind)] == n_sets[kind]  # one event per 850 / 856

    def best(name: str, kind: str) -> float:
        if kind == "all":  # both halves, best round of each
            return best(name, "850") + best(name, "856")
        return min(seconds[(name, kind)])

    figures: dict[str, dict[str, Any]] = {}
    for name in ("pyx12", "tokenize", "tokenize+map", "split"):
        for kind in ("850", "856", "all"):
            s = best(name, kind)
            fig = {
                "seconds": round(s, 4),
                "mb_per_s": round(n_bytes[kind] / s / 1e6, 3),
                "sets_per_s": round(n_sets[kind] / s, 1),
                "segments_per_s": round(n_segs[kind] / s, 1),
            }
            if name == "tokenize+map":
                fig["events_per_s"] = round(n_sets[kind] / s, 1)  # one event per set here
            figures[f"{name} {kind}"] = fig
    ratios = {
        f"{name} {kind}": round(best("pyx12", kind) / best(name, kind), 4)
        for name in ("tokenize", "tokenize+map", "split")
        for kind in ("850", "856", "all")
    }
    stream = stream_figures(x12file, bodies, int(args.stream_mb * 1e6)) if args.stream_mb > 0 else None

    result = {
        "benchmark": "x12",
        "params": {"mb": args.mb, "sets": args.sets, "rounds": args.rounds, "seed": args.seed},
        "machine": machine() | {"pyx12": getattr(sys.modules.get("pyx12"), "__version__", "?")},
        "corpus": {
            "bytes": n_bytes,
            "interchanges": {"all": len(bodies)} | {k: len(v) for k, v in kinds.items()},
            "sets": n_sets,
            "segments": n_segs,
            "events": n_sets,
        },
        "baseline": "pyx12.x12file.X12Reader over each interchange (decode + iterate every segment)",
        "seconds_per_round": {f"{k[0]} {k[1]}": [round(s, 4) for s in v] for k, v in seconds.items()},
        "figures": figures,
        "ratios_vs_baseline": ratios,
        "one_body": stream,
    }
    path = write_result("x12", result)

    rows: list[tuple[str, ...]] = [("measure", "MB/s", "sets/s", "events/s", "segments/s", "× pyx12")]
    for name in ("pyx12", "tokenize", "tokenize+map", "split"):
        for kind in ("850", "856", "all"):
            f = figures[f"{name} {kind}"]
            rows.append(
                (
                    f"{name} {kind}" + (" (baseline)" if name == "pyx12" else " (floor)" if name == "split" else ""),
                    f"{f['mb_per_s']:.2f}",
                    f"{f['sets_per_s']:,.0f}",
                    f"{f['events_per_s']:,.0f}" if "events_per_s" in f else "",
                    f"{f['segments_per_s']:,.0f}",
                    "1" if name == "pyx12" else f"{ratios[f'{name} {kind}']:.2f}",
                )
            )
    print(table(rows))
    if stream:
        print(
            f"one body of {stream['bytes'] / 1e6:.1f} MB ({stream['interchanges']} interchanges) vs fed one by one: "
            + ", ".join(
                f"{n} {stream[n]['one_body_mb_per_s']:.2f} vs {stream[n]['per_interchange_mb_per_s']:.2f} MB/s"
                for n in ("pyx12", "tokenize")
            )
        )
    print(f"→ {path}")


if __name__ == "__main__":
    main()
