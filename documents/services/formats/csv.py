"""CSV and TSV tables into paragraphs, one "column: value; ..." paragraph per data row."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator

from django.conf import settings


def csv_paragraphs(text: str) -> Iterator[str]:
    """One "column: value; column: value" paragraph per data row (empty values skipped, blank rows dropped).

    The dialect comes from ``csv.Sniffer`` on the first ``settings.EXTRACT_CSV_SNIFF_BYTES`` characters (whole
    lines; the sniffer is quadratic in its sample, so the sample stays small and is sniffed once), fallback:
    tab if the first line has more tabs than commas, else comma. The first row is the header when the
    sniffer says so or none of its cells is empty or numeric; otherwise columns are named "Column 1",
    "Column 2", ... Raises ``csv.Error``.
    """
    sample = text[: settings.EXTRACT_CSV_SNIFF_BYTES]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    sniffed = _csv_sniff(sample)
    dialect = sniffed or _csv_fallback_dialect(sample)
    rows: Iterator[list[str]] = csv.reader(io.StringIO(text), dialect)
    first = next(rows, None)
    if first is None:
        return
    header: list[str] = []
    if _has_header(sample, first, sniffed):
        header = [" ".join(cell.split()) for cell in first]
    else:
        rows = itertools.chain([first], rows)
    for row in rows:
        parts = []
        for index, value in enumerate(row):
            if value := " ".join(value.split()):
                name = header[index] if index < len(header) and header[index] else f"Column {index + 1}"
                parts.append(f"{name}: {value}")
        if parts:
            yield "; ".join(parts)


class _SniffedOnce(csv.Sniffer):
    """A sniffer whose ``has_header`` reuses an already sniffed dialect instead of sniffing again."""

    def __init__(self, dialect: type[csv.Dialect]) -> None:
        super().__init__()
        self.dialect = dialect

    def sniff(self, sample: str, delimiters: str | None = None) -> type[csv.Dialect]:
        return self.dialect


def _csv_sniff(sample: str) -> type[csv.Dialect] | None:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return None


def _csv_fallback_dialect(sample: str) -> type[csv.Dialect]:
    first_line = sample.split("\n", 1)[0]
    return csv.excel_tab if first_line.count("\t") > first_line.count(",") else csv.excel


def _has_header(sample: str, first: list[str], sniffed: type[csv.Dialect] | None) -> bool:
    try:
        if sniffed is not None and _SniffedOnce(sniffed).has_header(sample):
            return True
    except csv.Error:
        pass
    return bool(first) and all(cell.strip() and not _is_number(cell) for cell in first)


def _is_number(value: str) -> bool:
    try:
        float(value.replace(",", ""))
    except ValueError:
        return False
    return True
