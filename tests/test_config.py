"""Study validation: every bad field is named with what was expected; good files round-trip."""

from __future__ import annotations

import pytest

from landscape import ConfigError, Study, load_study, study_from_dict, study_from_toml
from landscape.config import apply_overrides, parse_override, study_to_dict


def test_default_study_is_the_seed_problem():
    study = Study()
    assert study.task.name == "euclidean_norm" and study.task.dim == 2 and study.task.n_points == 1024
    assert (study.task.low, study.task.high) == (-1.0, 1.0)
    assert study.model.hidden == [3] and study.model.activation == "relu"
    assert study.init.weights == "glorot_uniform" and study.init.biases == "zeros"
    assert study.optimizer.name == "adam" and study.optimizer.learning_rate == 1e-2
    assert study.train.batch_size == 0 and study.n_inits >= 1000


def test_empty_toml_is_the_default_study():
    assert study_from_toml("") == Study()


def test_toml_round_trip_of_a_non_default_study():
    study = Study().replace(
        **{
            "model.hidden": [8, 4],
            "model.activation": "leaky_relu",
            "optimizer.name": "rmsprop",
            "optimizer.options": {"decay": 0.8},
            "optimizer.schedule.name": "cosine_decay",
            "optimizer.schedule.options": {"alpha": 0.1},
            "task.name": "fir",
            "task.fir_taps": [1.0, -0.5],
            "train.dropout": 0.1,
        }
    )
    assert study_from_toml(study.to_toml()) == study
    assert study_from_dict(study_to_dict(study)) == study


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("n_inits = -3", "n_inits", "positive"),
        ("n_inits = 'many'", "n_inits", "integer"),
        ("bogus = 1", "bogus", "unknown field"),
        ("[model]\nactivation = 'swish'", "model.activation", "relu"),
        ("[model]\nhidden = [3, 0]", "model.hidden", "positive"),
        ("[model]\nhidden = 3", "model.hidden", "list of an integer"),
        ("[model]\nwidth = 3", "model.width", "hidden"),
        ("[optimizer]\nname = 'adamz'", "optimizer.name", "adam"),
        ("[optimizer]\nlearning_rate = 0", "optimizer.learning_rate", "positive"),
        ("[optimizer.options]\nbeta = 0.9", "optimizer.options.beta", "b1"),
        ("[task]\nname = 'norm'", "task.name", "euclidean_norm"),
        ("[task]\ndistribution = 'cauchy'", "task.distribution", "gaussian"),
        ("[task]\nlow = 1.0\nhigh = -1.0", "task.low", "low < high"),
        ("[train]\nsteps = 1.5", "train.steps", "integer"),
        ("[train]\ndropout = 1.0", "train.dropout", "[0, 1)"),
        ("[train]\nbatch_size = 5000", "train.batch_size", "at most"),
        ("task = 3", "task", "table"),
        ("[init]\nweights = 'xavier'", "init.weights", "glorot_uniform"),
        ("[task]\nname = 'custom'\ntarget = 'not a path'", "task.target", "module:function"),
        ("[model]\nfactory = 'make_model'", "model.factory", "module:function"),
        ("[train]\nloss = 'mae'", "train.loss", "module:function"),
        ("[task]\nn_points = 0", "task.n_points", "positive"),
        ("[task]\nsuccess_loss = -1.0", "task.success_loss", "non-negative"),
    ],
)
def test_bad_fields_are_named(text, field, expected):
    with pytest.raises(ConfigError) as info:
        study_from_toml(text)
    message = str(info.value)
    assert message.startswith(field), message
    assert expected in message, message


def test_malformed_toml_is_a_config_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model\nhidden = [3]")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_study(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_study(tmp_path / "nope.toml")


def test_overrides_parse_toml_values_and_bare_words():
    assert parse_override("model.hidden=[4, 4]") == ("model.hidden", [4, 4])
    assert parse_override("optimizer.name=sgd") == ("optimizer.name", "sgd")
    assert parse_override("optimizer.learning_rate=1e-3") == ("optimizer.learning_rate", 1e-3)
    assert apply_overrides({"a": {"b": 1}}, {"a.c": 2}) == {"a": {"b": 1, "c": 2}}
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        parse_override("model.hidden")


def test_custom_target_may_come_from_code_but_is_named_when_missing():
    """task.name = "custom" validates without a target string (run_study(target=...) may pass it);
    training without either is a one-line error naming task.target."""
    from landscape.problem import problem_of_study

    study = study_from_toml("[task]\nname = 'custom'\nn_points = 8")
    with pytest.raises(ConfigError, match="^task.target: the custom task needs"):
        problem_of_study(study)
    problem = problem_of_study(study, target=lambda x: x[:, 0] * 2.0)
    assert problem.sources["target"].startswith("object:")
    assert problem.y == pytest.approx(2.0 * problem.x[:, 0])


def test_factories_are_imported_and_named_when_wrong():
    from landscape.problem import build_loss, build_model

    study = study_from_toml(
        "[model]\nfactory = 'landscape.examples.teacher_student:no_such'\n[train]\nloss = 'nosuchmodule:make'"
    )
    with pytest.raises(ConfigError, match="^model.factory: cannot import"):
        build_model(study, 2, 1, float)
    with pytest.raises(ConfigError, match="^train.loss: cannot import"):
        build_loss(study)


def test_a_study_without_a_dataset_needs_a_loss_of_its_own():
    study = study_from_toml("[task]\nn_points = 0\n[train]\nloss = 'landscape.examples.teacher_student:make_loss'")
    assert study.task.n_points == 0
