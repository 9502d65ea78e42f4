"""train_and_evaluate: an nnU-Net folder trains and evaluates through the same path as the phantom."""

from train.configs import smoke
from train.data import phantom_cases, write_dataset
from train.runs import train_and_evaluate


def test_nnunet_folder_trains_through_the_same_path(tmp_path):
    root = write_dataset(tmp_path / "Dataset599_Test", phantom_cases("site_c_1.5t_se", n=5, dims=2, shape=(32, 32)))
    config = smoke.get_config()
    config.data.source = str(root)
    config.data.eval_domains = (str(root), "site_a_1.5t")
    config.data.n_eval = 1
    config.data.cache_dir = str(tmp_path / "cache")
    summaries = train_and_evaluate(config, tmp_path / "run", progress=False)
    (summary,) = summaries.values()
    assert set(summary["per_domain"]) == {"Dataset599_Test", "site_a_1.5t"}
    assert len(summary["metric_per_case"]) == 2
    assert any((tmp_path / "cache").iterdir())


def _result(step: int, validation):
    from types import SimpleNamespace

    from train.loop import TrainResult

    return TrainResult(graphdef=None, state=SimpleNamespace(step=step), steps_per_second=1.0, validation=validation)


def test_the_training_line_says_whether_the_stopping_rule_was_met():
    from train.loop import Validation
    from train.runs import training_line

    config = smoke.get_config()
    config.num_steps, config.validation.every, config.validation.patience = 400, 100, 2
    config.validation.min_delta = 0.01
    rec = Validation()
    for step, score in ((100, 0.5), (200, 0.7), (300, 0.705), (400, 0.70)):  # 2 scores without a gain > 0.01
        rec.update(step, score, min_delta=0.01, patience=2)
    assert training_line(config, _result(400, rec)) == (
        "converged: stopped at step 400 after 2 scores without a gain above 0.01; best validation Dice 0.700 at "
        "step 200 (evaluated)")
    rising = Validation()
    for step in (100, 200, 300, 400):
        rising.update(step, step / 1000, min_delta=0.01, patience=2)
    assert training_line(config, _result(400, rising)).startswith(
        "NOT converged: used the whole budget of 400 steps before the stopping rule was met (stopping rule: 2 "
        "scores without a gain); best validation Dice 0.400 at step 400")
    assert training_line(config, _result(300, rising)).startswith("interrupted at step 300 of 400")
    assert training_line(config, _result(50, Validation())) == (
        "50 of 400 steps, no validation score yet (the last step is evaluated)")
    assert training_line(config, _result(400, None)) == "400 of 400 steps, no validation (the last step is evaluated)"
