"""Every built-in method keeps the method contract: declared options, withheld labels, a reported
validation score."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from support.methods import BUILT_IN, labelled_task

from emokit.api import Method, MethodOption, OptionError
from emokit.registry import Registry
from emokit.testing import as_runner_gives


def _declared(method: Method) -> tuple[MethodOption, ...]:
    assert method.options is not None, f"{method.name} declares no options"
    return tuple(method.options)


@pytest.mark.parametrize("name", BUILT_IN)
def test_options_are_declared_with_help_and_defaults_that_parse(registry: Registry, name: str) -> None:
    options = _declared(registry.method(name))
    assert all(isinstance(o, MethodOption) for o in options)
    names = [o.name for o in options]
    assert len(names) == len(set(names)), names
    for option in options:
        assert option.help.strip(), f"{name}.{option.name} has no help"
        assert "." not in option.name
        assert option.parse(option.default) == option.default, f"{name}.{option.name}"
        if option.choices and option.default is not None:
            assert option.default in option.choices
        json.dumps(option.to_dict())  # `emokit list methods --json` can show it


@pytest.mark.parametrize("name", BUILT_IN)
def test_runs_with_withheld_labels_and_reports_its_validation_score(registry: Registry, name: str) -> None:
    method = registry.method(name)
    task = as_runner_gives(labelled_task(name), method)
    assert not task.target.test.labelled
    predictions = method.run(task)
    assert predictions.shape == (len(task.target.test),)
    assert np.issubdtype(predictions.dtype, np.integer)
    assert set(np.unique(predictions)) <= set(range(task.num_classes))
    assert task.validation is not None, f"{name} reported no validation score"
    assert isinstance(task.validation["uar"], float) and 0.0 <= task.validation["uar"] <= 1.0
    assert isinstance(task.validation["on"], str) and task.validation["on"].endswith("validation")


@pytest.mark.parametrize("name", ["source-only", "svm"])
def test_source_only_methods_run_with_every_target_label_withheld(registry: Registry, name: str) -> None:
    method = registry.method(name)
    assert not method.uses_target_labels
    task = as_runner_gives(labelled_task(name), method)
    t = task.target
    assert not (t.train.labelled or t.val.labelled or t.test.labelled)
    assert method.run(task).shape == (len(t.test),)
    assert task.validation is not None and task.validation["on"] == "source validation"


@pytest.mark.parametrize("name", BUILT_IN)
def test_an_unknown_scoped_key_is_refused_by_name(registry: Registry, name: str) -> None:
    method = registry.method(name)
    with pytest.raises(OptionError, match=re.escape(f"--option {name}.bogus: method {name!r} has no option")):
        method.run(as_runner_gives(labelled_task(name, {f"{name}.bogus": "1"}), method))


def _typed_option(method: Method) -> str:
    """``epochs`` where the method declares it, else its first option that is not text."""
    options = _declared(method)
    if any(o.name == "epochs" for o in options):
        return "epochs"
    return next(o.name for o in options if o.type is not str)


@pytest.mark.parametrize("name", BUILT_IN)
def test_an_ill_typed_value_is_refused_naming_the_key(registry: Registry, name: str) -> None:
    method = registry.method(name)
    key = _typed_option(method)
    for given in (key, f"{name}.{key}"):
        task = labelled_task(name, {given: "many"})
        if given == key:
            task.options.pop(f"{name}.{key}", None)  # a scoped key would win over the bare one
        with pytest.raises(OptionError, match=re.escape(f"--option {given}=many: expected")):
            method.run(as_runner_gives(task, method))


def test_a_bare_key_reaches_every_method_that_declares_it(registry: Registry) -> None:
    task = labelled_task("source-only")
    task.options = {"epochs": "7", "cascade.epochs": "4,5"}
    takers = [n for n in BUILT_IN if any(o.name == "epochs" for o in _declared(registry.method(n)))]
    assert takers == ["source-only", "target-only", "finetune", "cascade", "pooled", "fdan"]
    values = {n: registry.method(n).option_values(task)["epochs"] for n in takers}
    assert values == {n: 7 for n in takers} | {"cascade": (4.0, 5.0)}  # the scoped key wins
