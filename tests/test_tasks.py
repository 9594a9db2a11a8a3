"""Task targets: the item schema, exact scoring with a known (bigram) model under two tokenizers, the trainer's
task columns and the command trainer's contract, the objective's accuracy terms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mixtures.config import TaskConfig, parse_config
from mixtures.errors import ConfigError
from mixtures.objective import objective_of, objective_weights
from mixtures.runs import RunSpec
from mixtures.tasks import TaskError, TaskItem, chance_level, read_items
from mixtures.tokenizers import ByteTokenizer
from mixtures.trainers.command import ContractError, parse_output
from mixtures.trainers.result import run_rows
from mixtures.trainers.task_eval import TaskEvaluator, encode_task, score_encoded
from tests.proxy_fixture import fixture_catalog, fixture_config


def _write(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


GOOD = {"context": "The sky is", "choices": [" blue.", " loud."], "answer": 0}


@pytest.mark.parametrize(("bad", "says"), [
    ({"context": "x", "choices": [], "answer": 0}, "'choices' must be a list of at least two"),
    ({"context": "x", "answer": 0}, "'choices' must be a list of at least two"),
    ({"context": "x", "choices": ["a", "b"], "answer": 2}, "'answer' must be an index from 0 to 1"),
    ({"context": "x", "choices": ["a", "b"], "answer": -1}, "'answer' must be an index from 0 to 1"),
    ({"context": "   ", "choices": ["a", "b"], "answer": 0}, "'context' must be a non-empty string"),
    ({"context": "x", "choices": ["a", ""], "answer": 0}, "choices[1] must be a non-empty string"),
    ("{not json", "not valid JSON"),
])
def test_a_bad_item_is_refused_by_its_line(tmp_path, bad, says):
    path = _write(tmp_path / "task.jsonl", [GOOD, "", GOOD, bad, GOOD])
    with pytest.raises(TaskError) as caught:
        read_items(path)
    assert f"{path}: line 4" in str(caught.value) and says in str(caught.value)


def test_good_items_load_in_order_and_blank_lines_are_skipped(tmp_path):
    second = {"context": "1 + 1 =", "choices": [" 3", " 2", " 11"], "answer": 1, "id": "sum"}
    items = read_items(_write(tmp_path / "task.jsonl", [GOOD, "", second]))
    assert items == [TaskItem("The sky is", (" blue.", " loud."), 0), TaskItem("1 + 1 =", (" 3", " 2", " 11"), 1)]
    assert chance_level(items) == pytest.approx((1 / 2 + 1 / 3) / 2)
    with pytest.raises(TaskError, match="has no items"):
        read_items(_write(tmp_path / "empty.jsonl", [""]))


def test_task_names_are_unique_in_the_config(tmp_path):
    data = {"domains": [{"name": "a", "paths": ["a"]}],
            "target": {"tasks": [{"name": "t", "path": "t.jsonl"}, {"name": "t", "path": "u.jsonl"}]}}
    with pytest.raises(ConfigError, match="duplicate task name"):
        parse_config(data, base_dir=tmp_path)


class Bigram:
    """A fixed bigram model: the logits of the next token are the log-probabilities ``logp[previous]``."""

    def __new__(cls, logp: np.ndarray):
        import torch

        class Module(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.table = torch.nn.Parameter(torch.tensor(logp, dtype=torch.float32), requires_grad=False)

            def forward(self, idx):
                return self.table[idx]

        return Module()


def _score(model, items, tokenizer, seq_len=64):
    import contextlib

    encoded = encode_task(items, tokenizer, seq_len)
    return score_encoded(model, encoded, pad_id=tokenizer.eod_id, chunk=2, device="cpu",
                         autocast=contextlib.nullcontext)


def _byte_bigram() -> np.ndarray:
    """Uniform next bytes, except after ``a``: ``b`` with 1/2, ``c`` with 1/4, the rest share 1/4."""
    p = np.full((256, 256), 1 / 256)
    p[ord("a")] = 0.25 / 254
    p[ord("a"), ord("b")], p[ord("a"), ord("c")] = 0.5, 0.25
    return np.log(p)


BYTE_ITEMS = [
    TaskItem("xa", ("b", "c"), 0),        # b (1 bit/byte) beats c (2): right
    TaskItem("xa", ("b", "c"), 1),        # the same, answer c: wrong
    TaskItem("za", ("cc", "b", "d"), 0),  # cc = 2 + 8 bits over 2 bytes (5/byte) loses to b (1): wrong
]


def test_accuracy_and_task_loss_of_a_known_bigram_are_exact_under_bytes():
    score = _score(Bigram(_byte_bigram()), BYTE_ITEMS, ByteTokenizer())
    assert score.accuracy == pytest.approx(1 / 3, abs=1e-12)
    # correct continuations: b (1 bit), c (2 bits), cc (2 + 8 bits) over 1 + 1 + 2 bytes
    assert score.loss == pytest.approx(13 / 4, rel=1e-6)
    assert score.chance == pytest.approx((1 / 2 + 1 / 2 + 1 / 3) / 3)


def test_a_long_context_is_cut_from_the_left_and_a_choice_longer_than_the_context_is_refused():
    items = [TaskItem("y" * 500 + "xa", ("b", "c"), 0)]
    score = _score(Bigram(_byte_bigram()), items, ByteTokenizer(), seq_len=4)
    assert (score.accuracy, score.loss) == (1.0, pytest.approx(1.0, rel=1e-6))
    with pytest.raises(TaskError, match="item 1, choice 1 has 5 tokens; a choice needs 1 to 4 tokens"):
        encode_task([TaskItem("xa", ("b", "ccccc"), 0)], ByteTokenizer(), 4, name="cloze")


def test_task_loss_is_bits_per_byte_under_a_word_tokenizer(tmp_path):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    from mixtures.tokenizers.hf import load_tokenizer_file

    vocab = {"<|endoftext|>": 0, "[UNK]": 1, "the": 2, " cat": 3, " dog": 4, " sat": 5}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(" ?[a-z]+"), behavior="isolated")
    backend.add_special_tokens(["<|endoftext|>"])
    backend.save(str(tmp_path / "tokenizer.json"))
    tokenizer = load_tokenizer_file(tmp_path / "tokenizer.json", name="hf", eod_token=None)
    assert [list(a) for a in tokenizer.encode_batch(["the", " cat sat"])] == [[2], [3, 5]]
    p = np.full((6, 6), 1 / 6)
    p[2] = [0.05, 0.05, 0.05, 0.5, 0.25, 0.1]   # after "the": " cat" 1 bit, " dog" 2 bits
    p[3] = [0.1, 0.1, 0.1, 0.1, 0.1, 0.5]       # after " cat": " sat" 1 bit
    items = [TaskItem("the", (" cat", " dog"), 1),            # " dog": 2 bits / 4 bytes; " cat" wins: wrong
             TaskItem("the", (" dog", " cat sat"), 1)]        # " cat sat": 2 bits / 8 bytes beats 2 / 4: right
    score = _score(Bigram(np.log(p)), items, tokenizer)
    assert score.accuracy == 0.5
    assert score.loss == pytest.approx((2 + 2) / (4 + 8), rel=1e-6)  # bits over bytes, not over tokens


def test_the_objective_maximises_weighted_accuracies_beside_minimised_losses(tmp_path):
    config = fixture_config(tmp_path)
    config.target.tasks = [TaskConfig(name="cloze", path="c.jsonl", weight=1.0),
                           TaskConfig(name="shown", path="s.jsonl")]  # weight 0: reported, not optimised
    weights = objective_weights(config)
    assert weights == {"loss_docs": 0.5, "acc_cloze": 0.5}
    assert objective_of({"loss_docs": 1.2, "acc_cloze": 0.4, "acc_shown": 0.9}, weights) == pytest.approx(0.4)
    import pandas as pd

    rows = pd.DataFrame({"loss_docs": [1.2, 1.2], "acc_cloze": [0.4, 0.6]})
    assert list(objective_of(rows, weights)) == pytest.approx([0.4, 0.3])  # higher accuracy, lower objective


def test_task_columns_in_the_run_table_and_the_command_contract(tmp_path):
    config = fixture_config(tmp_path)
    config.target.tasks = [TaskConfig(name="cloze", path="c.jsonl")]
    names = config.domain_names + ["docs"]
    document = {"n_params": 10, "evals": [
        {"n_tokens": 100, "loss": {"docs": 1.5}, "tasks": {"cloze": {"loss": 2.0, "acc": 0.3}}},
        {"n_tokens": 200, "loss": {"docs": 1.4}}]}
    _, _, evals = parse_output(document, names, ["cloze"])
    spec = RunSpec(RunSpec.make_run_id("m", "micro", 200, 0), "m", {d: 0.2 for d in config.domain_names},
                   "micro", 200, 0)
    table = run_rows(config, spec, evals, n_params=10, trainer="command")
    assert table["taskloss_cloze"].iloc[0] == 2.0 and table["acc_cloze"].iloc[0] == 0.3
    assert table[["taskloss_cloze", "acc_cloze"]].iloc[1].isna().all()  # not measured there
    for bad, says in [({"cloze": {"acc": 1.5}}, "tasks.cloze.acc = 1.5; it must be a fraction in [0, 1]"),
                      ({"cloze": {"loss": math.inf}}, "tasks.cloze.loss = inf"),
                      ({"quiz": {"acc": 0.5}}, "unknown task(s) ['quiz']")]:
        document["evals"][0]["tasks"] = bad
        with pytest.raises(ContractError, match=None) as caught:
            parse_output(document, names, ["cloze"])
        assert says in str(caught.value)


def test_the_builtin_trainer_measures_each_task_at_every_eval_point(tmp_path, monkeypatch):
    """One short real run (micro, 8k tokens): the stored columns are the averaged weights' exact scores."""
    import contextlib

    import torch

    from mixtures.trainers import train_proxy
    from mixtures.trainers.builtin import CHECKPOINT, WeightAverage
    from mixtures.trainers.model import build_model, get_preset

    monkeypatch.setenv("MIXTURES_TRAIN_THREADS", "1")
    task = _write(tmp_path / "cloze.jsonl", [
        {"context": "def main():\n    return", "choices": [" 0\n", " the court held"], "answer": 0},
        {"context": "Dear John,\nThank you for", "choices": [" your letter.", "();\n}"], "answer": 0},
        {"context": "The court", "choices": [" held that", " = None"], "answer": 1}])
    config = fixture_config(tmp_path, eval_points=2)
    config.target.tasks = [TaskConfig(name="cloze", path=str(task))]
    spec = RunSpec(RunSpec.make_run_id("u", "micro", 8_000, 0), "u", {d: 0.2 for d in config.domain_names},
                   "micro", 8_000, 0)
    result = train_proxy(config, spec, fixture_catalog(config), tmp_path / "run")
    assert result.finished, result.reason
    table = result.table
    assert len(table) == 2 and table[["taskloss_cloze", "acc_cloze"]].notna().all().all()
    assert set(table["acc_cloze"]) <= {0.0, 1 / 3, 2 / 3, 1.0}
    assert result.extra["task_chance"] == {"cloze": 0.5}
    saved = torch.load(tmp_path / "run" / CHECKPOINT, map_location="cpu", weights_only=False)
    model = build_model(get_preset("micro"), 256)
    average = WeightAverage(model)
    average.load_state_dict(saved["average"])
    evaluator = TaskEvaluator(config, ByteTokenizer(), get_preset("micro").seq_len)
    with average.swapped_into(model):
        again = evaluator(model, chunk=4, device="cpu", autocast=contextlib.nullcontext)["cloze"]
    assert again["loss"] == pytest.approx(table["taskloss_cloze"].iloc[-1], rel=1e-5)
    assert again["acc"] == table["acc_cloze"].iloc[-1]


def test_the_demo_cloze_continues_the_true_text_against_spans_of_other_documents():
    from mixtures.demo_corpus.tasks import cloze_items
    from mixtures.tasks import parse_item

    prose = {
        "a": "Title\n=====\n\nThe template engine renders every variable through its filters before output.\n\n"
             ".. code-block:: python\n\n    x = 1\n",
        "b": "Middleware runs around each request and may return a response early when needed.",
        "c": "Migrations record every change to your models so the database schema follows them.",
        "d": "Signals let decoupled applications get notified when actions occur elsewhere in it.",
    }
    documents = sorted(prose.items())
    items = cloze_items(documents, n_items=12, seed=3)
    assert items == cloze_items(documents, n_items=12, seed=3) != cloze_items(documents, n_items=12, seed=4)
    paragraphs = {doc: " ".join(t.split("\n\n")[1:2]) if doc == "a" else t for doc, t in prose.items()}
    for record in items:
        item = parse_item(record, "cloze")
        doc = record["id"].split("@")[0]
        assert item.context + item.choices[item.answer] in paragraphs[doc]  # the true continuation
        assert "code-block" not in item.context and len(item.choices) == 4
        for k, choice in enumerate(item.choices):
            if k != item.answer:  # drawn from another document of the source
                assert any(choice in p for d, p in paragraphs.items() if d != doc)
