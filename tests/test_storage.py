"""Run files: everything written reads back equal; resume and reruns reproduce results."""

from __future__ import annotations

import json

import h5py
import jax
import numpy as np
import pytest

from landscape import Run, RunFileError, Status, StudyError, prepare, run_study, train_networks
from landscape.storage import LAYOUT_VERSION, describe_run, flatten_params, unflatten_params, write_group
from tests.conftest import small_study


def _per_network_arrays(run: Run) -> dict[str, np.ndarray]:
    arrays = {f"final/{k}": v for k, v in flatten_params(run.final_params).items()}
    arrays.update({f"init/{k}": v for k, v in flatten_params(run.init_params).items()})
    for name in ("final_loss", "grad_norm", "status", "steps", "trajectory"):
        arrays[name] = getattr(run, name)
    return arrays


def test_round_trip_matches_training_in_memory(tmp_path):
    study = small_study(n_inits=10, **{"train.chunk_size": 4})
    path = run_study(study, tmp_path / "r.h5", quiet=True)
    prepared = prepare(study)
    init, result = train_networks(prepared, np.arange(10), pad_to=4)
    with Run(path) as run:
        assert run.complete and run.n_inits == 10 and run.study == study
        np.testing.assert_array_equal(run.x, prepared.dataset.x.astype(np.float32))
        np.testing.assert_array_equal(run.y, prepared.dataset.y.astype(np.float32))
        for stage, tree in (("init", init), ("final", result.final_params)):
            stored = run.params(stage)
            for a, b in zip(jax.tree.leaves(stored), jax.tree.leaves(tree)):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(run.final_loss, result.final_loss, rtol=1e-5)
        np.testing.assert_array_equal(run.status, result.status)
        np.testing.assert_array_equal(run.trajectory_steps, np.asarray(prepared.spec.record_steps))
        assert run.trajectory.shape == (10, len(prepared.spec.record_steps))
        assert run.attrs["layout_version"] == LAYOUT_VERSION and "jax" in run.attrs["versions"]
        assert run.attrs["backend"] == "cpu"
        assert json.loads(run._file["train/status"].attrs["codes"]) == Status.describe()


def test_same_seed_reproduces_bit_for_bit(tmp_path):
    study = small_study(n_inits=12)
    a = run_study(study, tmp_path / "a.h5", quiet=True)
    b = run_study(study, tmp_path / "b.h5", quiet=True)
    with Run(a) as ra, Run(b) as rb:
        for (name, x), (_, y) in zip(_per_network_arrays(ra).items(), _per_network_arrays(rb).items()):
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path):
    study = small_study(n_inits=12, **{"train.chunk_size": 4})
    whole = run_study(study, tmp_path / "whole.h5", quiet=True)
    part = run_study(study, tmp_path / "part.h5", quiet=True, max_chunks=1)
    with Run(part) as run:
        assert not run.complete and run.chunk_done.tolist() == [True, False, False]
        assert np.all(run.status[4:] == Status.NOT_RUN) and np.all(run.status[:4] != Status.NOT_RUN)
        assert "INCOMPLETE: 1 of 3 chunks" in describe_run(part)
    run_study(None, part, resume=True, quiet=True)
    with Run(whole) as rw, Run(part) as rp:
        assert rp.complete
        for (name, x), (_, y) in zip(_per_network_arrays(rw).items(), _per_network_arrays(rp).items()):
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_chunk_size_does_not_change_per_network_results(tmp_path):
    a = run_study(small_study(n_inits=9, **{"train.chunk_size": 9}), tmp_path / "a.h5", quiet=True)
    b = run_study(small_study(n_inits=9, **{"train.chunk_size": 2}), tmp_path / "b.h5", quiet=True)
    with Run(a) as ra, Run(b) as rb:
        for (name, x), (_, y) in zip(_per_network_arrays(ra).items(), _per_network_arrays(rb).items()):
            # a different batch shape may change XLA's rounding by an ulp, never more
            np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(ra.status, rb.status)


def test_existing_output_is_refused_unless_overwrite_or_resume(tmp_path):
    study = small_study(n_inits=4)
    path = run_study(study, tmp_path / "r.h5", quiet=True)
    with pytest.raises(StudyError, match="already exists"):
        run_study(study, path, quiet=True)
    run_study(study, path, quiet=True, overwrite=True)
    with pytest.raises(StudyError, match="different study"):
        run_study(study.replace(seed=5), path, resume=True, quiet=True)


def test_analysis_groups_are_added_without_touching_training_data(tmp_path):
    path = run_study(small_study(n_inits=4), tmp_path / "r.h5", quiet=True)
    with Run(path) as run:
        before = _per_network_arrays(run)
    write_group(
        path,
        "types",
        {"label": np.array([0, 1, 0, 2], np.int8), "names": np.array(["a", "b"]), "sub": {"x": np.ones(3)}},
        {"label_names": ["pyramid", "valley", "dead"]},
    )
    write_group(path, "types", {"label": np.array([1, 1, 1, 1], np.int8)})  # replaced, not duplicated
    with Run(path) as run:
        assert run.groups() == ["types"]
        np.testing.assert_array_equal(run.group("types")["label"], [1, 1, 1, 1])
        for (name, x), (_, y) in zip(before.items(), _per_network_arrays(run).items()):
            np.testing.assert_array_equal(x, y, err_msg=name)
        with pytest.raises(KeyError, match="no 'hessian' group"):
            run.group("hessian")
    with pytest.raises(ValueError, match="reserved"):
        write_group(path, "train", {})


def test_params_pytree_round_trip():
    tree = [{"w": np.ones((2, 3)), "b": np.zeros(3)}, {"w": np.ones((3, 1))}]
    back = unflatten_params(flatten_params(tree))
    assert isinstance(back, list) and set(back[0]) == {"w", "b"} and set(back[1]) == {"w"}
    assert unflatten_params(flatten_params({"c": np.ones(2)}))["c"].shape == (2,)


def test_bad_files_give_clear_errors(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all")
    with pytest.raises(RunFileError, match="not a readable HDF5 file"):
        Run(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(RunFileError, match="not a landscape run file"):
        Run(other)
    with pytest.raises(RunFileError, match="no such file"):
        Run(tmp_path / "missing.h5")
    good = run_study(small_study(n_inits=4), tmp_path / "good.h5", quiet=True)
    old = tmp_path / "old.h5"
    old.write_bytes(good.read_bytes())
    with h5py.File(old, "r+") as f:
        f.attrs["layout_version"] = 99
    with pytest.raises(RunFileError, match="layout version 99"):
        Run(old)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(RunFileError):
        Run(truncated)


def test_a_run_file_with_a_wrong_length_or_a_damaged_study_is_refused_in_one_line(small_run_copy):
    with h5py.File(small_run_copy, "r+") as f:
        f.attrs["config_json"] = "{not json"
    with Run(small_run_copy) as run, pytest.raises(RunFileError, match="stored study cannot be read"):
        _ = run.study
    with h5py.File(small_run_copy, "r+") as f:
        del f["train/grad_norm"]
        f["train/grad_norm"] = np.zeros(3, np.float32)
    with pytest.raises(RunFileError, match="train/grad_norm has 3") as info:
        Run(small_run_copy)
    assert "\n" not in str(info.value)


def test_a_study_file_that_is_not_text_is_a_config_error(tmp_path):
    from landscape.config import ConfigError, load_study

    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ConfigError, match="not a text file"):
        load_study(path)
