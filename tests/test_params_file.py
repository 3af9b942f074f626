"""Reading a study's params file: found, parsed, overridden, or a named error."""

from __future__ import annotations

import pytest

from energylib.params_file import read_params_file
from energylib.study import StudyError
from energylib.trading.study import MarketStudyError, load_params


def test_overrides_replace_keys_and_merge_mappings_one_level(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("title: a\nfinance: {rate: 0.05, years: 15}\n")
    found, raw = read_params_file(path, {"title": "b", "finance": {"rate": 0.07}})
    assert found == path
    assert raw == {"title": "b", "finance": {"rate": 0.07, "years": 15}}


@pytest.mark.parametrize(
    "text, words",
    [
        ("title: a\n  bad: [1\n", ", line "),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_a_bad_file_is_named_with_its_line(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(StudyError) as err:
        read_params_file(path, error=StudyError)
    assert str(path) in str(err.value) and words in str(err.value)


def test_a_missing_file_raises_the_studys_own_error(tmp_path):
    with pytest.raises(MarketStudyError, match="not found"):
        load_params(tmp_path / "missing.yaml")
