"""Solution types on hand-built minima with known answers, symmetry invariance, and a real run."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from landscape import Run
from landscape.solutions import (
    TypesResult,
    classify_networks,
    classify_run,
    gradient_covariance,
    recent_loss_drop,
    type_labels,
    type_representatives,
    unit_diagnostics,
)

RNG = np.random.default_rng(0)
X = RNG.uniform(-1, 1, (300, 2))


def net(directions, offsets, amplitudes, output_bias=0.0):
    """One 2-h-1 ReLU network from unit input weights (h, 2), offsets (h,), output weights (h,)."""
    w = np.asarray(directions, float).T.copy()
    return [
        {"w": w, "b": np.asarray(offsets, float)},
        {"w": np.asarray(amplitudes, float)[:, None], "b": np.array([output_bias])},
    ]


def stack(nets):
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *nets)


def classify(nets, x=X, **kwargs):
    n = len(nets)
    return classify_networks(stack(nets), x, np.zeros(n), np.zeros(n, np.int8), **kwargs)


ANGLES = np.deg2rad([90.0, 210.0, 330.0])
PYRAMID = net(np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1), [0, 0, 0], [1, 1, 1])
# |x0| with the negative side split into a merged pair (same hyperplane, different scales)
VALLEY_MERGED = net([[1, 0], [-2, 0], [-1, 0]], [0, 0, 0], [1, 0.25, 0.5])
VALLEY_DEAD = net([[0.6, 0.8], [-0.6, -0.8], [0, 1]], [0.1, -0.1, -5], [1, 1, 1])  # unit 2 never active on [-1, 1]^2
FULLY_DEAD = net([[1, 0], [-1, 0], [0, 1]], [-3, -3, -3], [1, 1, 1], output_bias=0.7)
SINGLE_RAMP = net([[1, 0], [-1, 0], [0, 1]], [0, -3, -3], [1, 1, 1])
# unit 2 is live on a few points near the top edge, with a tiny effect: negligible, not significant
VALLEY_NEGLIGIBLE = net([[1, 0], [-1, 0], [0, 1]], [0, 0, -0.95], [1, 1, 1])
WEDGE = net([[1, 0], [0, 1], [-1, 0]], [-0.2, -0.2, -4], [1, 1, 1])
BENT_RAMP = net([[1, 0], [1, 0], [0, 1]], [0, -0.5, -4], [1, 1, 1])
# a valley made of one hinge plus a unit active on every point (linear there): relu(x0) - x0/2 ~ |x0|/2
VALLEY_LINEAR = net([[1, 0], [1, 0], [0, 1]], [0, 2, -4], [1, -0.5, 1])
# the four-faced pyramid: two hinges crossing at 90 degrees plus a unit active on every point (3 - x0):
# relu(x0 + x1) + relu(x0 - x1) - x0 = max(|x0|, |x1|), a square pyramid with 4 faces (the hexagonal has 6)
DIAMOND = net([[1, 1], [1, -1], [-1, 0]], [0, 0, 3], [1, 1, 1], output_bias=-3.0)
# two units active on every point whose sum nearly cancels (a plane -0.2 x1) plus a dead unit: not a bent ramp
CANCELLING = net([[1, 0], [1, 0.2], [0, 1]], [3, 3, -4], [1, -1, 1])


def test_hand_built_minima_get_their_known_types_and_causes():
    cases = {
        "pyramid": PYRAMID,
        "valley merged": VALLEY_MERGED,
        "valley dead": VALLEY_DEAD,
        "fully dead": FULLY_DEAD,
        "single ramp": SINGLE_RAMP,
        "wedge": WEDGE,
        "bent ramp": BENT_RAMP,
        "valley linear": VALLEY_LINEAR,
        "valley negligible": VALLEY_NEGLIGIBLE,
        "diamond": DIAMOND,
        "cancelling": CANCELLING,
    }
    result = classify(list(cases.values()))
    labels = dict(zip(cases, result["label"]))
    assert labels == {
        "pyramid": "pyramid",
        "valley merged": "valley",
        "valley dead": "valley",
        "fully dead": "dead",
        "single ramp": "dead",
        "wedge": "wedge",
        "bent ramp": "bent_ramp",
        "valley linear": "valley",
        "valley negligible": "valley",
        "diamond": "diamond",
        "cancelling": "dead",  # the always-active pair is one linear unit: k = 1 (was bent_ramp, k = 2)
    }
    faces = dict(zip(cases, result["faces"]))
    assert faces["pyramid"] == 6 and faces["diamond"] == 4  # linear pieces over the data
    causes = dict(zip(cases, result["cause"]))
    assert causes["pyramid"] == "k=3 of 3; dead 0, negligible 0, merged 0"
    assert causes["valley merged"] == "k=2 of 3; dead 0, negligible 0, merged 1"
    assert causes["valley dead"] == "k=2 of 3; dead 1, negligible 0, merged 0"
    assert causes["fully dead"] == "k=0 of 3; dead 3, negligible 0, merged 0"
    assert causes["single ramp"] == "k=1 of 3; dead 2, negligible 0, merged 0"
    assert causes["valley negligible"] == "k=2 of 3; dead 0, negligible 1, merged 0"
    assert causes["diamond"] == "k=3 of 3; dead 0, negligible 0, merged 0"
    assert causes["cancelling"] == "k=1 of 3; dead 1, negligible 0, merged 1"
    assert 0 < result["active_fraction"][8, 2] < 0.05  # live, but on a handful of points
    np.testing.assert_array_equal(result["gradient_rank"], [2, 1, 1, 0, 1, 2, 1, 1, 1, 2, 1])
    # reference for the diamond's function: max(|x0|, |x1|) on every point
    z = X @ DIAMOND[0]["w"] + DIAMOND[0]["b"]
    np.testing.assert_allclose(np.maximum(z, 0) @ DIAMOND[1]["w"][:, 0] - 3, np.abs(X).max(axis=1), atol=1e-12)


def test_pyramid_diagnostics_by_hand():
    """Three units at 120 degrees through the origin: each active on ~half the data, isotropic G."""
    d = jax.jit(unit_diagnostics)(PYRAMID, X)
    np.testing.assert_allclose(d["active_fraction"], np.mean(X @ PYRAMID[0]["w"] > 0, axis=0))
    np.testing.assert_allclose(d["direction"], np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1), atol=1e-6)
    np.testing.assert_allclose(d["offset"], 0, atol=1e-7)
    covariance = np.asarray(gradient_covariance(PYRAMID, X))
    # reference: mean of outer products of the analytic gradient sum_j a_j 1[z_j > 0] w_j
    z = X @ PYRAMID[0]["w"]
    grads = (z > 0) @ (PYRAMID[0]["w"] * PYRAMID[1]["w"][:, 0]).T
    np.testing.assert_allclose(covariance, grads.T @ grads / len(X), rtol=1e-5, atol=1e-7)
    eig = np.linalg.eigvalsh(covariance)
    assert eig[0] / eig[1] > 0.6  # nearly isotropic: the pyramid varies along both directions


def test_gradient_covariance_matches_finite_differences():
    params = [{"w": RNG.normal(size=(2, 4)), "b": RNG.normal(size=4)}, {"w": RNG.normal(size=(4, 1)), "b": np.zeros(1)}]
    x = RNG.uniform(-1, 1, (40, 2))
    with jax.enable_x64(True):
        covariance = np.asarray(
            gradient_covariance(jax.tree_util.tree_map(np.float64, params), x.astype(np.float64), "tanh")
        )

    def f(points):
        return np.tanh(points @ params[0]["w"] + params[0]["b"]) @ params[1]["w"][:, 0]

    eps = 1e-6
    grads = np.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(covariance, grads.T @ grads / len(x), rtol=1e-6)


def permute_and_rescale(params, rng):
    """The same function: hidden units permuted and each rescaled by c > 0 (w, b) -> c(w, b), a -> a/c."""
    h = params[0]["w"].shape[1]
    perm = rng.permutation(h)
    scale = rng.uniform(0.2, 5.0, size=h)
    return [
        {"w": params[0]["w"][:, perm] * scale, "b": params[0]["b"][perm] * scale},
        {"w": params[1]["w"][perm] / scale[:, None], "b": params[1]["b"]},
    ]


def test_labels_and_canonical_form_invariant_under_permutation_and_rescaling():
    rng = np.random.default_rng(1)
    base = [PYRAMID, VALLEY_MERGED, VALLEY_DEAD, FULLY_DEAD, SINGLE_RAMP, WEDGE, BENT_RAMP, VALLEY_LINEAR, DIAMOND]
    base += [CANCELLING]
    # plus random networks, whatever their type
    base += [net(rng.normal(size=(3, 2)), rng.normal(size=3) * 0.5, rng.normal(size=3)) for _ in range(20)]
    copies = 3
    everything = classify(base + [permute_and_rescale(p, rng) for _ in range(copies) for p in base])  # one compile
    n = len(base)
    reference = {key: value[:n] for key, value in everything.items()}
    for c in range(1, copies + 1):
        moved = {key: value[c * n : (c + 1) * n] for key, value in everything.items()}
        np.testing.assert_array_equal(moved["label"], reference["label"])
        np.testing.assert_array_equal(moved["cause"], reference["cause"])
        np.testing.assert_allclose(moved["canonical"], reference["canonical"], atol=1e-5)
        np.testing.assert_allclose(np.sort(moved["active_fraction"], 1), np.sort(reference["active_fraction"], 1))


def test_status_labels_override_shape_but_keep_it():
    nets = [PYRAMID, PYRAMID, PYRAMID, VALLEY_DEAD, PYRAMID]
    status = np.array([0, 1, 2, 1, -1], np.int8)
    loss = np.array([1e-3, 1e-3, np.nan, 0.04, np.nan])  # an unfinished chunk stores NaN losses
    drop = np.array([0.0, 0.5, 0.0, 1e-5, np.nan])  # net 1 still falling, net 3 on a plateau
    result = classify_networks(stack(nets), X, loss, status, recent_loss_drop=drop)
    # a network that never ran is not_run, never diverged (whatever its stored loss)
    assert list(result["label"]) == ["pyramid", "unconverged", "diverged", "valley", "not_run"]
    assert list(result["shape"]) == ["pyramid", "pyramid", "pyramid", "valley", "not_run"]
    without = classify_networks(stack(nets), X, loss, status)
    assert without["label"][3] == "unconverged" and without["label"][4] == "not_run"


def test_bimodality_finds_two_modes_and_not_one():
    from landscape.solutions import bimodal_notes, bimodality

    rng = np.random.default_rng(3)
    # the default study's pyramids: ~1.0e-3 and ~3.8e-3 (226 of 1233)
    two = np.concatenate([10 ** rng.normal(-3.0, 0.03, 1007), 10 ** rng.normal(np.log10(3.8e-3), 0.03, 226)])
    found = bimodality(two)
    assert found["n_low"] == 1007 and found["n_high"] == 226
    assert found["low"] == pytest.approx(1e-3, rel=0.05) and found["high"] == pytest.approx(3.8e-3, rel=0.05)
    assert found["D"] > 10
    one = 10 ** rng.normal(-3.0, 0.1, 1000)
    assert bimodality(one)["D"] < 3  # a single log-normal mode: no clean split
    assert bimodality(two[:5]) is None  # too few to say
    labels = np.array(["pyramid"] * two.size + ["valley"] * one.size)
    notes = bimodal_notes(labels, ["pyramid", "valley"], np.concatenate([two, one]))
    assert notes[0].startswith("bimodal final loss") and "1007 near 0.001" in notes[0] and notes[1] == ""
    # no second solution: two tight clumps 1e-10 apart (a converged spurious minimum), perfect fits at the float floor
    tight = np.concatenate([np.full(16, 0.0215080372), np.full(5, 0.0215080374)])
    floor = np.concatenate([10 ** rng.normal(-11.45, 0.02, 160), 10 ** rng.normal(-11.33, 0.02, 70)])
    assert bimodality(floor)["D"] > 3  # Ashman's D alone would flag the float floor
    labels = np.array(["rank7"] * tight.size + ["rank8"] * floor.size)
    assert bimodal_notes(labels, ["rank7", "rank8"], np.concatenate([tight, floor]), success_loss=1e-6) == ["", ""]


def test_success_splits_a_shape_that_straddles_it():
    from landscape.solutions import split_by_success

    labels = np.array(["ridge", "ridge", "fold", "fold", "diverged", "not_run"])
    loss = np.array([1e-9, 0.5, 0.5, 0.6, np.nan, np.nan])
    split = split_by_success(labels, loss, success_loss=1e-2)
    assert list(split) == ["ridge", "ridge_misfit", "fold", "fold", "diverged", "not_run"]
    assert list(split_by_success(labels, loss, None)) == list(labels)


def test_teacher_recovery_of_the_teacher_itself_a_permuted_rescaled_copy_and_a_stranger():
    from landscape.solutions import teacher_recovery

    rng = np.random.default_rng(4)
    teacher_w, teacher_b = rng.normal(size=(2, 3)), rng.normal(size=3) * 0.3
    perm, scale = np.array([2, 0, 1]), np.array([0.3, 2.0, 5.0])
    copy_w, copy_b = teacher_w[:, perm] * scale, teacher_b[perm] * scale
    wider_w = np.concatenate([copy_w, rng.normal(size=(2, 1))], axis=1)  # a 4-unit student, one extra unit
    wider_b = np.concatenate([copy_b, [0.7]])
    stranger_w, stranger_b = -teacher_w, -teacher_b  # every unit facing the other way
    students_w = np.stack([teacher_w, copy_w, stranger_w])
    students_b = np.stack([teacher_b, copy_b, stranger_b])
    found = teacher_recovery(students_w, students_b, teacher_w, teacher_b)
    np.testing.assert_allclose(found["error"][:2], 0.0, atol=1e-7)
    np.testing.assert_allclose(found["cosine"][:2], 1.0, atol=1e-12)
    np.testing.assert_array_equal(found["match"][0], [0, 1, 2])
    np.testing.assert_array_equal(perm[found["match"][1]], [0, 1, 2])  # student unit i holds teacher unit perm[i]
    # the stranger: the best assignment, checked against every permutation (brute force)
    import itertools

    def unit(w, b):
        both = np.concatenate([w.T, b[:, None]], axis=1)
        return both / np.linalg.norm(both, axis=1, keepdims=True)

    t, st = unit(teacher_w, teacher_b), unit(stranger_w, stranger_b)
    best = min(np.mean(np.linalg.norm(st[list(p)] - t, axis=1)) for p in itertools.permutations(range(3)))
    assert found["error"][2] == pytest.approx(best, rel=1e-9) and best > 0.5
    wider = teacher_recovery(wider_w[None], wider_b[None], teacher_w, teacher_b)
    assert wider["error"][0] < 1e-7 and 3 not in wider["match"][0]


def test_recent_loss_drop_reads_the_trajectory():
    trajectory = np.array([[1.0, 0.5, 0.2, 0.1], [1.0, 0.1, 0.1, 0.1]])
    steps = np.array([0, 10, 80, 99])
    drop = recent_loss_drop(trajectory, steps, np.array([0.1, 0.1]), total_steps=100)
    np.testing.assert_allclose(drop, [1.0, 0.0])  # column at step 80 = last <= 0.8 * 100


def test_other_activations_and_sizes_get_generic_labels():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (200, 3))
    wide = [
        {"w": rng.normal(size=(3, 5)), "b": rng.normal(size=5) * 0.1},
        {"w": rng.normal(size=(5, 1)), "b": np.zeros(1)},
    ]
    result = classify([wide], x=x, activation="tanh")
    # reference rank from the analytic gradient of tanh units
    grads = ((1 - np.tanh(x @ wide[0]["w"] + wide[0]["b"]) ** 2) * wide[1]["w"][:, 0]) @ wide[0]["w"].T
    eig, vectors = np.linalg.eigh(grads.T @ grads)
    eig, vectors = eig[::-1], vectors[:, ::-1]
    rank = int(np.sum(eig / eig.sum() > 0.05))
    slopes = grads @ vectors  # (n, d) along the principal directions
    balance = np.minimum((np.maximum(slopes, 0) ** 2).sum(0), (np.minimum(slopes, 0) ** 2).sum(0)) / (slopes**2).sum(0)
    expected = {
        1: "ridge" if balance[0] > 0.1 else "ramp or kinked_ramp",
        2: "bowl" if (balance[:2] > 0.1).all() else "fold",
    }
    assert result["label"][0] == expected.get(rank, f"rank{rank}")  # a shape word, the same on every task
    np.testing.assert_allclose(result["slope_balance"][0], balance, rtol=1e-4, atol=1e-6)
    flat = [{"w": rng.normal(size=(3, 5)), "b": rng.normal(size=5)}, {"w": np.zeros((5, 1)), "b": np.ones(1)}]
    assert classify([flat], x=x, activation="tanh", target_scale=1.0)["label"][0] == "constant"
    deep = [
        {"w": rng.normal(size=(3, 4)), "b": np.zeros(4)},
        {"w": rng.normal(size=(4, 4)), "b": np.zeros(4)},
        {"w": rng.normal(size=(4, 1)), "b": np.zeros(1)},
    ]
    # a deep *linear* network computes x.v: rank 1 with one slope (a plane: "ramp") whatever its weights
    assert classify([deep], x=x, activation="linear")["label"][0] == "ramp"


def test_classify_command_stores_types_and_figures(small_run_copy, tmp_path, capsys):
    from landscape.cli import main
    from landscape.commands.classify import report_lines
    from tests.test_types_tasks import assert_same_types

    figures = tmp_path / "figs"
    assert main(["classify", str(small_run_copy), "--figures", str(figures), "--sample", "64"]) == 0
    out = capsys.readouterr().out
    assert "95% CI (Wilson)" in out and "adjusted Rand index" in out
    with Run(small_run_copy) as run:  # the command prints and stores exactly what the library call computes
        fresh = classify_run(run, sample_size=64)
        assert_same_types(TypesResult.read(run), fresh)
        expected = report_lines(fresh, run.name, small_run_copy)
    assert out.startswith("\n".join(expected) + "\n") and fresh.problem.describe() in out
    with Run(small_run_copy) as run:
        labels = type_labels(run)
        assert labels.shape == (run.n_inits,)
        group = run.group("types")
        assert group["label"].dtype == np.int8
        summary = group["summary"]
        assert int(summary["count"].sum()) == run.n_inits
        np.testing.assert_allclose(summary["fraction"].sum(), 1.0)
        for name, index in type_representatives(run).items():
            assert labels[index] == name
        # every converged network's label is a shape; loss ranges come from that type's members
        loss = run.final_loss
        for i, name in enumerate(summary["names"]):
            members = loss[labels == name]
            assert summary["loss_min"][i] == pytest.approx(np.nanmin(members))
        assert group["clusters"]["assignment"].shape == (run.n_inits,)
    for name in (
        "type_fractions",
        "loss_curves_by_type",
        "active_fractions",
        "clusters_vs_types",
        "type_surfaces",
        "type_contours",
        "unit_weights",
    ):
        assert (figures / f"{name}.png").exists() and (figures / f"{name}.svg").exists()


def test_type_labels_without_group_says_what_to_run(small_run_path):
    with Run(small_run_path) as run, pytest.raises(KeyError, match="landscape classify"):
        type_labels(run)
    assert TypesResult.read(small_run_path) is None


def test_a_damaged_types_group_is_one_line_naming_the_command(small_run_copy):
    from landscape.storage import RunFileError, write_group

    write_group(small_run_copy, "types", {"label": np.zeros(64, np.int8)}, {"label_names": '["pyramid"]'})
    with pytest.raises(RunFileError) as info:
        TypesResult.read(small_run_copy)
    message = str(info.value)
    assert "\n" not in message and "summary/names" in message and f"landscape classify {small_run_copy}" in message


def test_representative_is_the_median_loss_network_of_the_typical_cause():
    from landscape.solutions import type_summary

    labels = np.array(["valley"] * 5 + ["dead"] * 3)
    loss = np.array([0.040, 0.041, 0.042, 0.043, 0.050, 0.07, 0.08, 0.09])
    causes = np.array(["three", "one dead", "three", "one dead", "one dead", "x", "x", "x"])
    plain = type_summary(labels, loss, names=["valley", "dead"])
    assert plain["representative"].tolist() == [2, 6]  # loss nearest the median (0.042), any cause
    typical = type_summary(labels, loss, names=["valley", "dead"], causes=causes)
    assert typical["representative"].tolist() == [3, 6]  # among "one dead" (3 of 5): nearest 0.042 is 0.043
    np.testing.assert_array_equal(typical["count"], [5, 3])  # counts untouched by the choice
