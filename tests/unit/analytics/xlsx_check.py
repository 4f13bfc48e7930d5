#!/usr/bin/python3
"""xlsx_check.py - reads an .xlsx written by src/analytics/xlsx.c back with
openpyxl and compares it with what test_xlsx.c expected.

Usage: xlsx_check.py FILE SPEC.json; exits 0 when everything matches, 1 with
one line per mismatch on stderr otherwise. SPEC:

  {"sheets": ["data", "data (2)"],          sheet names, in order
   "header": ["id", "name"],                row 1 of every sheet, bold
   "rows": [4, 2],                          data rows per sheet (header excluded)
   "frozen": true,                          panes frozen under the header
   "cells": [{"sheet": 0, "row": 2, "col": 1,     row 1 is the header
              "type": "str|int|float|bool|date|datetime|none",
              "value": ...,                  str: the text Excel shows
              "len16": 32767, "prefix": "..", "suffix": ".."}]}

Strings are compared as Excel shows them: "_xHHHH_" escapes decoded, since
that is how XLSX stores characters XML cannot hold. Dates are "YYYY-MM-DD",
datetimes "YYYY-MM-DDTHH:MM:SS[.fff]", compared to the millisecond.
"""
import datetime
import json
import re
import sys
import zipfile

import openpyxl

ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def excel_text(s):
    return ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), s)


def len16(s):
    return sum(2 if ord(c) > 0xFFFF else 1 for c in s)


def check_cell(where, got, want, errors):
    t = want["type"]
    if t == "none":
        if got is not None:
            errors.append(f"{where}: want empty, got {got!r}")
        return
    if t == "str":
        if not isinstance(got, str):
            errors.append(f"{where}: want a string, got {type(got).__name__} {got!r}")
            return
        text = excel_text(got)
        if "value" in want and text != want["value"]:
            errors.append(f"{where}: want {want['value']!r}, got {text!r} (stored {got!r})")
        if "len16" in want and len16(text) != want["len16"]:
            errors.append(f"{where}: want {want['len16']} UTF-16 units, got {len16(text)}")
        if "prefix" in want and not text.startswith(want["prefix"]):
            errors.append(f"{where}: does not start with {want['prefix']!r}: {text[:20]!r}")
        if "suffix" in want and not text.endswith(want["suffix"]):
            errors.append(f"{where}: does not end with {want['suffix']!r}: {text[-20:]!r}")
        return
    if t == "bool":
        if not isinstance(got, bool) or got != want["value"]:
            errors.append(f"{where}: want bool {want['value']!r}, got {got!r}")
        return
    if t in ("int", "float"):
        if isinstance(got, bool) or not isinstance(got, (int, float)) or got != want["value"]:
            errors.append(f"{where}: want number {want['value']!r}, got {got!r}")
        return
    if t == "date":
        if not isinstance(got, datetime.datetime) or got.time() != datetime.time(0):
            errors.append(f"{where}: want a date, got {got!r}")
        elif got.date().isoformat() != want["value"]:
            errors.append(f"{where}: want {want['value']}, got {got.date().isoformat()}")
        return
    if t == "datetime":
        exp = datetime.datetime.fromisoformat(want["value"])
        if not isinstance(got, datetime.datetime):
            errors.append(f"{where}: want a datetime, got {got!r}")
        elif abs((got - exp).total_seconds()) > 0.001:
            errors.append(f"{where}: want {exp.isoformat()}, got {got.isoformat()}")
        return
    errors.append(f"{where}: unknown type {t!r} in the spec")


def frozen_sheets(path):
    """The sheet XML parts that freeze the first row."""
    with zipfile.ZipFile(path) as z:
        out = set()
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet"):
                with z.open(name) as f:
                    head = f.read(4096).decode("utf-8", "replace")
                if re.search(r'<pane ySplit="1" topLeftCell="A2"[^>]*state="frozen"', head):
                    out.add(name)
        return out


def main():
    path, spec_path = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    errors = []
    wb = openpyxl.load_workbook(path, read_only=True)
    if "sheets" in spec and wb.sheetnames != spec["sheets"]:
        errors.append(f"sheets: want {spec['sheets']!r}, got {wb.sheetnames!r}")
    cells = {}
    for c in spec.get("cells", []):
        cells.setdefault((c["sheet"], c["row"]), []).append(c)
    counts = []
    for si, ws in enumerate(wb.worksheets):
        n = 0
        for ri, row in enumerate(ws.iter_rows(), start=1):
            n = ri
            if ri == 1 and "header" in spec:
                got = [c.value for c in row]
                if got != spec["header"]:
                    errors.append(f"sheet {si} header: want {spec['header']!r}, got {got!r}")
                if not all(c.font is not None and c.font.b for c in row):
                    errors.append(f"sheet {si} header is not bold")
            for want in cells.pop((si, ri), []):
                col = want["col"]
                got = row[col].value if col < len(row) else None
                check_cell(f"sheet {si} row {ri} col {col}", got, want, errors)
        counts.append(max(n - 1, 0))
    if "rows" in spec and counts != spec["rows"]:
        errors.append(f"data rows per sheet: want {spec['rows']!r}, got {counts!r}")
    for (si, ri), left in cells.items():
        errors.append(f"sheet {si} row {ri}: not found ({len(left)} expected cells)")
    if spec.get("frozen"):
        n = len(frozen_sheets(path))
        if n != len(wb.sheetnames):
            errors.append(f"frozen header: {n} of {len(wb.sheetnames)} sheets")
    wb.close()
    for e in errors:
        print("xlsx_check: " + e, file=sys.stderr)
    print(f"xlsx_check: {path}: {len(wb.sheetnames)} sheets, {sum(counts)} data rows, "
          f"{len(errors)} mismatches")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
