"""The one way a model file is opened for an audit or a command: vetted in the sandbox child, then opened here.

The child (`sandbox.check_in_child`) does the whole load under memory and time caps; this process
then opens the file itself and refuses it when its bytes (SHA-256, external data included) are no
longer those the child checked. With no sandbox (`--trust-model`) the file is opened directly.
"""

from __future__ import annotations

import os
from typing import Literal, overload

from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.opening import ModelKind, open_model
from auditor.model.sandbox import SandboxLimits, check_in_child, confirm_unchanged
from auditor.model.text import TextModel


@overload
def open_vetted(
    path: str | os.PathLike[str],
    kind: Literal["classifier"],
    options: OpenOptions,
    sandbox: SandboxLimits | None,
) -> BlackBox: ...
@overload
def open_vetted(
    path: str | os.PathLike[str],
    kind: Literal["generator"],
    options: OpenOptions,
    sandbox: SandboxLimits | None,
) -> Generator: ...
@overload
def open_vetted(
    path: str | os.PathLike[str],
    kind: Literal["encoder"],
    options: OpenOptions,
    sandbox: SandboxLimits | None,
) -> Encoder: ...
@overload
def open_vetted(
    path: str | os.PathLike[str],
    kind: Literal["text"],
    options: OpenOptions,
    sandbox: SandboxLimits | None,
) -> TextModel: ...
def open_vetted(
    path: str | os.PathLike[str], kind: ModelKind, options: OpenOptions, sandbox: SandboxLimits | None
) -> BlackBox | Generator | Encoder | TextModel:
    """Open `path` as `kind` after its first load in a child limited by `sandbox` (None: trust it, no child)."""
    contact = check_in_child(path, kind, options, sandbox) if sandbox is not None else None
    opened = open_model(path, kind, options)
    confirm_unchanged(contact, opened.model)
    return opened
