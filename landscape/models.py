"""Models: a pytree of parameters plus a pure apply function.

A :class:`Model` is two pure functions: ``init(key) -> params`` and
``apply(params, x, dropout_key=None, dropout_rate=0.0) -> predictions`` for one network,
with ``x: (n_points, in_dim)`` and predictions ``(n_points,)`` (scalar output) or
``(n_points, out_dim)``. Anything written for one network is batched with ``jax.vmap``.

The built-in MLP keeps its parameters as a list of layers, ``[{"w": (fan_in, fan_out),
"b": (fan_out,)}, ...]``, the last one linear; ``"b"`` is absent when biases are off.
User models may use any nested dicts/lists of arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from .config import InitConfig, ModelConfig
from .types import Params


@dataclass(frozen=True)
class ActivationProperties:
    """What the analyses need to know about an activation, defined once.

    positively_homogeneous: sigma(a z) = a sigma(z) for a > 0, so a hidden unit's incoming weights
      and bias can be scaled by a and its outgoing weights by 1/a without changing the function
      (the rescaling symmetry; Dinh et al. 2017).
    piecewise_linear: the network is piecewise linear in its input, with kinks on hyperplanes.
    zero_region: sigma is exactly 0 on a half-line, so a unit can be dead (zero on every point).
    """

    positively_homogeneous: bool
    piecewise_linear: bool
    zero_region: bool


ACTIVATION_PROPERTIES: dict[str, ActivationProperties] = {
    "relu": ActivationProperties(True, True, True),
    "leaky_relu": ActivationProperties(True, True, False),
    "linear": ActivationProperties(True, True, False),
    "elu": ActivationProperties(False, False, False),
    "gelu": ActivationProperties(False, False, False),
    "softplus": ActivationProperties(False, False, False),
    "sigmoid": ActivationProperties(False, False, False),
    "tanh": ActivationProperties(False, False, False),
    "exp": ActivationProperties(False, False, False),
}


def activation_properties(name: str | None) -> ActivationProperties:
    """Properties of a built-in activation; an unknown name (or None: not an MLP) has none of them."""
    return ACTIVATION_PROPERTIES.get(name or "", ActivationProperties(False, False, False))


def activation_function(name: str, leaky_slope: float = 0.01) -> Callable[[jax.Array], jax.Array]:
    """Elementwise activation by name (see :data:`landscape.config.ACTIVATIONS`)."""
    table: dict[str, Callable[[jax.Array], jax.Array]] = {
        "relu": jax.nn.relu,
        "leaky_relu": lambda z: jnp.where(z > 0, z, leaky_slope * z),
        "elu": jax.nn.elu,
        "gelu": jax.nn.gelu,
        "softplus": jax.nn.softplus,
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "exp": jnp.exp,
        "linear": lambda z: z,
    }
    return table[name]


def weight_initializer(config: InitConfig) -> Callable[..., jax.Array]:
    """``init(key, (fan_in, fan_out), dtype)`` for the configured scheme, times ``config.scale``.

    glorot_* follow Glorot & Bengio (2010), he_* He et al. (2015), lecun_* LeCun et al. (1998),
    as in Keras/JAX (the normal variants are truncated normals). ``normal``/``uniform`` draw
    N(0, 1) / U(-1, 1), so ``scale`` sets their width directly.
    """
    inits = jax.nn.initializers
    base = {
        "glorot_uniform": inits.glorot_uniform(),
        "glorot_normal": inits.glorot_normal(),
        "he_uniform": inits.he_uniform(),
        "he_normal": inits.he_normal(),
        "lecun_uniform": inits.lecun_uniform(),
        "lecun_normal": inits.lecun_normal(),
        "normal": inits.normal(stddev=1.0),
        "uniform": lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -1.0, 1.0),
    }[config.weights]
    scale = config.scale

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return scale * base(key, shape, dtype)

    return init


def bias_initializer(config: InitConfig) -> Callable[..., jax.Array]:
    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        if config.biases == "zeros":
            return jnp.zeros(shape, dtype)
        if config.biases == "constant":
            return jnp.full(shape, config.bias_value, dtype)
        return config.bias_std * jax.random.normal(key, shape, dtype)

    return init


@dataclass(frozen=True)
class Model:
    """A network family: pure ``init`` and ``apply`` for one network.

    Attributes:
      init: ``key -> params``.
      apply: ``(params, x, dropout_key=None, dropout_rate=0.0) -> predictions``; None for a model that
        is only ever trained on a loss of its parameters (a closed-form population loss). Analyses of the
        learned function (types, figures) then say they cannot apply.
      name: a label stored in run files.
      trainable: optional pytree of bools matching params (False = frozen), or None.
      mlp: the :class:`ModelConfig` when this is a built-in MLP (enables MLP-only analyses).
    """

    init: Callable[[jax.Array], Params]
    apply: Callable[..., jax.Array] | None = None
    name: str = "custom"
    trainable: Any = None
    mlp: ModelConfig | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def mlp_init(key: jax.Array, sizes: list[int], config: ModelConfig, init: InitConfig, dtype: Any) -> Params:
    """Parameters of an MLP with layer sizes ``[in, h1, ..., out]``."""
    w_init, b_init = weight_initializer(init), bias_initializer(init)
    layers = []
    keys = jax.random.split(key, 2 * (len(sizes) - 1))
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layer = {"w": w_init(keys[2 * i], (fan_in, fan_out), dtype)}
        is_output = i == len(sizes) - 2
        if config.output_bias if is_output else config.bias:
            layer["b"] = b_init(keys[2 * i + 1], (fan_out,), dtype)
        layers.append(layer)
    return layers


def mlp_apply(
    params: Params,
    x: jax.Array,
    activation: Callable[[jax.Array], jax.Array],
    scalar_output: bool,
    dropout_key: jax.Array | None = None,
    dropout_rate: float = 0.0,
) -> jax.Array:
    """Forward pass of one MLP on ``x: (n_points, in_dim)``.

    Dropout (inverted: kept units scaled by 1/(1-rate), Srivastava et al. 2014) acts on the
    hidden activations when ``dropout_key`` is given and ``dropout_rate > 0``; each point
    draws its own mask.
    """
    h = x
    for i, layer in enumerate(params[:-1]):
        z = h @ layer["w"]
        if "b" in layer:
            z = z + layer["b"]
        h = activation(z)
        if dropout_key is not None and dropout_rate > 0.0:
            keep = jax.random.bernoulli(jax.random.fold_in(dropout_key, i), 1.0 - dropout_rate, h.shape)
            h = jnp.where(keep, h / (1.0 - dropout_rate), 0.0)
    out = h @ params[-1]["w"]
    if "b" in params[-1]:
        out = out + params[-1]["b"]
    return out[:, 0] if scalar_output else out


def make_mlp(config: ModelConfig, init: InitConfig, in_dim: int, out_dim: int, dtype: Any = jnp.float32) -> Model:
    """The built-in MLP ``in_dim -> hidden... -> out_dim`` with a linear output."""
    sizes = [in_dim, *config.hidden, out_dim]
    activation = activation_function(config.activation, config.leaky_slope)
    scalar = out_dim == 1

    def init_fn(key: jax.Array) -> Params:
        return mlp_init(key, sizes, config, init, dtype)

    def apply_fn(
        params: Params, x: jax.Array, dropout_key: jax.Array | None = None, dropout_rate: float = 0.0
    ) -> jax.Array:
        return mlp_apply(params, x, activation, scalar, dropout_key, dropout_rate)

    label = "-".join(str(s) for s in sizes) + f" {config.activation} MLP"
    return Model(init=init_fn, apply=apply_fn, name=label, mlp=config, extras={"sizes": sizes})


def hidden_preactivations(
    params: Params, x: jax.Array, activation: Callable[[jax.Array], jax.Array]
) -> list[jax.Array]:
    """Pre-activations ``(n_points, width)`` of every hidden layer of an MLP."""
    out, h = [], x
    for layer in params[:-1]:
        z = h @ layer["w"] + (layer["b"] if "b" in layer else 0.0)
        out.append(z)
        h = activation(z)
    return out
