"""Optuna's own evaluator test cases (`optuna.testing.pytest_importance`), run against ours.

Optuna ships them for its evaluators; a third-party evaluator that passes them behaves like
Optuna's wherever a user can tell. Two cases of `NonConditionalImportanceEvaluatorTestCase` test
the two documented places where N-RReliefF departs on purpose (README, "From and to Optuna";
`NRReliefFImportanceEvaluator`'s docstring): they are marked xfail, strictly, so that the day we
behave like Optuna there the mark fails and is removed. The others run as Optuna wrote them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from optuna.importance import BaseImportanceEvaluator
from optuna.testing.pytest_importance import (
    BasicImportanceEvaluatorTestCase,
    ConditionalImportanceEvaluatorTestCase,
    MultiObjectiveImportanceEvaluatorTestCase,
    NonConditionalImportanceEvaluatorTestCase,
)

from offline.optuna_evaluator import NRReliefFImportanceEvaluator

# Conditional parameters: Optuna's evaluators rank only the parameters every trial has; ours ranks
# every parameter a COMPLETE trial has (a trial without it is "not applicable" there), so a
# conditional x7 is in the answer and "exactly x1..x6" cannot hold.
CONDITIONAL_INCLUDED = pytest.mark.xfail(
    raises=AssertionError,  # "exactly these parameters" fails, nothing else
    strict=True,
    reason="documented: conditional parameters are ranked (not applicable where absent), not dropped",
)
# Dynamic ranges: Optuna's evaluators refuse a parameter whose distribution changes between trials;
# ours ranks it on the union of its ranges, as sweeprank reads any study with a dynamic space.
DYNAMIC_RANGE_ACCEPTED = pytest.mark.xfail(
    raises=pytest.fail.Exception,  # pytest.raises(ValueError): "DID NOT RAISE", nothing else
    strict=True,
    reason="documented: a parameter with dynamic ranges is ranked on their union, not refused",
)


def _evaluator() -> Callable[..., BaseImportanceEvaluator]:
    # Few bootstrap replicates: these cases check the contract (keys, order, sums), not the CIs.
    return lambda: NRReliefFImportanceEvaluator(bootstrap=10)


class TestBasic(BasicImportanceEvaluatorTestCase):
    @pytest.fixture
    def evaluator(self) -> Callable[..., BaseImportanceEvaluator]:
        return _evaluator()


class TestConditional(ConditionalImportanceEvaluatorTestCase):
    @pytest.fixture
    def evaluator(self) -> Callable[..., BaseImportanceEvaluator]:
        return _evaluator()


class TestMultiObjective(MultiObjectiveImportanceEvaluatorTestCase):
    @pytest.fixture
    def evaluator(self) -> Callable[..., BaseImportanceEvaluator]:
        return _evaluator()


class TestNonConditional(NonConditionalImportanceEvaluatorTestCase):
    @pytest.fixture
    def evaluator(self) -> Callable[..., BaseImportanceEvaluator]:
        return _evaluator()

    @CONDITIONAL_INCLUDED
    @pytest.mark.parametrize("normalize", [True, False])
    def test_get_param_importances_non_conditional(
        self, evaluator: Callable[..., BaseImportanceEvaluator], normalize: bool
    ) -> None:
        super().test_get_param_importances_non_conditional(evaluator, normalize)

    @DYNAMIC_RANGE_ACCEPTED
    def test_get_param_importances_invalid_dynamic_search_space_params(
        self, evaluator: Callable[..., BaseImportanceEvaluator]
    ) -> None:
        super().test_get_param_importances_invalid_dynamic_search_space_params(evaluator)

    @CONDITIONAL_INCLUDED
    @pytest.mark.parametrize("normalize", [True, False])
    def test_get_param_importances_with_target(
        self, evaluator: Callable[..., BaseImportanceEvaluator], normalize: bool
    ) -> None:
        super().test_get_param_importances_with_target(evaluator, normalize)
