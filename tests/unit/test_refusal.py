"""Refusal detector: provider signals, NULL handling, SQL path == classify(), three languages, evaluation.

The es/pt set (refusal_multilingual.jsonl, next to this file) was written by hand for these tests: full
refusals, partial refusals and hard negatives (empathy openers that then help, answers that mention
"ilegal" or OpenAI). It is NOT used for training (the shipped seed examples are different texts).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from llmvigil import refusal, refusal_eval

HERE = Path(__file__).parent
REPO = HERE.parents[1]
MULTI = HERE / "refusal_multilingual.jsonl"
DEV = REPO.parent / "shared" / "data" / "xstest_dev.jsonl"
needs_dev = pytest.mark.skipif(not DEV.exists(), reason=f"{DEV} not available")


def _multi() -> list[dict]:
    return [json.loads(line) for line in MULTI.read_text(encoding="utf-8").splitlines() if line.strip()]


def _prf(truth, pred) -> tuple[float, float]:
    truth, pred = np.asarray(truth, bool), np.asarray(pred, bool)
    tp = (truth & pred).sum()
    return tp / max(pred.sum(), 1), tp / max(truth.sum(), 1)


# ------------------------------------------------------------------------------------ provider signals

def test_provider_signals_are_exact_and_come_first():
    helpful = "Sure! Here are the steps to reset your password: open Settings, then Security."
    labels, scores = refusal.classify(
        [helpful, None, helpful, helpful, "", helpful],
        ["stop", "content_filter", "CONTENT_FILTER", "refusal", "stop", "stop"],
        ["I'm sorry, I can't help with that.", None, None, None, "refusal", None],
    )
    assert labels == ["refusal"] * 5 + ["compliance"]
    assert scores[:5] == [1.0] * 5
    assert scores[5] < 0.5


def test_values_that_are_not_a_provider_refusal():
    text = "Your order shipped yesterday and will arrive on Friday."
    labels, scores = refusal.classify([text] * 6, ["stop", "length", "tool_calls", "error", None, "stop"],
                                      ["", "false", "0", None, "None", "  "])
    assert labels == ["compliance"] * 6
    assert all(s < 0.5 for s in scores)


def test_null_and_blank_responses_without_signal_are_null():
    labels, scores = refusal.classify([None, "", "   \n\t", None], [None, "stop", None, "content_filter"])
    assert labels == [None, None, None, "refusal"]
    assert scores == [None, None, None, 1.0]


def test_provider_signal_sql_agrees_with_python_rule():
    con = duckdb.connect()
    cases = [(None, None), ("stop", ""), ("content_filter", None), (" Refusal ", None), ("stop", "false"),
             ("stop", "0"), ("stop", "null"), ("stop", "yes"), ("length", "I can't do that")]
    for fr, pr in cases:
        got = con.execute(f"SELECT {refusal.provider_signal_sql('fr', 'pr')} FROM (SELECT ?::VARCHAR AS fr, "
                          "?::VARCHAR AS pr)", [fr, pr]).fetchone()[0]
        assert got == refusal_eval._provider([{"finish_reason": fr, "provider_refusal": pr}])[0], (fr, pr)


# ----------------------------------------------------------------------------- SQL path == classify()

def test_select_sql_matches_classify_and_types():
    rows = _multi()
    texts = [r["response"] for r in rows] + [None, "  ", "I cannot.", "No puedo.", "Não posso."]
    fr = ["stop"] * len(texts)
    fr[3] = "content_filter"
    pr = [None] * len(texts)
    pr[5] = "refused by policy"
    if DEV.exists():
        dev = [json.loads(line)["response"] for line in DEV.read_text(encoding="utf-8").splitlines()[:300]]
        texts, fr, pr = texts + dev, fr + ["stop"] * len(dev), pr + [None] * len(dev)
    staged = pa.table({"id": list(range(len(texts))), "response": texts,  # noqa: F841 - DuckDB scans it
                       "finish_reason": fr, "provider_refusal": pr})
    con = duckdb.connect()
    refusal.register(con)
    out = con.execute(f"SELECT id, {refusal.select_sql()} FROM staged ORDER BY id").fetchall()
    types = [d[1] for d in con.execute(f"DESCRIBE SELECT {refusal.select_sql()} FROM staged").fetchall()]
    assert types == ["VARCHAR", "DOUBLE"]
    labels, scores = refusal.classify(texts, fr, pr)
    assert [o[1] for o in out] == labels
    assert [o[2] for o in out] == scores                     # bit-identical, not just close
    assert {x for x in labels} <= {"refusal", "partial", "compliance", None}
    for lab, s in zip(labels, scores):
        if lab is not None:
            assert 0.0 <= s <= 1.0 and (lab == "compliance") == (s < 0.5)


def test_select_sql_with_qualified_column_names():
    con = duckdb.connect()
    refusal.register(con)
    con.execute("CREATE TABLE t AS SELECT 'I''m sorry, but I can''t help with that request.' AS response, "
                "'stop' AS finish_reason, NULL::VARCHAR AS provider_refusal")
    row = con.execute(f"SELECT s.response, {refusal.select_sql('s.response', 's.finish_reason', 's.provider_refusal')} "
                      "FROM t s").fetchone()
    assert row[1] == "refusal" and row[2] > 0.9


# ------------------------------------------------------------------------------------- three languages

def test_multilingual_set_precision_recall():
    rows = _multi()
    es_pt = [r for r in rows if r["lang"] in ("es", "pt")]
    assert len(es_pt) >= 40 and sum(r["label"] == "compliance" for r in es_pt) >= 15
    labels, _ = refusal.classify([r["response"] for r in rows])
    truth = [r["label"] for r in rows]
    # refusal or partial vs compliance, per language and overall
    for lang in ("es", "pt", None):
        idx = [i for i, r in enumerate(rows) if lang is None or r["lang"] == lang]
        p, r = _prf([truth[i] != "compliance" for i in idx], [labels[i] != "compliance" for i in idx])
        assert p >= 0.95 and r >= 0.9, (lang, p, r)
    # full refusals vs the rest (measured 0.92 / 1.0: two partials that apologise, refuse, then offer an
    # alternative are called full refusals, a boundary the XSTest annotators also draw case by case)
    p, r = _prf([t == "refusal" for t in truth], [lab == "refusal" for lab in labels])
    assert p >= 0.88 and r >= 0.95, (p, r)


def test_hard_negatives_stay_compliance():
    negatives = [
        "Lamento escuchar que tu pedido se retrasó; aquí tienes cómo reclamarlo desde Mis pedidos.",
        "Sinto muito pelo transtorno, veja como resolver: abra o app e toque em Pedidos.",
        "I'm sorry to hear that your order is late. Here is how to track it: open My Orders.",
        "I'm sorry to hear that your order is late. I've asked the carrier for an update and you'll get an "
        "email as soon as it moves.",
        "Selling alcohol to minors is illegal, so our checkout asks for an ID. You can upload it in Account > "
        "Verification and it takes a minute.",
        "You can call OpenAI's models through the API: create a key in the dashboard and send a request to the "
        "chat completions endpoint.",
        "Lo siento, entiendo lo frustrante que es esperar un paquete. Ya he pedido al transportista que lo "
        "entregue mañana.",
        "Desculpe pelo problema com a sua conexão! Reinicie o modem e, se continuar, agendo uma visita.",
        "Your refund of $25.00 was issued today.",
    ]
    labels, scores = refusal.classify(negatives)
    assert labels == ["compliance"] * len(negatives), list(zip(labels, scores, negatives))


def test_demo_style_refusals():
    refusals = [
        "I'm sorry, but I can't help with that request.", "I'm sorry, I can't assist with that.",
        "I can't help with that request.", "I'm not able to help with that.",
        "Lo siento, no puedo ayudarte con eso.", "Lo siento, pero no puedo ayudarte con esa solicitud.",
        "Lamentablemente, no puedo ayudarte con esa solicitud.", "No puedo compartir información de otros clientes.",
        "Desculpe, mas não posso ajudar com isso.", "Sinto muito, mas não posso ajudar com isso.",
        "Infelizmente, não posso ajudar com isso.", "Não posso compartilhar informações de outros clientes.",
    ]
    labels, scores = refusal.classify(refusals)
    assert labels == ["refusal"] * len(refusals), list(zip(labels, scores, refusals))


# --------------------------------------------------------------------------------------- the lexicon

def test_template_regex_matches_exactly_its_expansions():
    for fam, templates in refusal.CUES.items():
        for t in templates:
            rx = re.compile(refusal._template_regex(t.lower()).replace("['\u2019]", "'"))
            for phrase in refusal._expand(t.lower()):
                assert "  " not in phrase and phrase == phrase.lstrip(), (fam, t, phrase)
                assert rx.fullmatch(phrase), (fam, t, phrase)


def test_every_phrase_is_found_as_its_family():
    """Each cue phrase, alone after a space, becomes a feature of its own family: checks the scan's RE2
    pattern, the priority order and the perfect hash of the phrase table in one go."""
    table = refusal.cue_table()
    phrases = sorted(table)
    X = refusal.features([" " + p + " zz" for p in phrases])
    nb = len(refusal.BUCKETS)
    for phrase, row in zip(phrases, X):
        fams = {i // nb for i in np.flatnonzero(row[: len(refusal.FAMILIES) * nb])}
        assert table[phrase] - 1 in fams, (phrase, refusal.FAMILIES[table[phrase] - 1],
                                           [refusal.FAMILIES[f] for f in fams])


def test_shipped_model_covers_every_feature():
    model = refusal.load_model()
    assert set(model["refusal"]["weights"]) == set(refusal.feature_names())
    assert set(model["partial"]["weights"]) == set(refusal.feature_names())
    assert model["trained_on"]["recipe"] == refusal.RECIPE


# ---------------------------------------------------------------------------------------- evaluation

def test_eval_reports_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        refusal_eval.evaluate(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "response": "x", "label": "refusal"}\n{"prompt": "b", "label": "refusal"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: missing 'response'"):
        refusal_eval.evaluate(bad)
    bad.write_text('{"prompt": "a", "response": "x"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: missing 'label'"):
        refusal_eval.evaluate(bad)
    bad.write_text('{"prompt": "a", "response": "x", "label": "maybe"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: label 'maybe'"):
        refusal_eval.evaluate(bad)
    bad.write_text('{"prompt": "a", "response": "x", "label": "refusal"}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not valid JSON"):
        refusal_eval.evaluate(bad)


def test_folds_keep_prompts_together():
    groups = [f"p{i // 5}" for i in range(100)] + [f"q{i}" for i in range(7)]
    fold = refusal_eval._folds(groups, 5, seed=3)
    for g in set(groups):
        assert len({fold[i] for i, x in enumerate(groups) if x == g}) == 1
    sizes = np.bincount(fold)
    assert sizes.max() - sizes.min() <= 5


def test_eval_on_small_file_and_text_format(tmp_path):
    rows = _multi()
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(json.dumps({"prompt": f"p{i}", "model": r["lang"], **r}) for i, r in enumerate(rows)),
                    encoding="utf-8")
    result = refusal_eval.evaluate(path, folds=3)
    assert result["method"] == "cv-3-grouped-by-prompt" and result["rows"] == len(rows)
    assert set(result["by_model"]) == {"en", "es", "pt"}
    assert result["shipped_model"]["in_sample"] is True
    text = refusal_eval.format_text(result)
    assert "cross-validated" in text and "in-sample" in text and "refusal|partial vs compliance" in text


@needs_dev
def test_cross_validated_scores_on_the_dev_file():
    result = refusal_eval.evaluate(DEV)                      # 5 folds grouped by prompt, seed 0
    assert result["method"] == "cv-5-grouped-by-prompt"
    assert result["rows"] == 1175 and result["prompts"] == 235
    # measured: 0.914 / 0.942 (seed 0); over fold seeds 0-4: 0.899-0.914 and 0.938-0.942
    assert result["refusal_vs_rest"]["f1"] >= 0.90
    assert result["refusal_or_partial_vs_compliance"]["f1"] >= 0.93
    # the published prefix string match, as stored in the file: the detector must beat it
    base = result["baseline_strmatch"]
    assert base["refusal_vs_rest"]["f1"] == pytest.approx(0.860, abs=0.001)
    assert result["refusal_vs_rest"]["f1"] > base["refusal_vs_rest"]["f1"] + 0.03
    assert result["refusal_or_partial_vs_compliance"]["f1"] > base["refusal_or_partial_vs_compliance"]["f1"] + 0.04
    assert set(result["by_model"]) == {"gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct"}
    assert result["shipped_model"]["in_sample"] is True


@needs_dev
def test_shipped_model_is_reproducible_from_the_script():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import train_refusal
    finally:
        sys.path.remove(str(REPO / "scripts"))
    assert train_refusal.main([str(DEV), "--check"]) == 0
