"""Tables into paragraphs, one "column: value; ..." paragraph per data row (``labelled_rows``): CSV and TSV
files here, spreadsheets' sheets (XLSX, ODS) through the same function."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence

from django.conf import settings

Cells = Sequence[tuple[int, str]]  # a table row: (0-based column, text) of the cells present, in column order


def csv_paragraphs(text: str) -> Iterator[str]:
    """One "column: value; column: value" paragraph per data row (``labelled_rows``).

    The dialect comes from ``csv.Sniffer`` on the first ``settings.EXTRACT_CSV_SNIFF_BYTES`` characters (whole
    lines; the sniffer is quadratic in its sample, so the sample stays small and is sniffed once), fallback:
    tab if the first line has more tabs than commas, else comma. The first row is the header when the
    sniffer says so or none of its cells is empty or numeric. Raises ``csv.Error``.
    """
    sample = text[: settings.EXTRACT_CSV_SNIFF_BYTES]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    sniffed = _csv_sniff(sample)
    dialect = sniffed or _csv_fallback_dialect(sample)
    rows = (list(enumerate(row)) for row in csv.reader(io.StringIO(text), dialect))
    return labelled_rows(rows, lambda first: _has_header(sample, first, sniffed))


def labelled_rows(rows: Iterable[Cells], is_header: Callable[[list[str]], bool] | None = None) -> Iterator[str]:
    """One "column: value; column: value" paragraph per row of a table (CSV, a spreadsheet's sheet), so a row
    stays one retrievable unit: empty values skipped, whitespace collapsed, rows without a value dropped.

    The first row holding a value is the header when ``is_header(its values)`` (default ``looks_like_header``);
    columns without a header name are "Column 1", "Column 2", ... Linear in the cells given.
    """
    is_header = is_header or looks_like_header
    header: dict[int, str] | None = None
    for row in rows:
        cells = [(index, value) for index, raw in row if (value := " ".join(raw.split()))]
        if not cells:
            continue
        if header is None:
            header = dict(cells) if is_header([raw for _, raw in row]) else {}
            if header:
                continue
        yield "; ".join(f"{header.get(index) or f'Column {index + 1}'}: {value}" for index, value in cells)


def looks_like_header(first: list[str]) -> bool:
    """A first row reads as a header when none of its cells is empty or a number."""
    return bool(first) and all(cell.strip() and not _is_number(cell) for cell in first)


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
    return looks_like_header(first)


def _is_number(value: str) -> bool:
    try:
        float(value.replace(",", ""))
    except ValueError:
        return False
    return True
