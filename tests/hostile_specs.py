"""Random and adversarial specs through the paths the CLI and the editor take, under a memory cap.

Run by tests/test_hostile_specs.py as ``python -m tests.hostile_specs LIMIT_BYTES MODE``; not a test
module itself. The address-space limit is set first, so that a regression (a spec that allocates
before it is checked) ends in a MemoryError here instead of taking the machine down.

- MODE ``library``: each spec as JSON text goes through ``read_spec_file`` (the editor's Open and
  ``train --spec``), ``NetSpec.from_json``, the editor's ``analyse`` and ``validate``; what passes is
  built and run forward and backward, and every layer must produce the shape ``validate`` predicted.
  Everything else must be a ``SpecError`` naming the layer (or the whole network) and a reason.
- MODE ``cli``: a few such specs through ``cnnlab train --spec`` in a child process (inheriting the
  limit): exit 0, or exit 2 with one line naming the file and no traceback.

The last line printed is a JSON report: the limit in force, the number of cases and the peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

MODE_EXAMPLES = {"library": 160, "cli": 8}


def _spec(shape, layers) -> str:
    return json.dumps({"input_shape": shape, "layers": layers})


_HEAD = [{"type": "flatten"}, {"type": "dense", "units": 10}]
# The specs issue 11 found allocating gigabytes (one aborting the app after 161 s): always tried.
ISSUE_CASES = [
    _spec([1, 28, 28], [{"type": "conv2d", "filters": 10**9}, *_HEAD]),
    _spec([1, 28, 28], [{"type": "conv2d", "filters": 8, "padding": 1000}, *_HEAD]),
    _spec([1, 28, 28], [{"type": "relu"}] * 100_000),
    _spec([1, 28, 28], [{"type": "conv2d", "filters": 1, "padding": "same"}] * 1000 + _HEAD),
    _spec(
        [3, 28, 28], [{"type": "flatten"}, {"type": "dense", "units": 10**6}, {"type": "dense", "units": 10}]
    ),
    "[" * 100_000 + "]" * 100_000,
]
ONE_THAT_TRAINS = _spec([1, 28, 28], [{"type": "conv2d", "filters": 2}, {"type": "relu"}, *_HEAD])


def main(limit: int, mode: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    import numpy as np
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    from cnnlab.engine import (
        LAYER_TYPES,
        Budget,
        NetSpec,
        SpecError,
        build,
        read_spec_file,
        softmax_cross_entropy,
    )

    if mode == "library":
        from cnnlab.app.views.spec_edit import analyse

    # Small enough that everything accepted builds in milliseconds; the refusals above the default
    # budget are the same code (tests/engine/test_spec_limits.py checks those numbers).
    budget = Budget(max_params=2_000_000, max_activation_bytes=128 << 20)
    small = st.integers(1, 6)
    huge = st.one_of(
        st.integers(2**31, 2**80), st.integers(-(2**80), -(2**31)), st.integers(10**4, 2**31 - 1)
    )
    whole = st.one_of(small, small, small, huge, st.integers(-3, 0))
    garbage = st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=5),
        st.lists(st.integers(-2, 4), max_size=3),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    )
    value = st.one_of(
        whole,
        whole,
        garbage,
        st.sampled_from(["valid", "same"]),
        st.floats(0, 0.9),
        st.lists(whole, min_size=2, max_size=2),
    )
    kinds = sorted(LAYER_TYPES)

    @st.composite
    def layer(draw):
        kind = draw(st.one_of(st.sampled_from(kinds), st.sampled_from(["conv", "softmax", ""])))
        out = {"type": kind}
        for setting in getattr(LAYER_TYPES.get(kind), "settings", ()):
            roll = draw(st.integers(0, 3))
            if roll == 0 or (setting.required and roll == 1):
                out[setting.name] = setting.starter if setting.required else setting.default
            elif roll == 2:
                out[setting.name] = draw(value)
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.sampled_from(["size", "Filters", "name"]))] = draw(value)
        return out

    head = [{"type": "flatten"}, {"type": "dense", "units": 10}]

    @st.composite
    def spec_text(draw):
        shape = [draw(st.integers(1, 3)), draw(st.integers(1, 14)), draw(st.integers(1, 14))]
        if mode == "cli":  # the synthetic digits' shape (that a spec's input must match the data's
            shape = [1, 28, 28]  # is the training floor's check, not this test's subject)
        roll = draw(st.integers(0, 11))
        if roll == 0:  # nesting far deeper than any spec
            depth = draw(st.integers(9, 200_000))
            return "[" * depth + "]" * draw(st.sampled_from([depth, 0]))
        if roll == 1:  # more layers than allowed
            return json.dumps(
                {"input_shape": shape, "layers": [{"type": "relu"}] * draw(st.integers(199, 3000))}
            )
        if roll == 2:  # a long stack of padded convolutions: the activation budget
            conv = {"type": "conv2d", "filters": draw(st.integers(4, 64)), "padding": "same"}
            stack = [conv] * draw(st.integers(20, 200)) + head
            return json.dumps(
                {"input_shape": [1, draw(st.integers(8, 64)), draw(st.integers(8, 64))], "layers": stack}
            )
        if roll == 3:  # one enormous layer: the parameter budget
            units = draw(st.integers(10**5, 2**31 - 1))
            return json.dumps(
                {"input_shape": shape, "layers": [{"type": "flatten"}, {"type": "dense", "units": units}]}
            )
        if roll == 4:  # an adversarial input shape
            odd = draw(st.lists(st.one_of(whole, garbage, st.integers(4000, 10**6)), max_size=5))
            return json.dumps({"input_shape": odd, "layers": head})
        body = draw(st.lists(layer(), max_size=6))
        layers = [*body, *head] if draw(st.booleans()) else body
        return json.dumps({"input_shape": shape, "layers": layers, "name": draw(st.text(max_size=8))})

    work = Path(tempfile.mkdtemp(prefix="cnnlab-hostile-"))
    counts = {"built": 0, "refused": 0}

    def refused_well(exc: SpecError, layers: int | None) -> None:
        assert exc.reason.strip() and "\n" not in str(exc) and len(str(exc)) < 500, str(exc)
        if exc.index is not None:
            assert str(exc).startswith(f"Layer {exc.index + 1} ("), str(exc)
            assert layers is None or 0 <= exc.index < layers
        counts["refused"] += 1

    def through_library(text: str, seed: int) -> None:
        path = work / "spec.json"
        path.write_text(text)
        try:
            opened = read_spec_file(path)  # what the editor's Open and train --spec read
        except SpecError as exc:
            assert str(exc).startswith("spec.json: "), str(exc)
            refused_well(SpecError(str(exc)), None)
            try:
                NetSpec.from_json(text)
            except SpecError:
                return
            raise AssertionError("read_spec_file refused what from_json accepts") from None
        spec = NetSpec.from_json(text)
        assert spec == opened
        analysis = analyse(spec, 10)  # what the editor shows, row by row
        assert len(analysis.infos) == len(spec.layers)
        try:
            spec.validate()  # the default budget, as the editor and the CLI use it
            infos = spec.validate(budget=budget)
        except SpecError as exc:
            refused_well(exc, len(spec.layers))
            return
        rng = np.random.default_rng(seed)
        net = build(spec, rng, budget=budget)
        x = rng.random((2, *spec.input_shape), dtype=np.float32)
        outputs = net.activations(x)[1:]
        for (name, out), info in zip(outputs, infos, strict=True):
            assert name == info.name and out.shape == (2, *info.output_shape), (
                name,
                out.shape,
                info.output_shape,
            )
        logits = net.forward(x, training=True)
        _, dlogits = softmax_cross_entropy(logits, rng.integers(0, logits.shape[1], 2))
        assert net.backward(dlogits, input_grad=True).shape == x.shape
        counts["built"] += 1

    def through_cli(text: str, seed: int) -> None:
        path = work / f"net{seed}.json"
        path.write_text(text)
        command = [sys.executable, "-m", "cnnlab", "train", "--spec", str(path), "--dataset", "synthetic"]
        command += ["--limit", "32", "--epochs", "1", "--batch-size", "16", "--no-record"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ)
        if done.returncode == 0:
            counts["built"] += 1
            return
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, done.stderr[-2000:]
        # One line naming the file, or the layer (a class count that does not match the data).
        assert len(lines) == 1 and lines[0].startswith("cnnlab: error: "), done.stderr[-2000:]
        assert lines[0].startswith((f"cnnlab: error: {path.name}: ", "cnnlab: error: Layer ")), lines[0]
        assert "Traceback" not in done.stderr
        counts["refused"] += 1

    run = through_library if mode == "library" else through_cli

    @settings(
        max_examples=MODE_EXAMPLES[mode],
        # The same cases on every run: the counts the test asserts (how many built, how many refused)
        # must not depend on the luck of the draw.
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(text=spec_text(), seed=st.integers(0, 2**16))
    def property_holds(text, seed):
        run(text, seed)

    from cnnlab.engine import PRESET_NAMES, load_preset

    presets = [load_preset(name).to_json() for name in PRESET_NAMES]  # the networks a learner starts from
    for text in [*ISSUE_CASES, *presets] if mode == "library" else [ONE_THAT_TRAINS]:
        property_holds = example(text=text, seed=0)(property_holds)
    property_holds()
    report = {
        "limit": resource.getrlimit(resource.RLIMIT_AS)[0],
        "cases": counts["built"] + counts["refused"],
        **counts,
        "maxrss_kib": peak_rss_kib(),
        "children_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }
    print(json.dumps(report))


def peak_rss_kib() -> int:
    """This process's own peak resident memory. ``ru_maxrss`` is not it: Linux carries the parent's peak
    over a fork into the child, so it reported the size of the pytest process that started this one."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
