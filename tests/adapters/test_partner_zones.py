"""TOWER_EDI_PARTNER_ZONES in the X12 and EDIFACT adapters: dates and times without a zone are the
sending partner's wall clock (DST by the date), an explicit time code still wins, and the same
interchange without the setting reads as UTC."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from adapters.base import AdapterError
from adapters.edifact import parse as parse_edifact
from adapters.partner_zones import HEADER
from adapters.x12 import parse as parse_x12
from tests.support.ocel import FIXTURES

EDI = FIXTURES / "edi_x12"


def zones(spec: str) -> dict[str, str]:
    """The header the server adds from TOWER_EDI_PARTNER_ZONES."""
    return {HEADER: spec}


def x12_times(body: bytes, spec: str | None = None) -> list[str]:
    return [ev["time"] for ev in parse_x12(body, zones(spec) if spec is not None else {}, {}).events]


def edifact_times(body: bytes, spec: str | None = None) -> list[str]:
    return [ev["time"] for ev in parse_edifact(body, zones(spec) if spec is not None else {}, {}).events]


def shift(a: str, b: str) -> timedelta:
    """How far `b` is after `a` (RFC 3339 UTC)."""
    return datetime.fromisoformat(b.replace("Z", "+00:00")) - datetime.fromisoformat(a.replace("Z", "+00:00"))


def interchange(sender: str, gs_date: str, gs_time: str, set_id: str, body: list[str]) -> bytes:
    """A well-formed X12 004010 interchange with one group and one transaction set."""
    isa = (
        f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{'WIDGETCO':<15}*{gs_date[2:]}*{gs_time}*U*00401*"
        "000000101*0*P*>"
    )
    functional = {"850": "PO", "856": "SH", "214": "QM", "945": "SW", "810": "IN"}[set_id]
    segments = [f"ST*{set_id}*0001", *body]
    segments.append(f"SE*{len(segments) + 1}*0001")
    lines = [
        isa,
        f"GS*{functional}*{sender}*WIDGETCO*{gs_date}*{gs_time}*101*X*004010",
        *segments,
        "GE*1*101",
        "IEA*1*000000101",
    ]
    return ("~\n".join(lines) + "~\n").encode()


# ---------------------------------------------------------------- X12


def test_x12_summer_asn_from_a_chicago_partner_is_five_hours_later_than_utc() -> None:
    body = (EDI / "oopfactory-x12parser" / "856_FromGregarican.txt").read_bytes()  # BSN 20120515 0851
    (utc,) = x12_times(body)
    (local,) = x12_times(body, "2125931122=America/Chicago")
    assert utc == "2012-05-15T08:51:00Z"
    assert local == "2012-05-15T13:51:00Z"  # CDT, UTC-5
    assert shift(utc, local) == timedelta(hours=5)


def test_x12_winter_asn_is_six_hours_later_than_utc() -> None:
    body = (EDI / "node-x12" / "856.edi").read_bytes()  # ISA06 '4405197800     ', BSN 20111206 142428
    (utc,) = x12_times(body)
    (local,) = x12_times(body, " 4405197800 = America/Chicago ")
    assert utc == "2011-12-06T14:24:28Z"
    assert shift(utc, local) == timedelta(hours=6)  # CST, UTC-6


def test_x12_partner_ids_match_trimmed_and_in_any_case() -> None:
    body = interchange("Acme", "20260715", "0900", "856", ["BSN*00*SHP1*20260715*0800", "HL*1**S"])
    assert x12_times(body, "ACME=America/Chicago") == x12_times(body, "acme=America/Chicago")
    assert x12_times(body, "ACME=America/Chicago") == ["2026-07-15T13:00:00Z"]


def test_x12_star_is_every_other_partner_and_unnamed_partners_stay_utc() -> None:
    body = (EDI / "node-x12" / "856.edi").read_bytes()
    assert x12_times(body, "OTHER=America/Chicago") == x12_times(body)
    assert x12_times(body, "OTHER=America/Chicago,*=America/New_York") == ["2011-12-06T19:24:28Z"]
    assert x12_times(body, "") == x12_times(body)


def test_x12_envelope_time_of_an_order_follows_the_partner_zone() -> None:
    """An 850's BEG05 is a bare date: on the envelope's own day the event is the envelope's time (GS04/05)."""
    body = (EDI / "node-x12" / "850.edi").read_bytes()
    utc, local = x12_times(body), x12_times(body, "*=America/Los_Angeles")
    assert len(utc) == len(local) == 1
    offset = shift(utc[0], local[0])
    assert offset in (timedelta(hours=7), timedelta(hours=8))  # PDT or PST, by the fixture's date
    day = datetime.fromisoformat(utc[0].replace("Z", "+00:00"))
    assert offset == (timedelta(hours=7) if 3 < day.month < 11 else timedelta(hours=8))


def test_x12_a_bare_date_is_judged_on_the_partners_calendar() -> None:
    """Sent at 20:00 in Chicago on the 20th (02:00Z on the 21st): a BEG dated the 20th is the same
    local day, so the order is the envelope's time, not the 20th's last second in UTC."""
    body = interchange("ACME", "20261120", "2000", "850", ["BEG*00*SA*PO-1**20261120", "PO1*1*1*EA***VP*S1"])
    assert x12_times(body) == ["2026-11-20T20:00:00Z"]
    assert x12_times(body, "ACME=America/Chicago") == ["2026-11-21T02:00:00Z"]
    # sent the next local morning: the stated day's last second, in Chicago
    later = interchange("ACME", "20261121", "0700", "850", ["BEG*00*SA*PO-1**20261120", "PO1*1*1*EA***VP*S1"])
    assert x12_times(later) == ["2026-11-20T23:59:59Z"]
    assert x12_times(later, "ACME=America/Chicago") == ["2026-11-21T05:59:59Z"]


@pytest.mark.parametrize(
    ("hhmm", "expected", "why"),
    [
        ("0130", "2026-11-01T06:30:00Z", "01:30 happens twice when DST ends: fold=0, the first (CDT)"),
        ("0230", "2026-11-01T08:30:00Z", "after the change: CST"),
    ],
)
def test_x12_dst_end_in_chicago(hhmm: str, expected: str, why: str) -> None:
    body = interchange("ACME", "20261101", "0900", "856", [f"BSN*00*SHP1*20261101*{hhmm}", "HL*1**S"])
    assert x12_times(body, "ACME=America/Chicago") == [expected], why


@pytest.mark.parametrize(
    ("hhmm", "expected", "why"),
    [
        ("0130", "2026-03-08T07:30:00Z", "before the change: CST"),
        ("0230", "2026-03-08T08:30:00Z", "02:30 never happens when DST starts: fold=0, the offset before (CST)"),
        ("0330", "2026-03-08T08:30:00Z", "after the change: CDT"),
    ],
)
def test_x12_dst_start_in_chicago(hhmm: str, expected: str, why: str) -> None:
    body = interchange("ACME", "20260308", "0900", "856", [f"BSN*00*SHP1*20260308*{hhmm}", "HL*1**S"])
    assert x12_times(body, "ACME=America/Chicago") == [expected], why


def test_x12_explicit_time_codes_win_over_the_partner_zone() -> None:
    at7 = [
        "B10*1Z999*SHP1*UPSN",
        "AT7*AF*NS***20260715*1000*ET",  # Eastern: 14:00Z whatever the partner's zone
        "AT7*X1*NS***20260715*1600*UT",  # UTC
        "AT7*X6*NS***20260715*1200",  # no code: the partner's wall clock
        "AT7*X6*NS***20260715*1300*LT",  # "local time" names no zone: the partner's too
    ]
    body = interchange("CARRIER", "20260715", "1700", "214", at7)
    assert x12_times(body, "CARRIER=Europe/Berlin") == [
        "2026-07-15T14:00:00Z",
        "2026-07-15T16:00:00Z",
        "2026-07-15T10:00:00Z",
        "2026-07-15T11:00:00Z",
    ]
    assert x12_times(body)[:2] == ["2026-07-15T14:00:00Z", "2026-07-15T16:00:00Z"]


def test_x12_g62_time_code_wins_and_without_one_the_partner_zone_applies() -> None:
    w06 = "W06*N*SO-1*20260110*SH-1"
    coded = interchange("WESTLOG", "20260110", "1800", "945", [w06, "G62*11*20260110*8*1500*PT"])
    plain = interchange("WESTLOG", "20260110", "1800", "945", [w06, "G62*11*20260110*8*1500"])
    spec = "WESTLOG=America/New_York"
    assert x12_times(coded, spec) == x12_times(coded) == ["2026-01-10T23:00:00Z"]  # PT in winter: UTC-8
    assert x12_times(plain, spec) == ["2026-01-10T20:00:00Z"]  # New York in winter: UTC-5


def test_x12_a_bad_zone_header_is_refused_naming_partner_and_zone() -> None:
    body = (EDI / "node-x12" / "856.edi").read_bytes()
    with pytest.raises(AdapterError) as err:
        parse_x12(body, zones("4405197800=America/Chicgo"), {})
    assert err.value.where == HEADER
    assert "'4405197800'" in err.value.reason and "'America/Chicgo'" in err.value.reason


# ---------------------------------------------------------------- EDIFACT


def test_edifact_bare_dtm_date_is_the_start_of_the_partners_day() -> None:
    body = (EDI / "staedi" / "edifact_invoic_d97b.edi").read_bytes()  # UNB sender 005435656, DTM+3:20060515:102
    assert edifact_times(body) == ["2006-05-15T00:00:00Z"]
    assert edifact_times(body, "005435656=America/New_York") == ["2006-05-15T04:00:00Z"]  # EDT


def test_edifact_dtm_203_is_the_partners_wall_clock() -> None:
    body = (EDI / "staedi" / "edifact_orders-with-group.edi").read_bytes().replace(b"UNT+21+1'", b"UNT+18+1'")
    (utc,) = edifact_times(body)  # DTM+137:200105022200:203
    (local,) = edifact_times(body, "5400110000009=Europe/Brussels")
    assert utc == "2001-05-02T22:00:00Z"
    assert local == "2001-05-02T20:00:00Z"  # CEST, UTC+2
    assert shift(local, utc) == timedelta(hours=2)


def test_edifact_unb_time_is_the_partners_wall_clock() -> None:
    body = (
        b"UNB+UNOC:3+ACME+SHOP+240301:1200+IC9'UNH+7+ORDERS:D:96A:UN'BGM+220+PO1+9'NAD+BY+ACME::9'"
        b"LIN+1++SKU1:SA'QTY+21:2'UNT+6+7'UNZ+1+IC9'"
    )
    assert edifact_times(body) == ["2024-03-01T12:00:00Z"]
    assert edifact_times(body, "ACME=America/Chicago") == ["2024-03-01T18:00:00Z"]  # CST, UTC-6


def test_edifact_dtm_303_with_its_own_offset_wins() -> None:
    body = (
        b"UNB+UNOC:3+ACME+SHOP+240301:1200+IC9'UNH+7+ORDERS:D:96A:UN'BGM+220+PO1+9'"
        b"DTM+137:202403011200?+01:303'NAD+BY+ACME::9'LIN+1++SKU1:SA'QTY+21:2'UNT+7+7'UNZ+1+IC9'"
    )
    assert edifact_times(body, "ACME=America/Chicago") == edifact_times(body) == ["2024-03-01T11:00:00Z"]
