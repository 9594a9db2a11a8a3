"""The HTML comparison report, built from a real MLflow sqlite store holding realistic runs."""

from __future__ import annotations

import base64
import io
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from mixtures.cli import main
from mixtures.errors import TrackingError
from mixtures.report import build_report, log_report, render_report
from mixtures.tracking import Tracker
from tests.mlflow_runs import OPTIMAL, VALIDATION_OBJECTIVE, log_experiment, log_verdict


@pytest.fixture(scope="module")
def store(tmp_path_factory, _migrated_mlflow_db):
    """One store for the module: the logged experiment ('exp') and what was logged."""
    folder = tmp_path_factory.mktemp("report-store")
    shutil.copy(_migrated_mlflow_db, folder / "mlflow.db")
    tracker = Tracker(f"sqlite:///{folder / 'mlflow.db'}", "exp")
    return tracker, log_experiment(tracker)


class _Page(HTMLParser):
    """Section ids, table cell texts and image sources of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.sections, self.images, self.cells, self._cell = [], [], [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None


def _row(text: str, first_cell: str) -> list[str]:
    """The cells of the first table row that starts with ``first_cell`` in a section."""
    for row in re.findall(r"<tr>(.*?)</tr>", text):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row starting with {first_cell!r}")


def _rows(text: str) -> list[list[str]]:
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", text)]


def _section(text: str, anchor: str) -> str:
    return re.search(rf'<section id="{anchor}">(.*?)</section>', text, re.S).group(1)


def test_report_shows_every_section_with_the_logged_numbers(store, tmp_path):
    tracker, logged = store
    path = build_report(tracker, "exp", out_path=tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    page = _Page(text)
    assert page.sections == ["overview", "mixtures", "proxy-runs", "laws", "optimizer", "validation", "online"]

    # mixtures side by side: the optimum's weights next to the baselines
    mixtures = _section(text, "mixtures")
    assert _row(mixtures, "code")[:4] == ["code", f"{OPTIMAL['code']:.4g}", "0.2", "0.3333"]
    assert _row(mixtures, "objective")[1] == f"{logged.predicted_objective:.4g}"  # predicted
    # proxy runs: every run by name, with its final (last-step) loss
    proxy = _section(text, "proxy-runs")
    assert "5 proxy runs, 1 scale(s), 5 mixtures." in proxy
    for name in ("natural", "uniform", "dirichlet-000", "dirichlet-001", "dirichlet-002"):
        assert f"{name}.tiny.4000.s0" in proxy
    final = tracker.client.get_run(logged.proxy_runs[0]).data.metrics["loss_code"]
    assert _row(proxy, "natural.tiny.4000.s0")[proxy_col(proxy, "loss_code")] == f"{final:.4g}"
    # law fits: family and cv metrics per target
    laws = _section(text, "laws")
    for i, (target, rho) in enumerate(logged.cv_spearman.items()):
        assert _row(laws, target)[:3] == [target, "exp", f"{rho:.4g}"]
        assert _row(laws, target)[proxy_col(laws, "extrapolation_mre")] == f"{0.02 + 0.005 * i:.4g}"
    # optimizer
    optimizer = _section(text, "optimizer")
    assert _row(optimizer, "optimal_mixture")[1:5] == ["slsqp", "1.514", "412", "0.84"]
    # validation: the stored verdict as it is (mean/std over 3 seeds; each comparison's difference, Welch's
    # p-value and outcome), checked here against numbers computed independently
    validation = _section(text, "validation")
    best = np.array(VALIDATION_OBJECTIVE["optimal"])
    for name in ("natural", "uniform"):
        other = np.array(VALIDATION_OBJECTIVE[name])
        p = stats.ttest_ind(best, other, equal_var=False).pvalue
        assert _row(validation, name)[:4] == [name, "3", f"{other.mean():.4g}", f"{other.std(ddof=1):.4g}"]
        row = [c for c in _rows(validation) if c and c[0] == name and c[-1] in ("win", "tie", "loss")][0]
        assert row[1] == f"{other.mean() - best.mean():.4g}" and row[4] == f"{p:.4g}" and row[5] == "win"
    assert _row(validation, "optimal")[:4] == ["optimal", "3", f"{best.mean():.4g}", f"{best.std(ddof=1):.4g}"]
    assert "no online runs logged yet" in _section(text, "online")
    # plots: mixtures, loss vs weight, objective vs weight, the law's artifact, solver bars, validation
    assert len(page.images) == 6
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        image.load()
        assert image.format == "PNG" and image.width > 200 and image.height > 150
    assert "http" not in "".join(re.findall(r'<(?:link|script)[^>]*>', text))  # self-contained


def proxy_col(section: str, column: str) -> int:
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", section).group(1)
    names = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<th[^>]*>(.*?)</th>", header)]
    return names.index(column)


def test_selected_runs_only_and_sections_degrade(store):
    tracker, logged = store
    text = render_report(tracker, run_ids=[logged.law_fit_run])
    assert "no proxy runs logged yet" in text and "no optimization runs logged yet" in text
    assert "no validation runs logged yet" in text and "no mixtures logged yet" in text
    assert "no law fits logged yet" not in text and "loss_docs" in _section(text, "laws")
    with pytest.raises(TrackingError, match=r"run\(s\) \['0000'\] are not in MLflow experiment 'exp'"):
        render_report(tracker, run_ids=["0000"])


def test_empty_experiment_says_nothing_is_logged_yet(store):
    tracker, _ = store
    empty = Tracker(tracker.uri, "empty")
    empty.experiment_id  # created, with no runs
    text = render_report(empty)
    for message in ("no runs logged yet in this experiment", "no proxy runs logged yet", "no law fits logged yet",
                    "no optimization runs logged yet", "no validation runs logged yet", "no online runs logged yet"):
        assert message in text
    assert "<img" not in text


def test_text_from_mlflow_is_escaped_and_online_trajectories_are_drawn(store):
    tracker, _ = store
    other = Tracker(tracker.uri, "hostile")
    name = '<script>alert("x")</script>'
    with other.run(name, tags={"mixtures.role": "online_run", "mixtures.mixture_name": name}) as run:
        run.log_params({"w_a": 0.5, "w_b": 0.5, "mixture_name": name, "seed": 0})
        for step, wa in ((100, 0.5), (200, 0.6), (300, 0.7)):
            run.log_metrics({"weight.a": wa, "weight.b": 1 - wa, "loss_a": 2.0 - wa}, step=step)
    text = render_report(other)
    assert "<script>" not in text and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    online = _section(text, "online")
    assert online.count("<img") == 1 and "weight trajectory" in online
    assert _row(online, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")[-1] == "1.3"  # final loss_a


def test_log_report_logs_an_artifact_left_out_of_later_reports_which_are_identical(store, tmp_path):
    tracker, _ = store
    path = build_report(tracker, out_path=tmp_path / "any-name.html")
    link = log_report(tracker, path)
    run = tracker.client.get_run(link.run_id)
    assert run.data.tags["mixtures.role"] == "report" and run.info.status == "FINISHED"
    assert link.artifact_uri.endswith("/report.html") and link.run_id in link.url
    assert link.artifact_url == link.artifact_uri and link.artifact_uri.startswith("file://")
    local = tracker.client.download_artifacts(link.run_id, "report.html", str(tmp_path))
    assert open(local, "rb").read() == path.read_bytes()
    # the report run itself is not reported, and the same runs give the same bytes
    assert render_report(tracker) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case, objectives", [
    ("win", {"optimal": [1.0, 1.01, 0.99], "natural": [1.2, 1.21, 1.19]}),
    ("tie", {"optimal": [1.0, 1.2, 0.8], "natural": [1.01, 1.21, 0.81]}),
    ("loss", {"optimal": [1.3, 1.31, 1.29], "natural": [1.0, 1.01, 0.99]}),
])
def test_the_report_shows_the_stored_verdict_not_its_own(store, case, objectives):
    """The report renders validation.json's comparisons as stored: same outcome, same numbers, for a win, a
    tie and a loss (it used to recompute them with another rule)."""
    tracker, _ = store
    own = Tracker(tracker.uri, f"verdict-{case}")
    document = log_verdict(own, objectives)
    validation = _section(render_report(own), "validation")
    (stored,) = document["comparisons"]
    assert stored["outcome"] == case
    row = [c for c in _rows(validation) if c and c[0] == "natural" and c[-1] in ("win", "tie", "loss")][0]
    assert row == ["natural", f"{stored['improvement']:.4g}", f"{stored['relative']:.4g}", f"{stored['noise']:.4g}",
                   f"{stored['p_value']:.4g}", case]
    assert ("beats every baseline" in validation) == (case == "win")


def test_cli_writes_logs_and_refuses_an_unknown_experiment(store, tmp_path, capsys):
    tracker, _ = store
    out = tmp_path / "cli.html"
    assert main(["report", "--tracking-uri", tracker.uri, "--experiment", "exp", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out.resolve()}" in printed and "logged to MLflow run" in printed
    assert "Validation outcome" in out.read_text(encoding="utf-8")
    assert main(["report", "--tracking-uri", tracker.uri, "--experiment", "nope", "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "mixtures: error: MLflow experiment 'nope' does not exist" in err and "'exp'" in err
    assert "Traceback" not in err and not (tmp_path / "x.html").exists()
    missing = f"sqlite:///{tmp_path / 'absent.db'}"
    with pytest.raises(TrackingError, match="no MLflow store at .*absent.db"):
        build_report(missing, "exp", out_path=tmp_path / "y.html")
    (tmp_path / "a-file").write_text("")
    assert main(["report", "--tracking-uri", tracker.uri, "--experiment", "exp", "--no-log",
                 "--out", str(tmp_path / "a-file" / "r.html")]) == 2
    assert "cannot write the report to" in capsys.readouterr().err


def test_cli_takes_store_and_experiment_from_a_config(store, tmp_path, capsys):
    import yaml

    tracker, _ = store
    config = {"domains": [{"name": "code", "paths": ["code"]}], "tracking": {"uri": tracker.uri, "experiment": "exp"}}
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "from-config.html"
    assert main(["report", "--config", str(tmp_path / "project.yaml"), "--out", str(out), "--no-log"]) == 0
    assert "logged to MLflow" not in capsys.readouterr().out
    assert "mixtures report: exp" in out.read_text(encoding="utf-8")


def test_validation_json_and_several_solvers_are_shown(store):
    tracker, _ = store
    other = Tracker(tracker.uri, "verdict")
    with other.run("pipeline", tags={"mixtures.role": "pipeline"}) as run:
        run.log_dict({"verdict": "improved", "note": "<b>bold</b>"}, "validation.json")
    for solver, (a, b) in {"slsqp": (1.40, 1.70), "tpe": (1.45, 1.60), "random": (1.50, 1.75)}.items():
        with other.run(f"opt-{solver}", tags={"mixtures.role": "optimization"}) as opt:
            opt.log_params({"w_x": 0.5, "w_y": 0.5, "solver": solver})
            opt.log_metrics({"predicted.loss_x": a, "predicted.loss_y": b, "predicted_objective": (a + b) / 2})
    text = render_report(other)
    validation = _section(text, "validation")
    assert "no validation runs logged yet" in validation
    optimizer = _section(text, "optimizer")
    assert [_row(optimizer, f"opt-{s}")[1] for s in ("slsqp", "tpe", "random")] == ["slsqp", "tpe", "random"]
    assert optimizer.count("<img") == 2  # the solvers' weights and their Pareto front (random is dominated)


def test_laws_section_shows_the_noise_floor_regret_and_the_decision(store, tmp_path):
    from tests.mlflow_runs import DECISION, GAIN

    tracker, _ = store
    laws = _section(build_report(tracker, "exp", out_path=tmp_path / "r.html").read_text(encoding="utf-8"), "laws")
    assert _row(laws, "noise floor (seed spread)")[1] == f"{DECISION.noise_floor:.4g}"
    assert _row(laws, "out-of-fold regret@1")[1] == f"{DECISION.oof_regret_at_1:.4g}"
    assert "above the noise floor: the law&#x27;s first pick is measurably not the best" in laws  # 0.0123 > 0.0041
    assert "Decision: below the noise floor." in laws and f"only {GAIN:.4f} better than uniform" in laws
