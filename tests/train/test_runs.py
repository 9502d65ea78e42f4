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
