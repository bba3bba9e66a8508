"""Tracking numbers from a warehouse's CSV: the file read whole and checked before any
row is applied, and the report of what each row did (``FulfilmentService.import_tracking``
applies the rows)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from dropline.domain.errors import CsvFieldTooLarge, InvalidInput

TRACKING_COLUMNS = ("order_id", "carrier", "tracking_number", "tracking_url")


@dataclass
class ImportReport:
    applied: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (line, code, detail)

    @property
    def total(self) -> int:
        return len(self.applied) + len(self.duplicates) + len(self.errors)


def read_csv(text: str) -> tuple[list[str], list[dict[str | None, str | None]]]:
    """The stripped header and the rows of a CSV, read whole before anything is applied.

    Python's reader stops at a field longer than ``csv.field_size_limit()`` (128 KiB)
    with ``csv.Error``, which was a 500: that is ``CsvFieldTooLarge`` (422
    ``csv_field_too_large``), any other reader error ``InvalidInput``, both naming the
    line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        rows = list(reader)
    except csv.Error as exc:
        line = reader.reader.line_num  # the DictReader's own count lags a row behind
        if "field larger than field limit" in str(exc):
            limit = csv.field_size_limit()
            raise CsvFieldTooLarge(
                f"line {line}: a field is longer than {limit} characters", line=line, limit=limit
            ) from None
        raise InvalidInput(f"line {line}: the CSV cannot be read ({exc})", line=line) from None
    return header, rows
