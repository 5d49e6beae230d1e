"""Write every requested format into a private folder inside --out, then move the files into place.

An interrupted run leaves no half report (after a hard kill, at worst a hidden `.auditor-tmp-*`
folder), and nothing is written outside --out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from auditor.audit.results import AuditReport
from auditor.errors import ConfigError
from auditor.report import html, json_report, junit, markdown, sarif
from auditor.report.interface import Format, WriteOptions

TMP_PREFIX = ".auditor-tmp-"
#: Every report format by the name `[run] formats` and --format use.
FORMATS: dict[str, Format] = {
    "html": html,
    "json": json_report,
    "junit": junit,
    "sarif": sarif,
    "markdown": markdown,
}


def write_report(
    report: AuditReport, out: Path, names: Sequence[str], options: WriteOptions | None = None
) -> list[Path]:
    """Write the formats `names` and the images into `out`; return the written files (report.html first)."""
    options = options or WriteOptions()
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown report format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    created = _missing_folders(out)
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
        staging = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out))
        try:
            images = staging / options.images_dir
            images.mkdir()
            seen: set[str] = set()
            for check in report.checks:
                for figure in check.figures:
                    if figure.name in seen:
                        raise ValueError(f"two report images are named {figure.name!r}")
                    seen.add(figure.name)
                    (images / f"{figure.name}.png").write_bytes(figure.png)
            for name in names:
                FORMATS[name].write(report, staging, options)
            return _move_into(staging, out, options.images_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:  # an error, Ctrl-C or SIGTERM: leave no empty folder this call made
        _remove_empty(created)
        raise


def _missing_folders(out: Path) -> list[Path]:
    """The folders `out.mkdir(parents=True)` would create, deepest first."""
    absent = []
    folder = out
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        absent.append(folder)
        folder = folder.parent
    return absent


def _remove_empty(folders: list[Path]) -> None:
    """Remove these folders, deepest first, as long as each is empty (never anything inside one)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _move_into(staging: Path, out: Path, images_dir: str) -> list[Path]:
    """Replace the previous report's files and images folder with the staged ones."""
    old_images = out / images_dir
    if old_images.is_dir() and not old_images.is_symlink():
        os.replace(old_images, staging / f"{images_dir}.old")
    elif old_images.exists() or old_images.is_symlink():
        raise ConfigError(f"{old_images} exists and is not a folder; choose another --out")
    os.replace(staging / images_dir, old_images)
    written = []
    for path in sorted(staging.iterdir(), key=lambda p: (p.name != "report.html", p.name)):
        if path.is_file():
            target = out / path.name
            os.replace(path, target)
            written.append(target)
    return written
