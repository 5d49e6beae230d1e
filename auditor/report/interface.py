"""The one interface every report format implements, and the helpers they share.

A format is a module with `FILENAME` and `write(report, folder, options)`; it reads only the
`AuditReport` and writes one file into `folder`. Formats import this module and nothing else of
`report`; the registry of formats (`writer.FORMATS`) sits above them, beside its one user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from auditor.audit.results import AuditReport

#: Characters XML 1.0 cannot hold, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class WriteOptions:
    html_mode: str = "inline"  # inline: one self-contained file; folder: CSS and PNGs beside it
    images_dir: str = "images"


class Format(Protocol):
    FILENAME: str

    def write(self, report: AuditReport, folder: Path, options: WriteOptions) -> None: ...


def fmt(value: object, digits: int = 4) -> str:
    """A figure for people: 4 significant digits, '—' when absent."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def xml_text(value: object, limit: int = 4000) -> str:
    """Untrusted text made storable in XML (ElementTree escapes the markup characters itself)."""
    text = _XML_INVALID.sub("\ufffd", str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: How each check status reads in a report (see `auditor.audit.results.STATUSES`).
STATUS_WORDS = {
    "passed": "passed",
    "failed": "FAILED",
    "reported": "reported",
    "partial": "partial",
    "not_run": "not run",
}


def status_word(status: str) -> str:
    return STATUS_WORDS[status]
