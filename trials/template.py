"""What the pool's trainers can build: the cnn-paper template's hyperparameters and the values each may take.

The template itself lives with the trainers (workers/trainer/model.py, which imports torch); the web
process checks a submitted space against these rules instead, so that a sweep whose trials could never
be built is refused at submission rather than failing trial after trial at run time. Names beyond the
template's are allowed (the template ignores them); every template name must be in the space, varied
or held, with values inside the bounds below.
"""

from __future__ import annotations

from trials.space import ChoiceParam, NumericParam, SearchSpace, Value

#: Names the template's activation and optimizer tables hold (workers/trainer/model.py).
ACTIVATIONS = ("relu", "elu", "leaky_relu", "tanh")
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")
#: Whole numbers the template needs, each at least 1 and at most this.
COUNTS = {"num_conv_layers": 64, "num_filters": 4096, "kernel_size": 31, "fc_units": 65536, "batch_size": 65536,
          "epochs": 10_000}  # fmt: skip


def _values(param: NumericParam | ChoiceParam) -> list[Value]:
    return [param.low, param.high] if isinstance(param, NumericParam) else list(param.choices)


def _problem(name: str, values: list[Value]) -> str | None:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if name in ("activation", "optimizer"):
        allowed = ACTIVATIONS if name == "activation" else OPTIMIZERS
        bad = [v for v in values if v not in allowed]
        return f"the CNN template knows {list(allowed)}, not {bad}" if bad else None
    if len(numbers) != len(values):
        return "must be numbers for the CNN template"
    if name in COUNTS:
        bad = [v for v in numbers if v != int(v) or not 1 <= v <= COUNTS[name]]
        return f"must be whole numbers from 1 to {COUNTS[name]:,} for the CNN template, got {bad}" if bad else None
    if name == "dropout_rate":
        return None if all(0 <= v < 1 for v in numbers) else "must lie in [0, 1) for the CNN template"
    if name == "learning_rate":
        return None if all(0 < v <= 10 for v in numbers) else "must lie in (0, 10] for the CNN template"
    return None


TEMPLATE_NAMES = (*COUNTS, "activation", "optimizer", "dropout_rate", "learning_rate")


def template_problems(space: SearchSpace, held: dict[str, Value]) -> list[tuple[str, str]]:
    """(field, message) for each template hyperparameter the space lacks or gives values the template cannot build."""
    params = {p.name: p for p in space.params}
    problems = []
    for name in TEMPLATE_NAMES:
        if name in held:
            values = [held[name]]
        elif name in params:
            values = _values(params[name])
        else:
            problems.append((f"space.{name}", "is required by the CNN template the trainers build"))
            continue
        if (message := _problem(name, values)) is not None:
            problems.append((f"space.{name}", message))
    return problems
