"""Run in a subprocess by ``test_metadata_properties``: random and adversarial checkpoint metadata (and
optimizer arrays) through ``cnnlab train --resume`` and ``cnnlab eval``, under a cap on the address space.

    python -m tests.training.fuzz_metadata LIMIT_BYTES EXAMPLES DATA_DIR WORK_DIR BASE.npz [BASE.npz ...]

Every case must end with exit code 0, 1 or 2 and at most one line on stderr, each starting "cnnlab: ";
never a traceback. The last line printed is a JSON report (the limit in force, the counts).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import resource
import sys
import warnings
from pathlib import Path


def main(argv: list[str]) -> int:  # noqa: C901
    limit, examples, data_dir, work = int(argv[0]), int(argv[1]), argv[2], Path(argv[3])
    bases = [Path(p) for p in argv[4:]]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    warnings.simplefilter("error")  # as in the test suite: a warning is a failure

    import numpy as np
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from cnnlab import cli
    from tests.training.hostile import DELETE, paths, read_raw, rewrite, set_path

    try:  # the cap is real: more than it allows cannot be had
        np.ones(limit, dtype=np.uint8)
        capped = False
    except MemoryError:
        capped = True

    metas = [read_raw(base)[0]["metadata"] for base in bases]
    all_paths = sorted({p for meta in metas for p in paths(meta)}, key=repr)

    def get(meta, path):
        for key in path:
            meta = meta[key]
        return meta

    found = [get(metas[0], p) for p in all_paths if _has(metas[0], p)]
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, -1, 1, 2, 2**31, 2**53 + 1, 2**64, 2**128, 10**400]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 0.5, 1.0]),
        st.text(max_size=12),
        st.sampled_from(["", "0.1", "NaN", "PCG64", "lr", "batch_size", "sgd", "adam", "mnist", "x" * 5000]),
    )
    values = st.one_of(
        leaves,
        st.recursive(
            leaves,
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=3),
            max_leaves=10,
        ),
        st.sampled_from(found),  # a valid value of some field, in the wrong place
        st.just(DELETE),
    )
    mutation = st.tuples(st.sampled_from(all_paths), values)
    array_edits = st.sampled_from([None, "drop", "nan", "steps", "shape", "extra", "dtype"])
    counts = {"examples": 0, "refused": 0, "resumed": 0, "evaluated": 0}

    def edit_arrays(kind):
        def apply(arrays):
            keys = sorted(k for k in arrays if k.startswith("opt/") and k != "opt/steps")
            if kind == "drop" and keys:
                arrays.pop(keys[0])
            elif kind == "nan" and keys:
                arrays[keys[0]] = np.full_like(arrays[keys[0]], np.nan)
            elif kind == "steps":
                arrays["opt/steps"] = np.array([3, 4])
            elif kind == "shape" and keys:
                arrays[keys[0]] = np.zeros((7,), np.float32)
            elif kind == "extra":
                arrays["opt/ghost.W/velocity"] = np.zeros(3, np.float32)
            elif kind == "dtype" and keys:
                arrays[keys[0]] = arrays[keys[0]].astype(np.int64)
            return arrays

        return apply

    def mutate(mutations):
        def apply(meta):
            for path, value in mutations:
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    meta = set_path(meta, path, {} if (value is DELETE and not path) else value)
            return meta

        return apply

    def run(*args: str) -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
        return code, err.getvalue()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=not os.environ.get("CNNLAB_FUZZ_RANDOM"),  # set it to explore beyond the fixed cases
        suppress_health_check=list(HealthCheck),
    )
    @given(base=st.sampled_from(range(len(bases))), mutations=st.lists(mutation, min_size=1, max_size=3),
           arrays=array_edits)  # fmt: skip
    def check(base, mutations, arrays):
        path = rewrite(bases[base], work / "hostile.npz", metadata=mutate(mutations),
                       arrays=edit_arrays(arrays) if arrays else None)  # fmt: skip
        counts["examples"] += 1
        train = ("train", "--resume", str(path), "--data-dir", data_dir, "--dataset", "mnist",
                 "--limit", "64", "--epochs", "1", "--no-record")  # fmt: skip
        for argv, ok in (
            (train, "resumed"),
            (("eval", str(path), "--data-dir", data_dir, "--limit", "50"), "evaluated"),
        ):
            code, err = run(*argv)
            lines = err.strip().splitlines()
            assert "Traceback" not in err, err
            assert code in (0, 1, 2), (argv[0], code, err)
            assert len(lines) <= 2 and all(line.startswith("cnnlab: ") for line in lines), err
            if code == 2:
                assert len(lines) == 1, err
                counts["refused"] += 1
            else:
                counts[ok] += 1

    check()
    print(json.dumps({"rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0], "capped": capped, **counts}))
    return 0


def _has(meta, path) -> bool:
    try:
        for key in path:
            meta = meta[key]
    except (KeyError, IndexError, TypeError):
        return False
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
