"""Evaluation: predict_case against a hand-made predictor, 2D models on 3D volumes slice by slice,
evaluate's rows against the metrics, its progress bar and figure title; load_model."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from train.configs import smoke
from train.data import phantom_cases, preprocess_case, uncrop
from train.evaluate import LESION_CLASS, evaluate, load_model, predict_case
from train.models import tiny_unet
from train.report.metrics import case_metrics
from train.step import create_train_state, make_predict_fn


def _threshold_predictor(params, windows):
    """Logits that say "lesion" where channel 0 exceeds ``params`` (an oracle independent of any model)."""
    lesion = windows[..., 0] > params
    return jnp.stack([jnp.where(lesion, -5.0, 5.0), jnp.where(lesion, 5.0, -5.0)], axis=-1)


def test_predict_case_blends_windows_into_the_predictors_mask():
    config = smoke.get_config()
    config.data.patch_size = (16, 16)  # smaller than the image: several overlapping windows
    case = preprocess_case(phantom_cases(n=1, dims=2, shape=(32, 32))[0])
    mask = predict_case(jax.jit(_threshold_predictor), 1.5, case, config)
    assert mask.shape == case.spatial_shape and mask.dtype == bool
    np.testing.assert_array_equal(mask, case.image[..., 0] > 1.5)


def test_a_2d_model_predicts_a_3d_volume_slice_by_slice():
    config = smoke.get_config()
    config.data.patch_size = (16, 16)
    case = preprocess_case(phantom_cases(n=1, dims=3, shape=(16, 20, 20))[0])
    mask = predict_case(jax.jit(_threshold_predictor), 0.5, case, config)
    np.testing.assert_array_equal(mask, case.image[..., 0] > 0.5)
    config.data.patch_size = (8,)
    with pytest.raises(ValueError, match="does not fit patch_size"):
        predict_case(jax.jit(_threshold_predictor), 0.5, case, config)


def test_evaluate_rows_are_the_metrics_of_each_case_with_progress_and_a_titled_figure(tmp_path, capsys):
    config = smoke.get_config()
    raws = phantom_cases("site_b_3t", n=2, dims=2, shape=(32, 32), seed=1)
    domains = {"site_b_3t": [(r, preprocess_case(r)) for r in raws]}
    graphdef, state = create_train_state(tiny_unet(in_channels=2), optax.adam(1e-3))
    summary = evaluate(graphdef, state.params, domains, config, tmp_path, run="my_run", progress=True)
    predict = jax.jit(make_predict_fn(graphdef))
    for row, (raw, pre) in zip(summary["metric_per_case"], domains["site_b_3t"], strict=True):
        pred = uncrop(predict_case(predict, state.params, pre, config), pre)
        expected = case_metrics(pred, raw.label == LESION_CLASS, r=config.eval.ndsc_r, min_size=10,
                                voxel_volume=float(np.prod(raw.spacing)))
        assert row["case"] == raw.name and row["domain"] == "site_b_3t"
        for k, v in expected.items():
            assert row[k] == pytest.approx(v, nan_ok=True), k
    assert json.loads((tmp_path / "summary.json").read_text())["per_domain"]["site_b_3t"]["dice"]["n"] == 2
    assert "evaluate my_run" in capsys.readouterr().err  # the progress bar, with the run's name
    assert (tmp_path / "prediction.png").stat().st_size > 0


def test_load_model_gives_the_trained_parameters_and_names_missing_steps(tmp_path):
    from train.loop import train

    config = smoke.get_config()
    result = train(config, tmp_path, progress=False)
    model = load_model(tmp_path)
    assert model.step == 4 and model.channel_names == ("FLAIR", "T1w") and model.skipped == ()
    for a, b in zip(jax.tree.leaves(result.state.params), jax.tree.leaves(model.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert load_model(tmp_path / "checkpoints", step=2).step == 2
    with pytest.raises(FileNotFoundError, match=r"no complete checkpoint of step 3 \(have \[2, 4\]\)"):
        load_model(tmp_path, step=3)
