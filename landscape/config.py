"""Studies as data: frozen dataclasses built from TOML or keyword arguments, validated once.

A study file has a few top-level fields and one table per part of the pipeline::

    name = "euclid-2-3-1"
    seed = 0
    n_inits = 2048

    [task]       # what to learn: target, input distribution, dataset size
    [model]      # MLP: hidden widths, activation, biases
    [init]       # weight and bias initialisation
    [optimizer]  # optax optimiser by name, its options and an optional schedule
    [train]      # step budget, batch size, convergence tolerance, dropout, trajectory

Every field has a default (the seed's problem, see ``../shared/seed.md``), so an empty file
is the default study. Validation errors raise :class:`ConfigError` naming the field by its
dotted path (``optimizer.learning_rate``) and what was expected.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A study description is invalid; the message names the field and what was expected."""


TASKS = ("euclidean_norm", "abs", "teacher", "xor", "fir", "dft", "amplitude_spectrum", "custom")
DISTRIBUTIONS = ("uniform", "gaussian", "corners")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "softplus", "sigmoid", "tanh", "exp", "linear")
WEIGHT_INITS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "normal",
    "uniform",
)
BIAS_INITS = ("zeros", "constant", "normal")
OPTIMIZERS = (
    "sgd",
    "momentum",
    "nesterov",
    "adam",
    "adamw",
    "rmsprop",
    "adagrad",
    "adamax",
    "nadam",
    "lion",
)
SCHEDULES = (
    "constant",
    "cosine_decay",
    "exponential_decay",
    "linear",
    "warmup_cosine_decay",
    "piecewise_constant",
)
TRAJECTORY_SPACINGS = ("log", "linear")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class TaskConfig:
    """What the networks learn.

    ``name`` picks the target (see :mod:`landscape.tasks`); ``dim`` is the input size
    (the signal length for ``fir``/``dft``); points are drawn from ``distribution`` with the
    dataset's own ``data_seed`` so that every network of a study sees the same data.
    """

    name: str = "euclidean_norm"
    dim: int = 2
    n_points: int = 1024
    distribution: str = "uniform"
    low: float = -1.0
    high: float = 1.0
    std: float = 1.0
    data_seed: int = 0
    teacher_width: int = 3  # teacher: hidden width of the target network
    teacher_orthonormal: bool = False  # teacher: orthonormal input weights, unit output weights
    fir_taps: list[float] = field(default_factory=lambda: [0.5, 0.3, 0.2])  # fir: filter taps
    target: str = ""  # custom: "module:function", f(x: (n, d) ndarray) -> (n,) or (n, k)
    success_loss: float = 0.0  # a network succeeds below this final loss; 0: a tenth of the constant predictor's loss


@dataclass(frozen=True)
class ModelConfig:
    """A multilayer perceptron with a linear output layer, or your own model.

    ``factory = "module:function"`` builds your own :class:`landscape.Model` instead:
    ``function(study) -> Model``. The run file records it, so every command rebuilds the model.
    """

    factory: str = ""
    hidden: list[int] = field(default_factory=lambda: [3])
    activation: str = "relu"
    leaky_slope: float = 0.01
    bias: bool = True
    output_bias: bool = True


@dataclass(frozen=True)
class InitConfig:
    """Initial parameters: a weight scheme (times ``scale``) and a bias scheme."""

    weights: str = "glorot_uniform"
    scale: float = 1.0
    biases: str = "zeros"
    bias_value: float = 0.0  # biases = "constant"
    bias_std: float = 0.1  # biases = "normal"


@dataclass(frozen=True)
class ScheduleConfig:
    """An optax learning-rate schedule; ``options`` are passed to it (init_value is the lr)."""

    name: str = "constant"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizerConfig:
    """An optax optimiser by name; ``options`` are its keyword arguments (b1, momentum, ...)."""

    name: str = "adam"
    learning_rate: float = 1e-2
    options: dict[str, Any] = field(default_factory=dict)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass(frozen=True)
class TrainConfig:
    """The training budget and what is recorded along the way.

    ``batch_size = 0`` means full batch. A network counts as converged, and stops moving,
    once the norm of its (full or minibatch) gradient drops below ``grad_tol``.
    ``trajectory_points`` losses are kept per network, at log- or linearly spaced steps.
    """

    steps: int = 2000
    batch_size: int = 0
    grad_tol: float = 1e-5
    loss: str = "mse"  # or "module:function": function(study) -> loss(params, x, y) -> scalar
    dropout: float = 0.0
    trajectory_points: int = 200
    trajectory_spacing: str = "log"
    chunk_size: int = 0  # 0: chosen automatically from a memory budget
    dtype: str = "float32"


@dataclass(frozen=True)
class Study:
    """A batched init study: ``n_inits`` networks trained from inits drawn with ``seed``.

    Network ``i``'s initial parameters and training randomness depend on ``(seed, i)`` alone.
    """

    name: str = "euclid-2-3-1"
    description: str = "The seed's problem: a 2-3-1 ReLU network learning sqrt(x0^2 + x1^2)."
    seed: int = 0
    n_inits: int = 4096
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    init: InitConfig = field(default_factory=InitConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def replace(self, **overrides: Any) -> Study:
        """A copy with dotted-path overrides, validated: ``study.replace(**{"model.hidden": [4]})``."""
        return study_from_dict(apply_overrides(study_to_dict(self), overrides))

    def to_toml(self) -> str:
        return dict_to_toml(study_to_dict(self))

    def to_json(self) -> str:
        return json.dumps(study_to_dict(self), sort_keys=True)


# ---------------------------------------------------------------------------------------------
# Generic dataclass <-> dict with field-naming errors.


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        (inner,) = typing.get_args(tp)
        return f"a list of {_type_name(inner)}"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a table, got {value!r}")
        return _from_dict(tp, value, path)
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
        return [_coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a table, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {path}")  # a bug of ours, not the user's


def _field_path(prefix: str, key: Any) -> str:
    """``prefix.key``; a key that is not a plain name is quoted, so a message stays one line."""
    name = key if isinstance(key, str) and re.fullmatch(r"[\w\-]+", key) else repr(key)
    return f"{prefix}.{name}" if prefix else name


def _from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = _field_path(prefix, key)
        if key not in names:
            raise ConfigError(f"{path}: unknown field; expected one of {', '.join(names)}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def _to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [_to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_dict(v) for k, v in obj.items()}
    return obj


def study_to_dict(study: Study) -> dict[str, Any]:
    """Plain nested dict of every field (round-trips through :func:`study_from_dict`)."""
    return _to_dict(study)


def study_from_dict(data: dict[str, Any]) -> Study:
    """Build and validate a :class:`Study`; raises :class:`ConfigError` naming the bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"study: expected a table of fields, got {data!r}")
    study = _from_dict(Study, data)
    validate(study)
    return study


def read_toml_file(path: str | Path, kind: str = "study") -> dict[str, Any]:
    """The tables of a TOML file; unreadable files and bad TOML are :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read {kind} file ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a text file: a {kind} file is UTF-8 TOML (byte {err.start} is not)") from None
    return _parse_toml(text, str(path))


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, TypeError, ValueError) as err:
        raise ConfigError(f"{source}: not valid TOML ({err})") from None


def load_study(path: str | Path) -> Study:
    """Read a study from a TOML file (see ``runs/`` for examples)."""
    return study_from_dict(read_toml_file(path, "study"))


def study_from_toml(text: str, source: str = "study") -> Study:
    return study_from_dict(_parse_toml(text, source))


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted paths (``"optimizer.learning_rate"``) in a nested dict copy."""
    data = json.loads(json.dumps(data))
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{dotted}: {part} is not a table")
            node = child
        node[parts[-1]] = value
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """``"model.hidden=[4]"`` -> ``("model.hidden", [4])``; the value is read as TOML."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected FIELD=VALUE, e.g. optimizer.learning_rate=0.001")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word such as sgd is read as a string
    return key, value


# ---------------------------------------------------------------------------------------------
# Value checks.


def _choice(value: str, allowed: tuple[str, ...], path: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{path}: unknown value {value!r}; expected one of {', '.join(allowed)}")


def _positive(value: float, path: str, strict: bool = True) -> None:
    if (value <= 0) if strict else (value < 0):
        raise ConfigError(f"{path}: expected a {'positive' if strict else 'non-negative'} value, got {value!r}")


def _check_options(fn: Any, options: dict[str, Any], path: str, skip: tuple[str, ...]) -> None:
    params = inspect.signature(fn).parameters
    allowed = [p for p in params if p not in skip and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    for key, value in options.items():
        if key not in allowed:
            raise ConfigError(
                f"{_field_path(path, key)}: unknown option for {fn.__name__}; expected one of {', '.join(allowed)}"
            )
        if not isinstance(value, (int, float, bool, str, list)):
            raise ConfigError(f"{_field_path(path, key)}: expected a number, string or list, got {value!r}")


def import_callable(spec: str, field: str) -> Any:
    """``"package.module:function"`` -> the callable; a :class:`ConfigError` naming ``field`` otherwise."""
    import importlib

    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"{field}: cannot import {spec!r} ({err})") from None
    if not callable(obj):
        raise ConfigError(f"{field}: {spec!r} is not callable")
    return obj


def _is_factory(text: str) -> bool:
    """``"package.module:function"``: something the run file can name and a later command import."""
    return bool(re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", text))


def validate(study: Study) -> None:
    """Check values (counts positive, names known, options accepted by optax)."""
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", study.name):
        raise ConfigError(f"name: expected letters, digits, '.', '_' or '-' (used as a file name), got {study.name!r}")
    if study.seed < 0:
        raise ConfigError(f"seed: expected a non-negative integer, got {study.seed}")
    _positive(study.n_inits, "n_inits")

    t = study.task
    _choice(t.name, TASKS, "task.name")
    _choice(t.distribution, DISTRIBUTIONS, "task.distribution")
    _positive(t.dim, "task.dim")
    _positive(t.n_points, "task.n_points", strict=not _is_factory(study.train.loss))
    _positive(t.std, "task.std")
    if t.data_seed < 0:
        raise ConfigError(f"task.data_seed: expected a non-negative integer, got {t.data_seed}")
    if not t.low < t.high:
        raise ConfigError(f"task.low/task.high: expected low < high, got {t.low} and {t.high}")
    _positive(t.teacher_width, "task.teacher_width")
    if t.name == "abs" and t.dim != 1:
        raise ConfigError(f"task.dim: the abs task is one-dimensional; expected 1, got {t.dim}")
    if t.name == "xor" and t.dim < 2:
        raise ConfigError(f"task.dim: xor needs at least 2 inputs, got {t.dim}")
    if t.name == "fir" and not t.fir_taps:
        raise ConfigError("task.fir_taps: expected at least one tap")
    if t.name == "custom" and t.target and not _is_factory(t.target):
        raise ConfigError(f"task.target: expected 'module:function' for the custom task, got {t.target!r}")
    _positive(t.success_loss, "task.success_loss", strict=False)

    m = study.model
    if m.factory and not _is_factory(m.factory):
        raise ConfigError(f"model.factory: expected 'module:function' (function(study) -> Model), got {m.factory!r}")
    if any(w <= 0 for w in m.hidden):
        raise ConfigError(f"model.hidden: expected positive widths, got {m.hidden}")
    _choice(m.activation, ACTIVATIONS, "model.activation")
    _positive(m.leaky_slope, "model.leaky_slope", strict=False)

    i = study.init
    _choice(i.weights, WEIGHT_INITS, "init.weights")
    _choice(i.biases, BIAS_INITS, "init.biases")
    _positive(i.scale, "init.scale", strict=False)
    _positive(i.bias_std, "init.bias_std", strict=False)

    o = study.optimizer
    _choice(o.name, OPTIMIZERS, "optimizer.name")
    _positive(o.learning_rate, "optimizer.learning_rate")
    _choice(o.schedule.name, SCHEDULES, "optimizer.schedule.name")

    tr = study.train
    _positive(tr.steps, "train.steps")
    _positive(tr.batch_size, "train.batch_size", strict=False)
    if tr.batch_size > t.n_points:
        raise ConfigError(f"train.batch_size: expected at most task.n_points ({t.n_points}), got {tr.batch_size}")
    _positive(tr.grad_tol, "train.grad_tol", strict=False)
    if tr.loss != "mse" and not _is_factory(tr.loss):
        raise ConfigError(
            f"train.loss: expected 'mse' or 'module:function' (function(study) -> loss(params, x, y)), got {tr.loss!r}"
        )
    if not 0.0 <= tr.dropout < 1.0:
        raise ConfigError(f"train.dropout: expected a rate in [0, 1), got {tr.dropout}")
    _positive(tr.trajectory_points, "train.trajectory_points")
    _choice(tr.trajectory_spacing, TRAJECTORY_SPACINGS, "train.trajectory_spacing")
    _positive(tr.chunk_size, "train.chunk_size", strict=False)
    _choice(tr.dtype, DTYPES, "train.dtype")

    # Last, as they need optax (heavy): every other mistake is reported before it loads.
    from . import optimizers

    _check_options(optimizers.optax_factory(o.name), o.options, "optimizer.options", skip=("learning_rate",))
    _check_options(
        optimizers.schedule_factory(o.schedule.name),
        o.schedule.options,
        "optimizer.schedule.options",
        skip=("init_value", "value", "peak_value"),
    )


# ---------------------------------------------------------------------------------------------
# TOML writing (tomllib only reads): enough for the values a Study holds.


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def dict_to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Nested dict -> TOML text; nested dicts become tables (dicts under 'options' stay inline)."""
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) or k == "options"}
    tables = {k: v for k, v in data.items() if isinstance(v, dict) and k != "options"}
    lines = [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, table in tables.items():
        name = f"{prefix}.{key}" if prefix else key
        lines += ["", f"[{name}]", dict_to_toml(table, name).strip("\n")]
    return "\n".join(lines) + "\n"
