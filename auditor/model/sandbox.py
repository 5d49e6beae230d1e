"""First contact with an untrusted model in a child process: memory cap, wall-clock timeout, bare environment.

The child (`python -m auditor.model.sandbox`) does the whole load the main process would do (the
checks, session creation with the same optimisation settings, the convention probe) on the CPU and
reports one JSON line on stdout. A crash, an allocation failure or a timeout there becomes one
ModelError naming the file; the main process opens only a model that passed. The child gets no
environment beyond what Python needs (no CI tokens), cannot write a byte to any file (RLIMIT_FSIZE 0:
writes fail with EFBIG) and dumps no core.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import auditor
from auditor import errors
from auditor.errors import ArgumentError, AuditorError, ModelError
from auditor.model.blackbox import OpenOptions
from auditor.model.loading import GiB, Limits, LoadedModel
from auditor.model.opening import KINDS, ModelKind, open_model

ALLOCATION_FAILURES = ("bad_alloc", "Failed to allocate memory", "MemoryError")


@dataclass(frozen=True)
class SandboxLimits:
    """What the child may use: address space (bytes) and wall-clock seconds for the whole load."""

    memory_bytes: int = 4 * GiB
    timeout: float = 60.0


@dataclass(frozen=True)
class FirstContact:
    """A model that passed the sandbox: its load time there, the child's peak resident memory, and the SHA-256
    of the file (and of each external data file, by location) the child read."""

    seconds: float
    peak_bytes: int
    sha256: str
    external: tuple[tuple[str, str], ...] = ()


def fingerprint(model: LoadedModel) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What identifies the bytes a load read: the file's SHA-256 and (location, SHA-256) of its external data."""
    return model.sha256, tuple(sorted((f.location, f.sha256) for f in model.external_files))


def confirm_unchanged(contact: FirstContact | None, model: LoadedModel) -> None:
    """Refuse a model whose bytes differ from those the sandbox checked (None: no sandbox, nothing to compare)."""
    if contact is None:
        return
    sha256, external = fingerprint(model)
    if sha256 != contact.sha256 or external != contact.external:
        part = "the model file" if sha256 != contact.sha256 else "an external data file of the model"
        raise ModelError(
            f"{model.path}: {part} changed while it was being checked (SHA-256 in the sandbox "
            f"{contact.sha256[:12]}, now {sha256[:12]}); run again once nothing is writing to it"
        )


def check_in_child(
    path: str | os.PathLike[str],
    kind: ModelKind = "classifier",
    options: OpenOptions = OpenOptions(),
    sandbox: SandboxLimits = SandboxLimits(),
) -> FirstContact:
    """Load `path` as a classifier, generator or encoder in a limited child; raise what the load would raise."""
    if kind not in KINDS:
        raise ArgumentError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    request = json.dumps(
        {"path": os.fspath(path), "kind": kind, "options": dataclasses.asdict(options)}, default=str
    )
    command = [sys.executable, "-P", "-s", "-m", "auditor.model.sandbox"]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            input=request.encode(),
            capture_output=True,
            env=_bare_environment(),
            timeout=sandbox.timeout,
            preexec_fn=_limits(sandbox.memory_bytes),
            start_new_session=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ModelError(
            f"{path}: loading did not finish within {sandbox.timeout:g} s in the sandbox (ONNX Runtime hung or ran "
            "too long); raise --load-timeout if the model is just large"
        ) from None
    reply = _reply(done.stdout)
    if reply is None:
        raise ModelError(f"{path}: {_death(done.returncode, done.stderr, sandbox)}")
    if not reply["ok"]:
        raise _error(path, reply, sandbox)
    external = tuple((str(location), str(digest)) for location, digest in reply.get("external", []))
    return FirstContact(
        seconds=time.perf_counter() - started,
        peak_bytes=int(reply["peak_bytes"]),
        sha256=str(reply["sha256"]),
        external=external,
    )


def _bare_environment() -> dict[str, str]:
    """Only what Python and ONNX Runtime need: where our package lives, one BLAS thread, few malloc arenas."""
    root = str(Path(auditor.__file__).resolve().parent.parent)
    return {
        "PATH": os.defpath,
        "PYTHONPATH": root,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",
    }


def _limits(memory_bytes: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = min(memory_bytes, 2**62) if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    return apply


def _reply(stdout: bytes) -> dict[str, Any] | None:
    for line in reversed(stdout.decode("utf-8", "replace").splitlines()):
        try:
            reply = json.loads(line)
        except ValueError:
            continue
        if isinstance(reply, dict) and "ok" in reply:
            return reply
    return None


def _error(path: str | os.PathLike[str], reply: dict[str, Any], sandbox: SandboxLimits) -> Exception:
    """The child's failure as the exception an in-process load would raise, or a ModelError for memory."""
    name, message = str(reply.get("error", "")), str(reply.get("message", ""))
    if name == "MemoryError" or any(marker in message for marker in ALLOCATION_FAILURES):
        return ModelError(f"{path}: {_over_memory(sandbox)}")
    kind = getattr(errors, name, None)
    if isinstance(kind, type) and issubclass(kind, AuditorError) and kind is not errors.Interrupted:
        return kind(message)
    return RuntimeError(f"loading {path} in the sandbox hit a bug in the tool: {message}")


def _over_memory(sandbox: SandboxLimits) -> str:
    return (
        f"loading needs more than the sandbox's {sandbox.memory_bytes / GiB:g} GiB of memory (ONNX Runtime could not "
        "allocate); raise --sandbox-memory if the model is legitimately that large"
    )


def _death(code: int, stderr: bytes, sandbox: SandboxLimits) -> str:
    """What happened to a child that gave no reply, in one line."""
    if code < 0:
        name = _signal_name(-code)
        if -code == signal.SIGKILL:
            return f"the sandbox loading the model was killed ({name}), most likely out of memory; {_over_memory(sandbox)}"
        return f"ONNX Runtime crashed while loading the model ({name}); the file is malformed or hostile"
    last = next(
        (ln for ln in reversed(stderr.decode("utf-8", "replace").splitlines()) if ln.strip()), "no output"
    )
    if any(marker in last for marker in ALLOCATION_FAILURES):
        return _over_memory(sandbox)
    last = "".join(ch if ch.isprintable() else "?" for ch in last)[:200]
    return f"the sandbox loading the model stopped with exit code {code} ({last}); the file is malformed or hostile"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# ---------------------------------------------------------------- the child


def _options(data: dict[str, Any]) -> OpenOptions:
    """Rebuild OpenOptions from its JSON form; the child always runs on the CPU and quietly."""
    given: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in data.items()
        if key != "limits"
    }
    given.update(device="cpu", verbose=False)
    if "cache_dir" in given:  # the child cannot write (RLIMIT_FSIZE 0): no calibration file
        given["cache_dir"] = None
    return OpenOptions(**given, limits=Limits(**data["limits"]))


def main() -> None:
    """Read one request on stdin, load the model, write one JSON line, exit without teardown."""
    reply: dict[str, Any]
    try:
        request = json.loads(sys.stdin.read())
        loaded = open_model(request["path"], request["kind"], _options(request["options"])).model
    except MemoryError:
        reply = {"ok": False, "error": "MemoryError"}
    except AuditorError as exc:
        reply = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    except Exception as exc:  # a bug of ours, reported to the parent instead of a traceback
        where = exc.__traceback__
        while where is not None and where.tb_next is not None:
            where = where.tb_next
        place = f" at {Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}" if where else ""
        reply = {"ok": False, "error": "internal", "message": f"{type(exc).__name__}: {exc}{place}"[:500]}
    else:
        sha256, external = fingerprint(loaded)
        reply = {"ok": True, "sha256": sha256, "external": external}
    reply["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
