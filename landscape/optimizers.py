"""Optimisers and learning-rate schedules by name, built from optax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optax

from .config import OptimizerConfig

_OPTAX_NAMES = {
    "sgd": "sgd",
    "momentum": "sgd",
    "nesterov": "sgd",
    "adam": "adam",
    "adamw": "adamw",
    "rmsprop": "rmsprop",
    "adagrad": "adagrad",
    "adamax": "adamax",
    "nadam": "nadam",
    "lion": "lion",
}
# Names that are sgd with fixed extras; the user may still override momentum.
_DEFAULT_OPTIONS = {"momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9, "nesterov": True}}


def optax_factory(name: str) -> Callable[..., optax.GradientTransformation]:
    """The optax constructor behind an optimiser name (``"momentum"`` -> ``optax.sgd``)."""
    return getattr(optax, _OPTAX_NAMES[name])


def schedule_factory(name: str) -> Callable[..., Any]:
    return {
        "constant": optax.constant_schedule,
        "cosine_decay": optax.cosine_decay_schedule,
        "exponential_decay": optax.exponential_decay,
        "linear": optax.linear_schedule,
        "warmup_cosine_decay": optax.warmup_cosine_decay_schedule,
        "piecewise_constant": optax.piecewise_constant_schedule,
    }[name]


def learning_rate_schedule(config: OptimizerConfig, total_steps: int) -> Any:
    """The learning rate: a float, or an optax schedule starting at ``config.learning_rate``.

    ``decay_steps`` defaults to the study's step budget for the schedules that need it.
    """
    schedule = config.schedule
    if schedule.name == "constant" and not schedule.options:
        return config.learning_rate
    options = dict(schedule.options)
    fn = schedule_factory(schedule.name)
    if schedule.name in ("cosine_decay", "warmup_cosine_decay") and "decay_steps" not in options:
        options["decay_steps"] = total_steps
    if schedule.name == "linear":
        options.setdefault("transition_steps", total_steps)
        options.setdefault("end_value", 0.0)
        return fn(init_value=config.learning_rate, **options)
    if schedule.name == "warmup_cosine_decay":
        options.setdefault("init_value", 0.0)
        options.setdefault("warmup_steps", max(1, total_steps // 20))
        return fn(peak_value=config.learning_rate, **options)
    if schedule.name == "constant":
        return fn(value=config.learning_rate)
    if schedule.name == "exponential_decay":
        options.setdefault("transition_steps", max(1, total_steps // 10))
        options.setdefault("decay_rate", 0.5)
    return fn(init_value=config.learning_rate, **options)


def make_optimizer(config: OptimizerConfig, total_steps: int) -> optax.GradientTransformation:
    """An optax ``GradientTransformation`` from a validated :class:`OptimizerConfig`."""
    options: dict[str, Any] = {**_DEFAULT_OPTIONS.get(config.name, {}), **config.options}
    return optax_factory(config.name)(learning_rate_schedule(config, total_steps), **options)
