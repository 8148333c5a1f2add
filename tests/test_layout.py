"""The 0.2.0 layout: old import paths, package data, theory apart from simulation."""

from __future__ import annotations

import importlib

import pytest

OLD_PATHS = [
    "linclip.model",
    "linclip.learner",
    "linclip.filters",
    "linclip.experiments",
    "linclip.theory",
    "linclip.rates",
    "linclip.asymptotics",
    "linclip.score_law",
    "linclip.prediction",
    "linclip.reproduce",
    "linclip.filtered_moments",
    "linclip.perturbation",
    "linclip.plotting",
    "linclip.cli",
    "linclip.cli_predict",
    "linclip.cli_reproduce",
]

OLD_NAMES = {
    "linclip.model": ["BimodalModel", "PairSample", "StreamingSample", "random_orthonormal"],
    "linclip.learner": ["fit", "fit_pca", "CrossCovarianceAccumulator", "loss_gradients"],
    "linclip.reproduce": [
        "run_experiment",
        "run_fused_trial",
        "run_methods_fused",
        "experiment_config",
        "summarize_trials",
        "load_trials",
        "plot_fig3a",
        "first_order_errors",
        "CSV_COLUMNS",
        "limit_blas_threads",
    ],
    "linclip.prediction": [
        "predict_filtered",
        "compare_filtered",
        "simulate_filtered",
        "optimal_keep_fraction",
        "first_order_factor",
    ],
    "linclip.asymptotics": [
        "predict_unfiltered",
        "compare_unfiltered",
        "expected_max",
        "sample_cross_covariance",
        "simulate_unfiltered_errors",
    ],
    "linclip.score_law": [
        "ScoreLaw",
        "kept_moments",
        "even_r_closed_form",
        "sample_signal_coordinates",
        "rate_factor_crossing",
    ],
    "linclip.rates": [
        "fit_rate",
        "locate_breakdown",
        "mean_sem",
        "perturbation_anatomy",
        "proposition1_instance",
        "wedin_chain_bound",
        "trial_pairs",
    ],
    "linclip.theory": ["corollary1_rate", "sample_size_condition", "score_moments"],
    "linclip.experiments": ["run_grid", "run_trial", "summarize", "trial_seed", "MethodSpec"],
    "linclip.filters": ["run_method", "METHODS", "bilinear_score", "FilterOutcome"],
    "linclip.plotting": ["use_book_style", "PALETTE", "fit_loglog_slope", "SlopeFit"],
    "linclip.cli": ["main", "build_parser", "SUBCOMMANDS", "add_model_arguments"],
}


@pytest.mark.parametrize("path", OLD_PATHS)
def test_old_import_paths_still_work(path):
    module = importlib.import_module(path)
    for name in OLD_NAMES.get(path, []):
        assert hasattr(module, name), f"{path}.{name}"


def test_load_result_resolves_package_data():
    from linclip.experiments import load_result, summarize

    frame, log = load_result("fig3a_paper")
    assert log["experiment"]["n"] == 10_000_000
    assert set(frame["method"]) == {"none", "teacher-split", "oracle-clean", "oracle-score"}
    assert set(frame["sampler"]) == {"exact"}
    assert frame.groupby("method")["trial"].nunique().min() == 95
    summary = summarize(frame)  # the one summariser reads the reproduce CSV too
    assert {"err_mean", "kept_fraction_mean", "err_sem"} <= set(summary.columns)
    with pytest.raises(ValueError, match="name must be one of"):
        load_result("fig9")


def test_theory_never_imports_simulation():
    """No module of linclip.theory imports the engine, the sources or the experiments, and only
    closed_forms imports sympy (checked on the source: importing any submodule runs the
    package's curated ``__init__``)."""
    import ast
    from pathlib import Path

    import linclip.theory

    forbidden = ("experiments", "filters", "data.sources", "data.exact", "cli", "plotting")
    for path in Path(linclip.theory.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = (node.module or "").removeprefix(".")
                assert not target.startswith(forbidden), f"{path.name} imports {target}"
            if isinstance(node, (ast.Import, ast.ImportFrom)) and path.name != "closed_forms.py":
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any(n.split(".")[0] == "sympy" for n in names), path.name


def test_version_in_one_place():
    import linclip
    from linclip._version import __version__

    assert linclip.__version__ == __version__ == "0.2.0"


def test_packaged_result_is_the_run_in_book_data():
    """The package copy and the run output in book/data must not drift apart."""
    from pathlib import Path

    from linclip.experiments.archive import result_path

    book_data = Path(__file__).resolve().parents[1] / "book" / "data"
    for kind, suffix in (("trials", "_trials.csv"), ("run", "_run.json")):
        packaged = result_path("fig3a_paper", kind).read_bytes()
        assert packaged == (book_data / ("fig3a_paper" + suffix)).read_bytes(), kind
