"""Issue 19 (reliability as a new user meets it): each defect and the test that covers it.

1. Stopping a run stops it:
   tests/test_faults_pipeline.py::test_ctrl_c_stops_every_process_of_the_run,
   tests/test_faults_pipeline.py::test_kill_9_of_the_cli_stops_every_process_of_the_run
2. Two first runs at once leave the folder usable and train nothing twice:
   tests/test_faults_pipeline.py::test_two_first_runs_at_once_share_the_folder
3. The token cache follows the split; a domain without validation documents is refused at the catalog:
   tests/test_faults_token_cache.py::test_the_token_cache_follows_the_split,
   tests/test_faults_token_cache.py::test_a_domain_without_validation_documents_is_refused_at_the_catalog
4. No silent shortfalls in materialize (refused before writing, with the fix: split long documents):
   tests/test_materialize_shortfall.py::test_a_domain_of_one_huge_document_is_refused_before_writing_and_split_documents_fixes_it,
   tests/test_materialize_shortfall.py::test_the_config_key_splits_documents_and_the_tolerance_can_be_raised,
   tests/test_materialize_shortfall.py::test_an_overshoot_beyond_the_tolerance_is_refused
5. Config and flag mistakes are found at load, with a "did you mean":
   tests/test_faults_load.py::test_an_unknown_model_preset_is_refused_with_did_you_mean,
   tests/test_faults_load.py::test_infeasible_bounds_are_refused_at_load,
   tests/test_faults_load.py::test_the_optimizer_refuses_the_same_bounds_with_the_same_check,
   tests/test_faults_load.py::test_other_config_mistakes_are_refused_at_load,
   tests/test_faults_load.py::test_mixtures_run_refuses_a_bad_preset_before_anything_starts,
   tests/test_faults_load.py::test_numeric_flags_are_range_checked_with_the_subcommands_usage,
   tests/test_faults_load.py::test_token_counts_written_1e6_load_as_integers,
   tests/test_faults_inputs.py::test_typo_gets_did_you_mean_from_every_command
6. Opening the UI starts no work; a changed domain file starts exactly its refresh:
   tests/test_faults_pipeline.py::test_an_idle_daemon_launches_nothing_until_a_domain_file_changes
7. The smaller ones:
   - a blocking cv_quality failure names laws.min_spearman and says what to do:
     tests/test_faults_map.py::test_a_weak_law_is_refused_naming_laws_min_spearman_and_what_to_do
   - a successful run ends with the verdict and the paths of validation.json and the report:
     tests/test_faults_map.py::test_a_finished_run_says_its_verdict_progress_and_files
   - duplicate run-table rows are refused, naming both rows:
     tests/test_faults_load.py::test_a_repeated_run_table_row_is_refused_naming_both_rows,
     tests/test_faults_load.py::test_imported_runs_refuse_a_repeated_row_too
   - progress per run while trainings run:
     tests/test_faults_map.py::test_a_finished_run_says_its_verdict_progress_and_files
   - no MLflow "Add type hints" warning reaches the user:
     tests/test_faults_map.py::test_a_finished_run_says_its_verdict_progress_and_files
   - usage errors inside a subcommand print that subcommand's usage:
     tests/test_faults_load.py::test_an_unknown_argument_prints_the_subcommands_own_usage,
     tests/test_faults_load.py::test_numeric_flags_are_range_checked_with_the_subcommands_usage
   - --bounds and --weights (and every NAME=VALUE flag) take several values or repeat alike:
     tests/test_faults_load.py::test_name_value_flags_take_several_values_or_repeat_alike
   - the same corpus error exits 2 from catalog and from run; a bad-input failure in a step exits 2:
     tests/test_faults_inputs.py::test_mixtures_run_names_the_bad_line_and_exits_2_like_catalog,
     tests/test_faults_load.py::test_a_step_failing_on_bad_input_is_marked_for_exit_2
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults
TESTS = Path(__file__).resolve().parent


def test_every_test_named_in_the_map_exists():
    named = re.findall(r"tests/(test_\w+\.py)::\s*(test_\w+)", __doc__)
    assert len(named) >= 20
    for module, name in named:
        tree = ast.parse((TESTS / module).read_text(encoding="utf-8"))
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert name in functions, f"{module}::{name} is in the map but not in {module}"
    mapped = {int(n) for n in re.findall(r"^(\d)\. ", __doc__, re.M)}
    assert mapped == set(range(1, 8))


@pytest.mark.slow
def test_a_finished_run_says_its_verdict_progress_and_files(local_pipeline):
    """Read from the session's shared pipeline (no run of its own)."""
    root, _config, _env, first = local_pipeline
    lines = first.stdout.splitlines()
    verdict = json.loads((root / "out" / "validation.json").read_text())
    summary = [f"[mixtures] {line}" for line in verdict["summary"].splitlines()]
    assert summary and all(line in lines for line in summary), first.stdout[-3000:]
    assert f"[mixtures] validation.json: {root / 'out' / 'validation.json'}" in lines
    assert f"[mixtures] report.html: {root / 'out' / 'report.html'}" in lines
    design = json.loads((root / ".mixtures" / "validation_design.json").read_text())["runs"]
    progress = [line for line in lines if re.match(r"\[mixtures\] validation_job \[\d+/\d+\] \S+ ok", line)]
    assert len(progress) == len(design)  # one line per validation run, as it ends
    assert any(re.match(r"\[mixtures\] proxy_job \[1/\d+\] \S+ ok", line) for line in lines)
    assert "Add type hints" not in first.stdout + first.stderr


def test_a_weak_law_is_refused_naming_laws_min_spearman_and_what_to_do():
    """The cv_quality check's text (assets/laws.py yields it as the blocking check's description)."""
    from mixtures.evaluation.checks import law_quality_problem

    problem = law_quality_problem(0.21, 0.5)
    assert "0.210" in problem and "laws.min_spearman = 0.5" in problem
    assert "proxy.n_mixtures" in problem and "laws.law" in problem  # what to do
    assert law_quality_problem((0.4 + 0.6) / 2, 0.5) is None  # exactly at the threshold passes
