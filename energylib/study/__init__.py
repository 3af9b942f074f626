"""The 12-month scenario study: what a year cost, and what solar, a battery, smart EV
charging, V2H and V2G would have saved, and whether each pays off.

:func:`load_params` reads a study's YAML file into typed :class:`StudyParams`;
:func:`run_study` reads the inputs (the user's own imported data, or the generated default
year), dispatches every scenario, bills it and values it, and returns a
:class:`StudyResult` of tidy frames whose :attr:`~StudyResult.recommendation` says what to do.

Modules: :mod:`~energylib.study.params` (the params file), :mod:`~energylib.study.inputs`
(store -> one grid), :mod:`~energylib.study.plan` (what is dispatched),
:mod:`~energylib.study.pipeline` (the pipeline), :mod:`~energylib.study.frames` (results).
"""

from energylib.study.frames import StudyResult, headline_table, recommendation, save_headline
from energylib.study.inputs import StudyInputs, load_inputs
from energylib.study.params import StudyError, StudyParams, load_params, params_from_dict
from energylib.study.pipeline import run_study
from energylib.study.plan import BASELINE

__all__ = [
    "BASELINE",
    "StudyError",
    "StudyInputs",
    "StudyParams",
    "StudyResult",
    "headline_table",
    "load_inputs",
    "load_params",
    "params_from_dict",
    "recommendation",
    "run_study",
    "save_headline",
]
