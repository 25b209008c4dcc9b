"""The guide through the lesson: every step's button sets the lab up for it, and says what it did."""

from __future__ import annotations

import pytest

from cnnlab.app.lesson.steps import STEPS

WAIT = 60_000


def test_the_first_start_opens_the_welcome_and_a_later_one_remembers_the_step(
    qtbot, lab_settings, tiny_dataset, restore_app_look
):
    from tests.app.conftest import make_lab

    first = make_lab(qtbot, lab_settings, tiny_dataset, quick=True)
    assert first.lesson.isVisible() and first.lesson.current().key == "welcome"
    first.lesson.show_step(4)
    first.close()
    second = make_lab(qtbot, lab_settings, tiny_dataset, quick=True)
    assert second.lesson.index == 4
    second.set_lesson_visible(False)
    assert not second.lesson.isVisible() and not second.lesson_button.isChecked()
    second.close()


@pytest.mark.parametrize("key", [step.key for step in STEPS])
def test_each_step_sets_the_lab_up(qtbot, lab, key):
    step = next(s for s in STEPS if s.key == key)
    assert len(step.text.split(". ")) >= 2, "two or three sentences on what to look at and why"
    lab.lesson.show_step([s.key for s in STEPS].index(key))
    result = lab.lesson_actions.run_step(step)
    assert lab.current_workspace == step.workspace
    if step.setup:
        assert result and lab.lesson.result.text() == result
    if lab.controller.sweep is not None or lab.controller.is_running():
        lab.stop_training()  # a comparison or a run started: end it, the step's own work is done
        qtbot.waitUntil(lambda: lab.controller.active_threads() == 0, timeout=WAIT)
    if key.startswith("edit") or step.setup.startswith("edit"):
        assert lab.view("editor").spec() != lab.state.config.spec  # the change waits for Build
