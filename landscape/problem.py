"""What a run's networks were trained on (model, loss, data), rebuilt from the run file.

Every analysis works on a :class:`Problem`: the model, the training loss and the data, plus what
they allow (:func:`unit_reason` and friends say, in one line, why an analysis that only holds for
some models does not apply). :func:`problem_of` rebuilds it from a run file, which records where
each part came from (root attribute ``sources``, JSON)::

    model:  "mlp"                 the built-in MLP of [model]
            "factory"             model.factory = "module:function", called as function(study) -> Model
            "object:<qualname>"   a Model passed to run_study(model=...): a command cannot rebuild it
    loss:   "mse" | "factory" (train.loss = "module:function": function(study) -> loss) | "object:<qualname>"
    target: "config" | "object:<qualname>"

A run trained from objects is analysed from Python by passing them again:
``problem_of(run, model=my_model, loss_fn=my_loss)``; the command line says so in one line.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from .config import ConfigError, ModelConfig, Study, import_callable
from .models import Model, activation_properties, make_mlp
from .storage import Run, RunFileError
from .types import Loss, Params

SUCCESS_FRACTION_OF_CONSTANT = 0.1  # default success: final loss below a tenth of the constant predictor's


class ModelUnavailable(RunFileError):
    """The run was trained from Python objects (a model or loss) that a command cannot rebuild."""


@dataclass(frozen=True, eq=False)
class Objective:
    """``(params, x, y) -> scalar``: ``loss_fn`` if given, else the mean squared error of ``model.apply``.

    Equal to another when it holds the very same model and loss objects (compared by identity, as
    JAX compares the static arguments of a compiled function).
    """

    model: Model
    loss_fn: Loss | None = None

    def __call__(self, params: Params, x: Any, y: Any) -> Any:
        if self.loss_fn is not None:
            return self.loss_fn(params, x, y)
        return jnp.mean((self.model.apply(params, x) - y) ** 2)

    def __hash__(self) -> int:
        return hash((id(self.model), id(self.loss_fn)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Objective) and self.model is other.model and self.loss_fn is other.loss_fn


@dataclass(frozen=True)
class Problem:
    """A study's model, training loss and data, for one network at a time.

    Attributes:
      study: the study.
      model: the :class:`~landscape.models.Model` (``model.mlp`` is set for the built-in MLP).
      loss_fn: the user's ``loss(params, x, y) -> scalar``, or None for mean squared error of ``model.apply``.
      x: ``(n_points, in_dim)`` inputs in the study's dtype; ``(0, in_dim)`` when the loss needs no data.
      y: ``(n_points,)`` or ``(n_points, out_dim)`` targets.
      dtype: ``jnp.float32`` or ``jnp.float64`` (float64 means something inside ``runner.x64_scope``).
      sources: where model, loss and target came from (see the module doc).
    """

    study: Study
    model: Model
    loss_fn: Loss | None
    x: np.ndarray
    y: np.ndarray
    dtype: Any
    sources: dict[str, str]

    # ---- the loss
    @property
    def objective(self) -> Objective:
        """The training loss of one network, ``(params, x, y) -> scalar`` (no dropout): the user's loss
        or MSE. Equal (and hashing alike) for every problem with the same model and loss objects, which
        :func:`problem_of` reuses for the same configuration: as a static argument of a ``jax.jit`` it
        compiles once, whichever :class:`Problem` (of whichever run of the same model) it came from."""
        return Objective(self.model, self.loss_fn)

    def loss(self, params: Params) -> Any:
        """The training loss of one network on the run's data (a scalar; jit/vmap/grad freely)."""
        return self.objective(params, jnp.asarray(self.x, self.dtype), jnp.asarray(self.y, self.dtype))

    # ---- what it is
    @property
    def mlp(self) -> ModelConfig | None:
        """The built-in MLP's config, or None for a model of your own."""
        return self.model.mlp

    @property
    def has_data(self) -> bool:
        return self.x.shape[0] > 0

    @property
    def in_dim(self) -> int:
        return int(self.x.shape[1])

    @property
    def activation(self) -> str | None:
        return self.mlp.activation if self.mlp is not None else None

    @property
    def depth(self) -> int | None:
        """Hidden layers of the built-in MLP (None for a model of your own)."""
        return len(self.mlp.hidden) if self.mlp is not None else None

    def describe(self) -> str:
        """One line: the model, the loss and the data."""
        loss = {"mse": "mean squared error"}.get(self.sources["loss"], f"loss {self.sources['loss']}")
        data = f"{self.x.shape[0]} points" if self.has_data else "no dataset"
        return f"{self.model.name}; {loss}; {data}"

    def inputs(self, n: int = 1024) -> np.ndarray:
        """Inputs to look at the learned function on: the data, else ``n`` draws from the task's distribution."""
        if self.has_data:
            return self.x
        from .tasks import sample_inputs

        config = dataclasses.replace(self.study.task, n_points=n)
        return sample_inputs(config, np.random.default_rng(config.data_seed)).astype(np.dtype(self.dtype))

    # ---- success, task-aware
    @property
    def constant_loss(self) -> float | None:
        """The loss of the best constant predictor (mean of y), for MSE on data; None otherwise."""
        if self.loss_fn is not None or not self.has_data:
            return None
        y = np.asarray(self.y, float)
        return float(np.mean((y - y.mean(axis=0)) ** 2))

    @property
    def success_loss(self) -> float | None:
        """A network succeeds below this final loss: ``task.success_loss`` if set, else a tenth of
        :attr:`constant_loss` (R² above 0.9); None when neither is defined (a loss of your own)."""
        if self.study.task.success_loss > 0:
            return float(self.study.task.success_loss)
        constant = self.constant_loss
        return None if constant is None else SUCCESS_FRACTION_OF_CONSTANT * constant

    def success_rule(self) -> str:
        """One line saying what "success" means here."""
        threshold = self.success_loss
        if threshold is None:
            return "success: not defined for this loss (set task.success_loss in the study)"
        if self.study.task.success_loss > 0:
            return f"success: final loss < {threshold:.3g} (task.success_loss)"
        return (
            f"success: final loss < {threshold:.3g}, a tenth of the constant predictor's loss "
            f"{self.constant_loss:.3g} (R² > {1 - SUCCESS_FRACTION_OF_CONSTANT:g}; set task.success_loss to change it)"
        )

    def r_squared(self, final_loss: np.ndarray) -> np.ndarray | None:
        """``1 - loss / constant_loss`` per network (scale free), or None when there is no constant predictor."""
        constant = self.constant_loss
        if constant is None or constant <= 0:
            return None
        return 1.0 - np.asarray(final_loss, float) / constant


# ---------------------------------------------------------------------------------------------
# Capabilities: why an analysis that only holds for some models does not apply (None: it does).


def mlp_reason(problem: Problem) -> str | None:
    """None for the built-in MLP trained on mean squared error over data, else why not."""
    if problem.mlp is None:
        return f"the model is your own ({problem.model.name}), not the built-in MLP"
    if problem.loss_fn is not None:
        return f"the run's loss is its own ({problem.sources['loss']}), not mean squared error on data"
    if not problem.has_data:
        return "the run has no dataset"
    return None


def function_reason(problem: Problem) -> str | None:
    """None when the learned function can be evaluated on inputs (the model has ``apply``), else why not."""
    if problem.model.apply is None:
        return f"the model ({problem.model.name}) has no apply function, so its learned function cannot be evaluated"
    return None


def unit_reason(problem: Problem) -> str | None:
    """None for a one-hidden-layer built-in MLP on MSE with a scalar output (unit diagnostics, the
    pyramid / valley / dead rules, the closed-form Hessian); else why not."""
    reason = mlp_reason(problem)
    if reason is not None:
        return reason
    if len(problem.mlp.hidden) != 1:
        return f"the MLP has {len(problem.mlp.hidden)} hidden layers; this rule is written for one"
    return None


def rescaling_reason(problem: Problem) -> str | None:
    """None when the rescaling-symmetry prediction applies (built-in MLP, positively homogeneous
    activation, any depth), else why not."""
    if problem.mlp is None:
        return f"the model is your own ({problem.model.name}); its symmetries are not known"
    if not activation_properties(problem.activation).positively_homogeneous:
        return f"{problem.activation} is not positively homogeneous, so units have no rescaling symmetry"
    return None


# ---------------------------------------------------------------------------------------------
# Building a problem: from a study (training) or from a run file (every analysis).


def _qualname(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "name", None) or type(obj).__name__
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else str(name)


def sources_of(study: Study, model: Model | None = None, target: Any = None, loss_fn: Any = None) -> dict[str, str]:
    """Where a study's model, loss and target come from, given the objects passed to ``run_study``."""
    return {
        "model": f"object:{model.name}" if model is not None else ("factory" if study.model.factory else "mlp"),
        "loss": f"object:{_qualname(loss_fn)}"
        if loss_fn is not None
        else ("mse" if study.train.loss == "mse" else "factory"),
        "target": f"object:{_qualname(target)}" if target is not None else "config",
    }


def build_model(study: Study, in_dim: int, out_dim: int, dtype: Any) -> Model:
    """The study's model: ``model.factory`` when set, else the built-in MLP."""
    if study.model.factory:
        model = import_callable(study.model.factory, "model.factory")(study)
        if not isinstance(model, Model):
            raise ConfigError(
                f"model.factory: {study.model.factory!r} returned {type(model).__name__}, expected a landscape.Model"
            )
        return model
    return make_mlp(study.model, study.init, in_dim, out_dim, dtype)


_BUILT: dict[tuple, Any] = {}  # (what a model or loss depends on) -> the object built for it; a few entries
_BUILT_SIZE = 32


def _reused(key: tuple, build: Any) -> Any:
    """``build()``, or the object built before for ``key``: the same configuration gives the same model
    and loss objects, so compiled programs keyed by them (:attr:`Problem.objective`) are reused."""
    if key not in _BUILT:
        if len(_BUILT) >= _BUILT_SIZE:
            _BUILT.pop(next(iter(_BUILT)))
        _BUILT[key] = build()
    return _BUILT[key]


def _model_key(study: Study, in_dim: int, out_dim: int, dtype: Any) -> tuple:
    """What :func:`build_model` depends on: the built-in MLP's ``[model]`` and ``[init]`` sections and
    sizes (not the seed or the training settings), or the whole study for a factory (it may read any field)."""
    from .config import study_to_dict

    if study.model.factory:
        part = study.to_json()
    else:
        config = study_to_dict(study)
        part = json.dumps({"model": config["model"], "init": config["init"]}, sort_keys=True)
    return ("model", part, int(in_dim), int(out_dim), np.dtype(dtype).name)


def build_loss(study: Study) -> Loss | None:
    """The study's loss: None for mean squared error, else ``train.loss``'s factory called with the study."""
    if study.train.loss == "mse":
        return None
    loss = import_callable(study.train.loss, "train.loss")(study)
    if not callable(loss):
        raise ConfigError(
            f"train.loss: {study.train.loss!r} returned {type(loss).__name__}, expected loss(params, x, y)"
        )
    return loss


def problem_of_study(
    study: Study, model: Model | None = None, target: Any = None, loss_fn: Loss | None = None
) -> Problem:
    """The problem a study trains: its dataset (none when ``task.n_points`` is 0), model and loss.

    Objects given here replace the configured ones (and :attr:`Problem.sources` says so).
    """
    from .runner import study_dtype, x64_scope
    from .tasks import make_dataset

    dtype = study_dtype(study)
    with x64_scope(study):
        dataset = make_dataset(study.task, target)
    x, y = dataset.x.astype(np.dtype(dtype)), dataset.y.astype(np.dtype(dtype))
    out_dim = 1 if y.ndim == 1 else y.shape[1]
    sources = sources_of(study, model, target, loss_fn)
    model = model if model is not None else build_model(study, x.shape[1], out_dim, dtype)
    loss_fn = loss_fn if loss_fn is not None else build_loss(study)
    return Problem(study, model, loss_fn, x, y, dtype, sources)


def stored_sources(run: Run) -> dict[str, str]:
    """The ``sources`` a run file records (files from before it was recorded: the built-in MLP and MSE)."""
    raw = run.attrs.get("sources")
    return json.loads(raw) if raw else {"model": "mlp", "loss": "mse", "target": "config"}


def problem_of(run: Run, model: Model | None = None, loss_fn: Loss | None = None) -> Problem:
    """The problem a run file's networks were trained on, with its stored data.

    Args:
      run: an open :class:`~landscape.storage.Run`.
      model, loss_fn: the objects the run was trained from, when it was trained from objects.

    Raises:
      ModelUnavailable: the run was trained from objects and they are not given (one line).
      ConfigError: a factory the run names cannot be imported.
    """
    from .runner import study_dtype

    study = run.study
    sources = dict(stored_sources(run))
    for part, given in (("model", model), ("loss", loss_fn)):
        if sources[part].startswith("object:") and given is None:
            raise ModelUnavailable(
                f"{run.path}: trained from a Python {part} ({sources[part][7:]}) that a command cannot rebuild; "
                f"analyse it from Python: landscape.problem_of(run, model=..., loss_fn=...), or name a factory "
                f'in the study ({"model.factory" if part == "model" else "train.loss"} = "module:function")'
            )
    dtype = study_dtype(study)
    x, y = np.asarray(run.x, np.dtype(dtype)), np.asarray(run.y, np.dtype(dtype))
    out_dim = 1 if y.ndim == 1 else y.shape[1]
    if model is None:  # the same configuration, the same objects (see Problem.objective)
        key = _model_key(study, x.shape[1], out_dim, dtype)
        model = _reused(key, lambda: build_model(study, x.shape[1], out_dim, dtype))
    if loss_fn is None and sources["loss"] != "mse":
        loss_fn = _reused(("loss", study.to_json()), lambda: build_loss(study))
    return Problem(study, model, loss_fn, x, y, dtype, sources)


def success_problem_of(run: Run) -> Problem:
    """The run's problem, enough to judge success (:attr:`Problem.success_loss`, :meth:`Problem.r_squared`)
    even for a run trained from Python objects.

    :func:`problem_of` when the run's model and loss can be rebuilt. A run trained from a Python
    model or loss (which a command cannot rebuild) still has its data and study, which is all
    success needs: the problem is then built with ``model=None`` (nothing that evaluates the
    network can be called) and, for a loss of its own, a loss that raises
    :class:`ModelUnavailable` when called (success then comes from ``task.success_loss`` alone,
    as for any loss of one's own). Used by :func:`landscape.runner.summarize`.
    """
    from .runner import study_dtype

    try:
        return problem_of(run)
    except ModelUnavailable:
        sources = stored_sources(run)
        own_loss = None if sources["loss"] == "mse" else _unavailable_loss
        dtype = study_dtype(run.study)
        return Problem(run.study, None, own_loss, np.asarray(run.x), np.asarray(run.y), dtype, sources)


def _unavailable_loss(params: Params, x: Any, y: Any) -> Any:
    """The loss of a run trained from a Python loss object, which a command cannot rebuild."""
    raise ModelUnavailable("the run's loss was a Python object that a command cannot rebuild")


__all__ = [
    "ModelUnavailable",
    "Objective",
    "Problem",
    "build_loss",
    "build_model",
    "function_reason",
    "mlp_reason",
    "problem_of",
    "problem_of_study",
    "rescaling_reason",
    "sources_of",
    "stored_sources",
    "success_problem_of",
    "unit_reason",
]
