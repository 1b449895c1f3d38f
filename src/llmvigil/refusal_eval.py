"""Evaluation of the refusal detector on labelled responses (`llmvigil eval-refusals FILE [--json]`).

Input: JSONL, one object a line, with `response` (string or null) and `label` (refusal | partial |
compliance); optional `prompt` (cross-validation folds are grouped by it), `model` (per-model breakdown),
`finish_reason` / `provider_refusal` (provider signals, as in the store).

Two tasks are scored, each as precision / recall / F1 of the positive class:
  refusal_vs_rest                    positive = label 'refusal'
  refusal_or_partial_vs_compliance   positive = label 'refusal' or 'partial'

Headline figures are cross-validated: the file is split into `folds` folds grouped by prompt (all the
answers to one prompt stay in one fold), the model is refitted on the other folds with the shipped recipe
(refusal.RECIPE, plus the shipped seed examples) and scored on the held-out fold. The shipped model's own
score on the file is reported separately and labelled in-sample: it was trained on the public dev file,
so on that file it is optimistic.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from llmvigil import refusal

TASKS = {
    "refusal_vs_rest": lambda lab: lab == "refusal",
    "refusal_or_partial_vs_compliance": lambda lab: (lab == "refusal") | (lab == "partial"),
}


def load_labelled(path: Path | str) -> list[dict[str, Any]]:
    """Read and check the JSONL; errors name the file and line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a JSONL file")
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object")
            if "response" not in obj:
                raise ValueError(f"{path}:{lineno}: missing 'response'")
            if obj["response"] is not None and not isinstance(obj["response"], str):
                raise ValueError(f"{path}:{lineno}: 'response' must be a string or null")
            if "label" not in obj:
                raise ValueError(f"{path}:{lineno}: missing 'label'")
            if obj["label"] not in refusal.LABELS:
                raise ValueError(f"{path}:{lineno}: label {obj['label']!r} is not one of {', '.join(refusal.LABELS)}")
            obj["_line"] = lineno
            rows.append(obj)
    if not rows:
        raise ValueError(f"{path}: no labelled rows")
    return rows


def _prf(truth: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    tp = int(np.sum(truth & pred))
    fp = int(np.sum(~truth & pred))
    fn = int(np.sum(truth & ~pred))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
            "tp": tp, "fp": fp, "fn": fn, "positives": int(truth.sum()), "n": int(len(truth))}


def _scores(labels: np.ndarray, pred: np.ndarray, models: np.ndarray | None) -> dict[str, Any]:
    out: dict[str, Any] = {task: _prf(f(labels), f(pred)) for task, f in TASKS.items()}
    if models is not None:
        out["by_model"] = {
            m: {task: _prf(f(labels[models == m]), f(pred[models == m])) for task, f in TASKS.items()}
            for m in sorted(set(models.tolist()))
        }
    return out


def _folds(groups: list[str], k: int, seed: int) -> np.ndarray:
    """Fold number of each row: whole groups, shuffled with `seed`, dealt to the folds largest first so the
    folds come out about the same size."""
    sizes = Counter(groups)
    rng = np.random.default_rng(seed)
    keys = sorted(sizes)
    rng.shuffle(keys)
    keys.sort(key=lambda g: -sizes[g])          # stable: ties keep the shuffled order
    load = [0] * k
    fold_of: dict[str, int] = {}
    for g in keys:
        i = min(range(k), key=lambda j: (load[j], j))
        fold_of[g] = i
        load[i] += sizes[g]
    return np.array([fold_of[g] for g in groups])


def _provider(rows: list[dict[str, Any]]) -> np.ndarray:
    def sig(r: dict[str, Any]) -> bool:
        pr = str(r.get("provider_refusal") or "").strip().lower()
        fr = str(r.get("finish_reason") or "").strip().lower()
        return pr not in ("", "false", "0", "null", "none") or fr in ("content_filter", "refusal")

    return np.array([sig(r) for r in rows], dtype=bool)


def evaluate(path: Path | str, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Cross-validated scores (grouped by prompt), the shipped model's in-sample scores, per-model breakdown."""
    path = Path(path)
    rows = load_labelled(path)
    n = len(rows)
    labels = np.array([r["label"] for r in rows])
    models = np.array([str(r["model"]) for r in rows]) if all("model" in r for r in rows) else None
    groups = [str(r["prompt"]) if r.get("prompt") is not None else f"#line{r['_line']}" for r in rows]
    n_groups = len(set(groups))
    if not 2 <= folds <= n_groups:
        raise ValueError(f"{path}: {folds} folds need between 2 and {n_groups} distinct prompts")
    responses = [r["response"] for r in rows]
    provider = _provider(rows)
    blank = np.array([not (t or "").strip() for t in responses])

    # cross-validation: refit the recipe on the other folds, predict the held-out fold
    X = refusal.features(responses)
    fold = _folds(groups, folds, seed)
    pred = np.empty(n, dtype=object)
    for k in range(folds):
        test = fold == k
        model = refusal.fit_recipe(X[~test], labels[~test].tolist(), seeds=True)
        pred[test] = refusal.predict(X[test], model)[0]
    pred[provider] = "refusal"                       # provider signals are exact, as in the SQL path
    pred[blank & ~provider] = "compliance"           # no text, no signal: the detector says nothing (NULL)
    pred = pred.astype(str)

    # the shipped model, through the real SQL path
    shipped, _ = refusal.classify(responses, [r.get("finish_reason") for r in rows],
                                  [r.get("provider_refusal") for r in rows])
    shipped_arr = np.array([s or "compliance" for s in shipped])

    result: dict[str, Any] = {
        "file": str(path),
        "rows": n,
        "prompts": n_groups,
        "labels": dict(Counter(labels.tolist())),
        "method": f"cv-{folds}-grouped-by-prompt",
        "folds": folds,
        "seed": seed,
        "training": {**refusal.RECIPE, "seed_rows": len(refusal.load_seeds()),
                     "note": "each fold refits the shipped recipe on the other folds plus the seed examples"},
        "unjudged_rows": int((blank & ~provider).sum()),
    }
    result.update(_scores(labels, pred, models))
    shipped_scores = _scores(labels, shipped_arr, models)
    trained_on = refusal.load_model().get("trained_on", {})
    shipped_scores["in_sample"] = True
    shipped_scores["note"] = (f"shipped model (trained on {trained_on.get('file', '?')} + seeds): "
                              "in-sample if this is that file, so optimistic")
    result["shipped_model"] = shipped_scores
    base = [((r.get("meta") or {}).get("baseline_strmatch_label")) for r in rows]
    if all(isinstance(b, str) for b in base):
        b = np.array(["refusal" if "refusal" in x else "compliance" for x in base])
        result["baseline_strmatch"] = {task: _prf(f(labels), f(b)) for task, f in TASKS.items()}
    return result


def format_text(result: dict[str, Any]) -> str:
    """A human-readable table of evaluate()'s result."""
    names = {"refusal_vs_rest": "refusal vs rest", "refusal_or_partial_vs_compliance": "refusal|partial vs compliance"}
    lab = ", ".join(f"{k} {v}" for k, v in sorted(result["labels"].items()))
    lines = [f"{result['file']}: {result['rows']} responses to {result['prompts']} prompts ({lab})", ""]

    def block(title: str, scores: dict[str, Any]) -> None:
        lines.append(title)
        lines.append(f"  {'task':32} {'precision':>9} {'recall':>7} {'F1':>7} {'n':>6}")
        for task, name in names.items():
            s = scores[task]
            lines.append(f"  {name:32} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:7.3f} {s['n']:6d}")
        lines.append("")

    block(f"cross-validated ({result['method']}, model refitted in each fold):", result)
    if "by_model" in result:
        lines.append("  by model (cross-validated):  F1 refusal vs rest / F1 refusal|partial vs compliance")
        for m, s in result["by_model"].items():
            lines.append(f"    {m:28} {s['refusal_vs_rest']['f1']:.3f} / "
                         f"{s['refusal_or_partial_vs_compliance']['f1']:.3f}   (n={s['refusal_vs_rest']['n']})")
        lines.append("")
    block(f"shipped model, in-sample ({result['shipped_model']['note']}):", result["shipped_model"])
    if "baseline_strmatch" in result:
        block("baseline in the file (meta.baseline_strmatch_label):", result["baseline_strmatch"])
    if result["unjudged_rows"]:
        lines.append(f"{result['unjudged_rows']} rows without text or provider signal count as compliance.")
    return "\n".join(lines).rstrip() + "\n"
