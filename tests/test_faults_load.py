"""Mistakes found at load, before any compute (issue 19, defect 5 and the smaller ones of 7).

Each case was accepted on main (or, for the usage and the exit code, answered wrongly) and is refused here:
the config at ``load_config``/``parse_config`` with the field and a "did you mean"; numeric flags by argparse with
the subcommand's usage; a repeated run-table row naming both rows; a bad-input failure of a pipeline step exits 2.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
import yaml

from mixtures.cli import build_parser, main
from mixtures.config import parse_config
from mixtures.errors import ConfigError, TableError
from mixtures.runs_table import load_runs

pytestmark = pytest.mark.faults
DOMAINS = [{"name": n, "paths": [n]} for n in ("web", "code", "books")]


def _refused_config(**sections) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"domains": DOMAINS, **sections}, source="p.yaml")
    message = str(info.value)
    assert message.startswith("p.yaml: invalid configuration:"), message
    return message


# -- defect 5: the config ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sections, field", [
    ({"proxy": {"scales": [{"model": "micro", "tokens": 1000}, {"model": "mirco", "tokens": 2000}]}},
     "proxy.scales.1.model"),
    ({"validation": {"scale": {"model": "mirco", "tokens": 1000}}}, "validation.scale.model"),
    ({"online": {"methods": ["doremi"], "scale": {"model": "mirco", "tokens": 1000}}}, "online.scale.model"),
])
def test_an_unknown_model_preset_is_refused_with_did_you_mean(sections, field):
    message = _refused_config(**sections)
    assert f"{field}: unknown model preset 'mirco'; did you mean 'micro'?" in message
    assert "'tiny'" in message  # the presets are listed


@pytest.mark.parametrize("bounds, expected", [
    ({"web": [0.6, 1.0], "code": [0.5, 1.0]},
     "the sum of per-domain minima (web>=0.6 by bounds, code>=0.5 by bounds) is 1.1 > 1; lower some minimum"),
    ({"web": [0, 0.2], "code": [0, 0.3], "books": [0, 0.4]},
     "the sum of per-domain maxima (web<=0.2 by bounds, code<=0.3 by bounds, books<=0.4 by bounds) is 0.9 < 1"),
    ({"wbe": [0.1, 0.5]}, "constraints.bounds names unknown domain(s) ['wbe']; did you mean 'web'?"),
    ({"web": [0.5, 0.2]}, "bounds of 'web' are [0.5, 0.2]; need 0 <= min <= max <= 1"),
])
def test_infeasible_bounds_are_refused_at_load(bounds, expected):
    assert expected in _refused_config(constraints={"bounds": bounds})


def test_maximums_of_some_domains_leave_room_for_the_others():
    """Unbounded domains may take the rest: maxima below 1 on two of three domains are feasible."""
    config = parse_config({"domains": DOMAINS, "constraints": {"bounds": {"web": [0, 0.2], "code": [0, 0.3]}}})
    assert config.constraints.bounds["web"] == (0, 0.2)


def test_the_optimizer_refuses_the_same_bounds_with_the_same_check():
    from mixtures.errors import InfeasibleError
    from mixtures.optimize.problem import make_problem

    class Law:  # only what make_problem reads before it checks the bounds
        domains, targets, uses_scale = ["web", "code", "books"], ["loss_web"], False

    with pytest.raises(InfeasibleError, match=r"^bounds: infeasible constraints: the sum of per-domain minima"):
        make_problem(Law(), {"loss_web": 1.0}, bounds={"web": (0.6, 1.0), "code": (0.5, 1.0)})


@pytest.mark.parametrize("sections, expected", [
    ({"validation": {"mixtures": {"heavy_web": {"web": 0.7, "code": 0.7}}}},
     "validation.mixtures.heavy_web: weights sum to 1.4, not 1"),
    ({"validation": {"mixtures": {"neg": {"web": 1.5, "code": -0.5}}}}, "weight of 'code' is -0.5"),
    ({"validation": {"mixtures": {"typo": {"wbe": 1.0}}}},
     "validation.mixtures.typo names unknown domain(s) ['wbe']; did you mean 'web'?"),
    ({"target": {"domains": {"web": 0, "code": 0}}}, "target.domains: every weight is 0"),
    ({"proxy": {"seeds": [0, 1, 0]}}, "proxy.seeds: seed 0 is listed twice; list each once"),
    ({"validation": {"seeds": [-1]}}, "seed -1 is negative"),
    ({"proxy": {"scales": [{"model": "micro", "tokens": 1000}, {"model": "micro", "tokens": 1000}]}},
     "proxy.scales: scale model='micro' tokens=1000 is listed twice"),
    ({"constraints": {"max_epochs_per_domain": {"web": 0}}}, "max_epochs_per_domain of 'web' is 0.0; it must be > 0"),
    ({"launch": {"launcher": "slrum"}}, "launch.launcher: Input should be 'local', 'slurm' or 'k8s'; did you mean "
                                        "'slurm'?"),
    ({"online": {"methods": ["doremy"]}}, "online.methods.0: Input should be 'doremi', 'aioli', 'dga' or 'reweight'; "
                                          "did you mean 'doremi'?"),
    ({"launch": {"launcher": "k8s"}}, "launch.launcher is k8s but launch.k8s.image is not set"),
    ({"launch": {"slurm": {"time": "2h"}}}, "launch.slurm.time"),
    ({"launch": {"slurm": {"extra_args": ["constraint=a100"]}}}, "'constraint=a100' is not an sbatch option"),
    ({"launch": {"k8s": {"memory": "8GB"}}}, "launch.k8s.memory"),
])
def test_other_config_mistakes_are_refused_at_load(sections, expected):
    assert expected in _refused_config(**sections)


def test_valid_launch_settings_still_load():
    config = parse_config({"domains": DOMAINS, "launch": {
        "launcher": "k8s", "k8s": {"image": "registry.example/mixtures:1", "cpu": "500m", "memory": "512Mi"},
        "slurm": {"time": "1-02:00:00", "extra_args": ["--constraint=a100"]}}})
    assert config.launch.slurm.time == "1-02:00:00" and config.launch.k8s.cpu == "500m"


def test_mixtures_run_refuses_a_bad_preset_before_anything_starts(tmp_path, capsys, monkeypatch):
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump({"domains": DOMAINS, "proxy": {"scales": [{"model": "mirco", "tokens": 100}]}}))
    home = tmp_path / "dh"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("MIXTURES_ENV", raising=False)
    assert main(["run", str(config)]) == 2
    assert "unknown model preset 'mirco'; did you mean 'micro'?" in capsys.readouterr().err
    assert not home.exists()  # no instance, no daemon, no training


# -- defect 5: numeric flags ---------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, expected", [
    (["optimize", "--law", "l.json", "--tokens", "-5"], "argument --tokens: '-5' is not > 0"),
    (["optimize", "--law", "l.json", "--params", "0"], "argument --params: '0' is not > 0"),
    (["optimize", "--law", "l.json", "--max-epochs", "-1"], "argument --max-epochs: '-1' is not > 0"),
    (["optimize", "--law", "l.json", "--kl-max", "nan"], "argument --kl-max: 'nan' is not > 0"),
    (["optimize", "--law", "l.json", "--trials", "0"], "argument --trials: '0' is not > 0"),
    (["optimize", "--law", "l.json", "--seed", "-1"], "argument --seed: '-1' is not >= 0"),
    (["materialize", "--out", "o", "--size", "-3"], "argument --size: '-3' is not > 0"),
    (["materialize", "--out", "o", "--tolerance-floor", "2"], "argument --tolerance-floor: '2' is not between 0 and 1"),
    (["materialize", "--out", "o", "--split-documents", "4"], "argument --split-documents: '4' is not >= 16"),
    (["materialize", "--out", "o", "--jobs", "-1"], "argument --jobs: '-1' is not >= 0"),
    (["fit", "--runs", "r.csv", "--target", "loss_web", "--out", "l.json", "--folds", "1"],
     "argument --folds: '1' is not >= 2"),
    (["compare-methods", "--seeds", "0", "-1"], "argument --seeds: '-1' is not >= 0"),
    (["corpus", "build-demo", "--workers", "0"], "argument --workers: '0' is not > 0"),
])
def test_numeric_flags_are_range_checked_with_the_subcommands_usage(argv, expected, capsys):
    with pytest.raises(SystemExit) as done:  # parsed only: a flag accepted by mistake must not start any work
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and expected in err, err
    command = " ".join(word for word in argv[:2] if not word.startswith("-"))
    assert err.startswith(f"usage: mixtures {command} "), err


# -- defect 7: usage, flags that take several values, repeated rows --------------------------------------------


@pytest.mark.parametrize("argv, usage", [
    (["corpus", "catalog", "--bogus"], "usage: mixtures corpus catalog "),
    (["optimize", "--law", "l.json", "--bogus"], "usage: mixtures optimize "),
    (["--bogus"], "usage: mixtures [-h]"),
])
def test_an_unknown_argument_prints_the_subcommands_own_usage(argv, usage, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith(usage) and "unrecognized arguments: --bogus" in err, err


@pytest.mark.parametrize("command, flag, items", [
    (["optimize", "--law", "l.json"], "--bounds", ["web=0:0.3", "code=0.1:"]),
    (["optimize", "--law", "l.json"], "--target", ["loss_web=2", "loss_code=1"]),
    (["optimize", "--law", "l.json"], "--option", ["starts=4", "maxiter=50"]),
    (["materialize", "--out", "o"], "--weights", ["web=0.5", "code=0.5"]),
    (["fit", "--runs", "r.csv", "--out", "l.json"], "--target", ["loss_web", "loss_code"]),
])
def test_name_value_flags_take_several_values_or_repeat_alike(command, flag, items):
    parser = build_parser()
    several = parser.parse_args([*command, flag, *items])
    repeated = parser.parse_args([*command, *(arg for item in items for arg in (flag, item))])
    dest = flag.lstrip("-").replace("-", "_")
    assert getattr(several, dest) == getattr(repeated, dest) == items


def _table(path, rows):
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


def test_a_repeated_run_table_row_is_refused_naming_both_rows(tmp_path, capsys):
    rows = [{"run_id": f"r{i}", "w_web": w, "w_code": 1 - w, "n_tokens": 1000, "loss_web": 2 - w}
            for i, w in enumerate((0.1, 0.5, 0.9))]
    path = tmp_path / "runs.csv"
    _table(path, [*rows, {**rows[1], "loss_web": 1.7}])  # r1 pasted twice (another loss: a rerun with the same id)
    with pytest.raises(TableError) as info:
        load_runs(path)
    assert str(info.value).startswith(f"{path}: row 4 (line 5), run_id 'r1' repeats row 2 (the same run_id and "
                                      "n_tokens)")
    assert main(["fit", "--runs", str(path), "--target", "loss_web", "--out", str(tmp_path / "l.json")]) == 2
    assert "repeats row 2" in capsys.readouterr().err and not (tmp_path / "l.json").exists()

    _table(path, [*rows, {**rows[1], "n_tokens": 2000}])  # another eval point of r1 is a row of its own
    assert len(load_runs(path)) == 4
    anonymous = [{k: v for k, v in r.items() if k != "run_id"} for r in rows]
    _table(path, [*anonymous, anonymous[0]])  # without run ids, only an identical row is a repeat
    with pytest.raises(TableError, match=r"row 4 \(line 5\) repeats row 1 \(the same values in every column\)"):
        load_runs(path)


def test_imported_runs_refuse_a_repeated_row_too(tmp_path):
    from mixtures.runs_import import import_runs_frame

    config = parse_config({"domains": DOMAINS[:2]})
    frame = pd.DataFrame([{"run_id": "a", "w_web": 1.0, "w_code": 0.0, "loss_web": 2.0}] * 2)
    with pytest.raises(TableError, match="row 2, run_id 'a' repeats row 1"):
        import_runs_frame(frame, config)


# -- defect 7: a bad-input failure inside the pipeline exits 2 ------------------------------------------------


def _step_failing_with(error: Exception) -> dg.JobDefinition:
    @dg.op
    def step():
        raise error

    @dg.job
    def stage():
        step()

    return stage


def test_a_step_failing_on_bad_input_is_marked_for_exit_2():
    from assets.pipeline import StageFailed, execute

    with dg.instance_for_test() as instance:
        for error, bad_input in ((ConfigError("optimize.tokens: too few"), True), (RuntimeError("a bug"), False)):
            with pytest.raises(StageFailed) as info:
                execute(_step_failing_with(error), instance, tags={})
            assert info.value.bad_input is bad_input
            assert "step step failed:" in str(info.value) and str(error) in str(info.value)


def test_token_counts_written_1e6_load_as_integers(tmp_path):
    """YAML reads ``1e6`` as a string (its floats need a dot); a count written so is the integer it names."""
    from mixtures.config import load_config

    path = tmp_path / "p.yaml"
    path.write_text("domains: [{name: web, paths: [web]}]\nproxy: {scales: [{model: micro, tokens: 1e6}]}\n"
                    "dataset: {size: 2.5e7}\noptimize: {tokens: 1_000_000_000}\n")
    config = load_config(path)
    assert (config.proxy.scales[0].tokens, config.dataset.size, config.optimize.tokens) == (10**6, 25 * 10**6, 10**9)
    path.write_text("domains: [{name: web, paths: [web]}]\ndataset: {size: 2.5}\n")
    with pytest.raises(ConfigError, match="dataset.size: Input should be a valid integer"):
        load_config(path)
