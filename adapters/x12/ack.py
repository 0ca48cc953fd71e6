"""Build the X12 997 functional acknowledgement a trading partner expects back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from adapters.x12.tokenizer import Interchange

# ISA01..ISA15 fixed widths (ISA16 is the one-character component separator).
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1)


def build_997(
    interchange: Interchange,
    *,
    rejected: Mapping[tuple[str, str], str] | None = None,
    now: datetime | None = None,
    control: int | None = None,
) -> bytes:
    """A 997 interchange acknowledging every functional group of `interchange`.

    Sender and receiver are swapped, the separators are the ones received. Each group gets one
    997 transaction set: AK1 (group), AK2/AK5 per set — ``A`` accepted, ``R`` (code 5, segment
    in error) for a set listed in `rejected` by (GS06, ST02) — and AK9 with the group's counts
    (``A`` all accepted, ``P`` some, ``R`` none). `control` is the ISA13/GS06 of the reply
    (default: the received ISA13), `now` its date (default: the current UTC time).
    """
    rejected = rejected or {}
    now = now or datetime.now(UTC)
    el, comp, term = interchange.element_sep, interchange.component_sep, interchange.segment_term
    isa = interchange.header
    number = control if control is not None else int(isa.get(13)) if isa.get(13).isdigit() else 1
    repetition = interchange.repetition_sep or "U"
    fields = [
        isa.get(1) or "00",
        isa.elements[2],
        isa.get(3) or "00",
        isa.elements[4],
        isa.get(7),
        isa.get(8),
        isa.get(5),
        isa.get(6),
        now.strftime("%y%m%d"),
        now.strftime("%H%M"),
        repetition,
        interchange.version,
        f"{number:09d}"[-9:],
        "0",
        isa.get(15) or "P",
    ]
    padded = [value.strip().ljust(width)[:width] for value, width in zip(fields, ISA_WIDTHS, strict=True)]
    segments: list[list[str]] = [["ISA", *padded, comp]]
    for k, group in enumerate(interchange.groups, 1):
        gs = group.header
        gs_control = f"{number}{k:02d}" if len(interchange.groups) > 1 else str(number)
        version = gs.get(8)
        segments.append(
            ["GS", "FA", gs.get(3), gs.get(2), now.strftime("%Y%m%d"), now.strftime("%H%M"), gs_control, "X", version]
        )
        st_control = f"{k:04d}"
        body: list[list[str]] = [["ST", "997", st_control]]
        ak1 = ["AK1", gs.get(1), gs.get(6)]
        if version.startswith("005"):
            ak1.append(version)
        body.append(ak1)
        accepted = 0
        for tset in group.sets:
            body.append(["AK2", tset.set_id, tset.control])
            if (group.control, tset.control) in rejected:
                body.append(["AK5", "R", "5"])
            else:
                body.append(["AK5", "A"])
                accepted += 1
        received = len(group.sets)
        status = "A" if accepted == received else "R" if accepted == 0 else "P"
        body.append(["AK9", status, str(received), str(received), str(accepted)])
        body.append(["SE", str(len(body) + 1), st_control])
        segments.extend(body)
        segments.append(["GE", "1", gs_control])
    segments.append(["IEA", str(len(interchange.groups)), f"{number:09d}"[-9:]])
    text = "".join(el.join(seg) + term for seg in segments)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")
