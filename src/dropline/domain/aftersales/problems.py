"""Buyer-reported problems: the reason taxonomy, the photo rules and the report's
life. Pure rules, no I/O; ``services.aftersales.problems`` applies them.

A buyer reports a problem with some lines of a delivered order: one reason from the
taxonomy, a note and photos. The ops lead approves the report (it becomes an ordinary
return, ``domain.aftersales.returns``) or declines it with a message to the buyer.

Every reason has a stable ``code`` (never renamed: reports, the Pareto and the supplier
scorecard keep it), a ``group`` (manufacturing, packaging, shipping, misuse, fit, not
as described), whether photos are required, whether it counts as a **defect** (a fault
of the product or its handling, traced to the lot and manufacturer), and the return
reason the approved return carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dropline.domain.aftersales.returns import ReturnReason
from dropline.domain.errors import InvalidInput, InvalidTransition

MAX_PHOTOS = 4
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_NOTE = 2000
MAX_DECLINE_MESSAGE = 1000
# An API report's body: its photos base64-encoded, plus the text around them.
MAX_REPORT_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES * 4 // 3 + 256 * 1024
# The buyer page's multipart form: its photos as raw bytes, plus the fields around them.
MAX_FORM_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES + 256 * 1024


class ReasonGroup(StrEnum):
    MANUFACTURING = "manufacturing"
    PACKAGING = "packaging"
    SHIPPING = "shipping"
    MISUSE = "misuse"
    FIT = "fit"
    NOT_AS_DESCRIBED = "not_as_described"


@dataclass(frozen=True)
class ProblemReason:
    code: str
    group: ReasonGroup
    label: str
    photos_required: bool
    is_defect: bool
    return_reason: ReturnReason


_M, _P, _S = ReasonGroup.MANUFACTURING, ReasonGroup.PACKAGING, ReasonGroup.SHIPPING
_U, _F, _N = ReasonGroup.MISUSE, ReasonGroup.FIT, ReasonGroup.NOT_AS_DESCRIBED
_DEF, _DMG = ReturnReason.DEFECTIVE, ReturnReason.DAMAGED_IN_TRANSIT
_WRONG, _OTHER = ReturnReason.WRONG_ITEM, ReturnReason.OTHER
_MIND, _NAD = ReturnReason.CHANGED_MIND, ReturnReason.NOT_AS_DESCRIBED

# The maintained taxonomy. Add codes; never rename or reuse one.
TAXONOMY: tuple[ProblemReason, ...] = (
    ProblemReason("stitching", _M, "Seam or stitching came apart", True, True, _DEF),
    ProblemReason("material_flaw", _M, "Flaw in the fabric or material", True, True, _DEF),
    ProblemReason("print_defect", _M, "Print or colour faulty", True, True, _DEF),
    ProblemReason("hardware_broken", _M, "Zip, button or hardware broken", True, True, _DEF),
    ProblemReason("packaging_damaged", _P, "Packaging damaged or missing", True, True, _DMG),
    ProblemReason("missing_part", _P, "A part or accessory is missing", False, True, _DEF),
    ProblemReason("damaged_in_transit", _S, "Damaged in transit", True, True, _DMG),
    ProblemReason("wrong_item", _S, "Wrong item or size sent", False, False, _WRONG),
    ProblemReason("misuse_wear", _U, "Worn or washed against the care label", False, False, _OTHER),
    ProblemReason("too_small", _F, "Too small", False, False, _MIND),
    ProblemReason("too_large", _F, "Too large", False, False, _MIND),
    ProblemReason("colour_differs", _N, "Colour differs from the photos", True, False, _NAD),
    ProblemReason("not_as_described", _N, "Not as described", False, False, _NAD),
)  # fmt: skip

REASONS: Mapping[str, ProblemReason] = {r.code: r for r in TAXONOMY}
DEFECT_CODES = frozenset(r.code for r in TAXONOMY if r.is_defect)


def reason(code: str) -> ProblemReason:
    """The taxonomy entry of ``code``; ``InvalidInput`` for a code that does not exist."""
    got = REASONS.get(code)
    if got is None:
        raise InvalidInput(
            f"unknown problem reason {code!r}; one of {', '.join(REASONS)}", field="reason"
        )
    return got


class ProblemStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"  # became a return
    DECLINED = "declined"


def check_problem_transition(current: ProblemStatus, target: ProblemStatus) -> None:
    """Only an open report is decided, once."""
    if current is not ProblemStatus.OPEN or target is ProblemStatus.OPEN:
        raise InvalidTransition(
            f"a problem report cannot go from {current} to {target}",
            current=current,
            target=target,
        )


# Image types a buyer may upload, recognised by their first bytes (the declared type
# must agree: a text file called photo.jpg is refused).
_MAGIC: tuple[tuple[str, bytes, str], ...] = (
    ("image/jpeg", b"\xff\xd8\xff", ".jpg"),
    ("image/png", b"\x89PNG\r\n\x1a\n", ".png"),
    ("image/webp", b"RIFF", ".webp"),
)
PHOTO_TYPES = tuple(t for t, _, _ in _MAGIC)


def photo_extension(data: bytes, content_type: str) -> str:
    """The file extension of a valid photo; ``InvalidInput`` when the data is empty,
    over ``MAX_PHOTO_BYTES``, of another declared type, or not what its bytes say."""
    declared = content_type.split(";")[0].strip().lower()
    if not data or len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(
            f"a photo must be between 1 byte and {MAX_PHOTO_BYTES // (1024 * 1024)} MiB",
            field="photos",
        )
    for kind, magic, ext in _MAGIC:
        if declared == kind:
            webp_ok = kind != "image/webp" or data[8:12] == b"WEBP"
            if data.startswith(magic) and webp_ok:
                return ext
            raise InvalidInput(f"the photo is not a {kind} image", field="photos")
    raise InvalidInput(f"photos must be one of {', '.join(PHOTO_TYPES)}", field="photos")


def check_report(entry: ProblemReason, photo_count: int, note: str, line_count: int) -> None:
    """A report names at least one line, has a note that fits, at most ``MAX_PHOTOS``
    photos, and a photo when its reason requires one."""
    if line_count < 1:
        raise InvalidInput("a problem report needs at least one order line", field="lines")
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"a note is at most {MAX_NOTE} characters", field="note")
    if photo_count > MAX_PHOTOS:
        raise InvalidInput(f"at most {MAX_PHOTOS} photos", field="photos")
    if entry.photos_required and photo_count == 0:
        raise InvalidInput(f"the reason {entry.code!r} needs at least one photo", field="photos")


def taxonomy_view(entries: Sequence[ProblemReason] = TAXONOMY) -> list[dict[str, object]]:
    return [
        {
            "code": r.code,
            "group": r.group.value,
            "label": r.label,
            "photos_required": r.photos_required,
            "is_defect": r.is_defect,
            "return_reason": r.return_reason.value,
        }
        for r in entries
    ]
