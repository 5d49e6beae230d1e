"""The long fuzz run (pytest -m slow tests/slow -s): AUDITOR_FUZZ_EXAMPLES mutated models (default 10,000)
through `auditor inspect` in-process, a fifth as many opened as generator and encoder, and a few hundred
through the CLI subprocess and its sandbox; every outcome must be exit 0, 1 or 2 (an AuditorError for the
library) with no traceback. Prints the count of models and of each outcome."""

from __future__ import annotations

import collections
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import (
    BYTE_MUTATIONS,
    PROTO_MUTATIONS,
    SEEDS,
    assert_clean_outcome,
    listing,
    run_inspect_in_process,
    write_mutant,
)

from auditor.errors import AuditorError
from auditor.model.generator import Encoder, Generator
from auditor.model.session import SessionSettings

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("AUDITOR_FUZZ_EXAMPLES", "10000"))
SUBPROCESS_EXAMPLES = int(os.environ.get("AUDITOR_FUZZ_SUBPROCESS_EXAMPLES", "200"))
MEMORY_CAP = 8 * 2**30  # an in-process mutant must fail to allocate, not take the machine down

mutants = st.tuples(
    st.sampled_from(sorted(SEEDS)),
    st.lists(st.sampled_from(sorted(PROTO_MUTATIONS)), min_size=0, max_size=4),
    st.none() | st.sampled_from(sorted(BYTE_MUTATIONS)),
    st.integers(0, 2**32 - 1),
)
codes: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def report():
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, hard))
    started = time.perf_counter()
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    total = sum(v for k, v in codes.items() if k.startswith("in-process"))
    print(
        f"\nfuzz: {total} mutated models through inspect in-process; {dict(sorted(codes.items()))}; "
        f"{time.perf_counter() - started:.0f} s"
    )


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mutants)
def test_inspect_in_process(mutant):
    with tempfile.TemporaryDirectory() as folder:
        path = write_mutant(Path(folder), *mutant)
        before = listing(Path(folder))
        code, out, err = run_inspect_in_process(path, "--trust-model")
        codes[f"in-process exit {code}"] += 1
        assert_clean_outcome(code, out, err)
        assert listing(Path(folder)) == before


@settings(max_examples=EXAMPLES // 5, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mutants)
def test_generator_and_encoder_in_process(mutant):
    """The same mutants opened as a generator and as an encoder: an AuditorError or a working function."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_mutant(Path(folder), *mutant)
        for kind in (Generator, Encoder):
            try:
                function = kind.open(path, SessionSettings(device="cpu", call_timeout=20))
                if isinstance(function, Generator):
                    function.generate(function.sample_prior(3, np.random.default_rng(0)))
                codes[f"{kind.__name__} opened"] += 1
            except AuditorError:
                codes[f"{kind.__name__} refused"] += 1


@settings(
    max_examples=SUBPROCESS_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
@given(mutants)
def test_inspect_subprocess_with_sandbox(mutant):
    with tempfile.TemporaryDirectory() as folder:
        path = write_mutant(Path(folder), *mutant)
        before = listing(Path(folder))
        done = subprocess.run(
            [sys.executable, "-m", "auditor", "inspect", path.name, "--json", "--device", "cpu"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=folder,
        )
        codes[f"subprocess exit {done.returncode}"] += 1
        assert_clean_outcome(done.returncode, done.stdout, done.stderr)
        assert listing(Path(folder)) == before
