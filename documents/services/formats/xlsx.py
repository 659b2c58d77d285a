"""Excel workbooks (openpyxl, read-only, saved values) into sheets of rows of cell texts.

openpyxl's public ``iter_rows`` pads every row to the width the sheet's ``<dimension>`` claims (a claimed
A1:XFD1048576 makes each row 16,384 cells) and yields one empty row per missing row number (a row numbered
10^12 after row 1 would take forever), and in ``data_only`` mode it hides formulas that have no saved value.
So the rows come from openpyxl's own sheet parser (``WorkSheetParser``, the one ``iter_rows`` runs on; a
private module of the pinned openpyxl 3.1.5) with a streaming ``parse`` of our own: one row per ``<row>``
element, only the cells present, linear in the sheet's XML and flat in memory. The XML goes through
defusedxml (openpyxl's ``iterparse`` uses it when installed, and requirements.txt pins it).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from openpyxl.worksheet._reader import CELL_TAG, DATA_TAG, FORMULA_TAG, ROW_TAG, WorkSheetParser
from openpyxl.xml.functions import iterparse

from documents.services.formats.csv import Cells

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook

NO_SAVED_VALUE = "(formula, no saved value)"  # a formula cell the saving program did not calculate
MAX_COLUMNS = 16_384  # a sheet's width in Excel (XFD) and LibreOffice: cells past it in a row are not read


class _SavedValueParser(WorkSheetParser):
    """openpyxl's sheet parser in ``data_only`` mode, streaming: rows only, each cell parsed by openpyxl's
    ``parse_cell`` (formula cells without a saved value marked) and dropped from the tree as soon as it ends,
    each row dropped once read. openpyxl's own ``parse`` keeps every row read (about 90 bytes each: a million
    empty rows held 90 MB) and a whole row's cells until the row ends; here memory stays flat, and a row keeps
    at most ``MAX_COLUMNS`` cells (no sheet is wider)."""

    row_counter: int
    col_counter: int

    def parse(self) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        sheet_data = row = None
        cells: list[dict[str, Any]] = []
        for event, element in iterparse(self.source, events=("start", "end")):
            if event == "start":
                if element.tag == ROW_TAG:
                    row, cells = element, []
                    self.row_counter = _row_number(element.get("r"), self.row_counter)
                    self.col_counter = 0
                elif element.tag == DATA_TAG:
                    sheet_data = element
            elif element.tag == CELL_TAG and row is not None:
                if len(cells) < MAX_COLUMNS:
                    cells.append(self.parse_cell(element))
                row.remove(element)  # its only child by now: the cells before it were removed
            elif element.tag == ROW_TAG and row is not None:
                yield self.row_counter, cells
                if sheet_data is not None:
                    sheet_data.remove(row)
                row = None

    def parse_cell(self, element: Any) -> dict[str, Any]:
        cell: dict[str, Any] = super().parse_cell(element)
        if cell["value"] is None and element.find(FORMULA_TAG) is not None:
            cell["value"] = NO_SAVED_VALUE
        return cell


def _row_number(value: str | None, previous: int) -> int:
    """A ``<row r="...">`` number as openpyxl reads it (an integer, possibly written as a float), else the
    previous row's + 1. Raises ValueError."""
    if value is None:
        return previous + 1
    try:
        return int(value)
    except ValueError:
        return int(float(value))


def xlsx_sheets(workbook: Workbook) -> Iterator[tuple[str, Iterator[Cells]]]:
    """``(sheet name, rows)`` for each worksheet of a workbook opened with ``read_only=True, data_only=True``
    (chart sheets have no cells and are skipped). ``rows`` yields one row per ``<row>`` element in the file
    (empty ones too, so callers can bound the work): (0-based column, text) of each of its ``<c>`` elements,
    text "" for an empty cell. Consume each sheet's rows before moving to the next sheet."""
    for sheet in workbook.worksheets:
        yield sheet.title, _rows(workbook, sheet)


def xlsx_title(workbook: Workbook) -> str:
    """The workbook's title from its core properties, "" when it has none."""
    return " ".join((workbook.properties.title or "").split())


def _rows(workbook: Workbook, sheet: Any) -> Iterator[Cells]:
    with sheet._get_source() as source:  # as ReadOnlyWorksheet._cells_by_row does
        parser = _SavedValueParser(
            source,
            sheet._shared_strings,
            data_only=True,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        for _, cells in parser.parse():
            yield [(cell["column"] - 1, cell_text(cell["value"])) for cell in cells]


def cell_text(value: object) -> str:
    """A cell's value as text: numbers in up to 15 significant digits (as Excel shows them), dates in ISO
    8601 (no time at midnight), booleans as TRUE/FALSE, None as ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return f"{value:.15g}"
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)
