import io
import json
import sys

import pytest

from models_runtime import cli, loading

from .conftest import ANSWERS, PAIRS, tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    tiny_model().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    pairs = folder / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    (folder / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ANSWERS))
    yield folder
    loading.clear_cache()


def run(capsys, *argv):
    assert cli.main(list(argv)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_extract_generate_and_score_end_to_end(tiny_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "d.safetensors"
    rows = run(capsys, "extract-direction", "--out", str(out), "--model", str(tiny_dir),
               "--pairs", str(tiny_dir / "pairs.jsonl"), "--answer-pairs", str(tiny_dir / "answers.jsonl"),
               "--layers", "1-3")
    per_layer = [r for r in rows if "auc" in r]
    assert [r["layer"] for r in per_layer] == [1, 2, 3]
    assert sum(r["recommended"] for r in per_layer) == 1
    assert rows[-1]["out"] == str(out)

    base = run(capsys, "generate", "--prompt", "Hi", "--model", str(tiny_dir), "--greedy", "--max-new-tokens", "6")
    zero = run(capsys, "generate", "--prompt", "Hi", "--model", str(tiny_dir), "--greedy", "--max-new-tokens", "6",
               "--direction", str(out), "--alpha", "0")
    assert base[0]["text"] == zero[0]["text"]
    assert {"text", "tokens", "mean_entropy", "seed", "provenance"} <= set(base[0])
    samples = run(capsys, "generate", "--prompt", "Hi", "--model", str(tiny_dir), "--temperature", "0.9",
                  "--n", "3", "--seed", "5", "--max-new-tokens", "4")
    assert [s["seed"] for s in samples] == [5, 6, 7]

    texts = tmp_path / "texts.txt"
    texts.write_text("a plain line\n" + json.dumps({"brief": "Name a cafe.", "text": "Kettle Moon"}) + "\n")
    scored = run(capsys, "score", "--direction", str(out), "--texts", str(texts), "--model", str(tiny_dir))
    assert [r["index"] for r in scored] == [0, 1]
    assert {"creativity", "entropy", "perplexity", "distinct_1", "distinct_2", "compression_ratio"} <= set(scored[0])

    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin\n"))
    assert len(run(capsys, "score", "--texts", "-", "--model", str(tiny_dir))) == 1


def test_finetune_prints_progress_then_the_adapter(tiny_dir, tmp_path, capsys):
    data = tmp_path / "ft.jsonl"
    data.write_text("".join(json.dumps({"brief": f"b{i}", "output": f"o{i}"}) + "\n" for i in range(4)))
    rows = run(capsys, "finetune", "--data", str(data), "--out", str(tmp_path / "ad"), "--steps", "2",
               "--model", str(tiny_dir))
    assert [r["step"] for r in rows[:2]] == [1, 2]
    assert rows[-1]["adapter"] == str(tmp_path / "ad") and len(rows[-1]["sha256"]) == 64


def test_errors_are_one_line_with_a_fix(tiny_dir, tmp_path, capsys):
    assert cli.main(["generate", "--prompt", "x", "--model", str(tiny_dir), "--alpha", "3"]) == 2
    assert "--direction and --alpha go together" in capsys.readouterr().err
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    assert cli.main(["score", "--direction", str(tmp_path / "none.safetensors"), "--texts", str(texts),
                     "--model", str(tiny_dir)]) == 2
    assert "extract-direction" in capsys.readouterr().err
    assert cli.main(["score", "--texts", str(tiny_dir / "pairs.jsonl"), "--model", str(tiny_dir)]) == 2
    assert "line 1: JSON line without a 'text'" in capsys.readouterr().err


def test_validity_reports_both_judges(tiny_dir, tmp_path, capsys):
    direction = tmp_path / "d.safetensors"
    run(capsys, "extract-direction", "--out", str(direction), "--model", str(tiny_dir),
        "--pairs", str(tiny_dir / "pairs.jsonl"), "--answer-pairs", str(tiny_dir / "answers.jsonl"))
    row = run(capsys, "validity", "--answer-pairs", str(tiny_dir / "answers.jsonl"), "--direction", str(direction),
              "--model", str(tiny_dir))[0]
    assert row["n"] == 2 and {"model_judge_accuracy", "direction_judge_accuracy"} <= set(row)
