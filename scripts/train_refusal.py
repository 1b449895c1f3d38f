"""Train the refusal model shipped in src/llmvigil/refusal_data/model.json, reproducibly.

    python scripts/train_refusal.py [DEV_JSONL] [--out PATH] [--check]

DEV_JSONL defaults to ../shared/data/xstest_dev.jsonl next to the repository (the labelled XSTest half
described in its README). The recipe (refusal.RECIPE) is fixed: two L2 logistic regressions fitted by
Newton's method, deterministic, on the SQL feature vector of every response of DEV_JSONL plus the
shipped en/es/pt seed examples (refusal_data/seeds.jsonl, weight 2). No randomness, no network.

--check   refit and compare with the shipped model instead of writing it (exit 1 if it differs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from llmvigil import refusal  # noqa: E402
from llmvigil.refusal_eval import load_labelled  # noqa: E402

DEFAULT_DEV = REPO.parent / "shared" / "data" / "xstest_dev.jsonl"


def train(dev: Path) -> dict:
    rows = load_labelled(dev)
    X = refusal.features([r["response"] for r in rows])
    model = refusal.fit_recipe(X, [r["label"] for r in rows], seeds=True)
    seeds = refusal.load_seeds()
    model["trained_on"] = {
        "file": dev.name,
        "sha256": hashlib.sha256(dev.read_bytes()).hexdigest(),
        "rows": len(rows),
        "seed_rows": len(seeds),
        "recipe": refusal.RECIPE,
        "features": len(refusal.feature_names()),
        "script": "scripts/train_refusal.py",
    }
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dev", nargs="?", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--out", type=Path, default=refusal.MODEL_PATH)
    ap.add_argument("--check", action="store_true", help="compare with the shipped model instead of writing")
    args = ap.parse_args(argv)
    if not args.dev.exists():
        print(f"error: {args.dev} not found (pass the labelled JSONL as first argument)", file=sys.stderr)
        return 2
    model = train(args.dev)
    text = json.dumps(model, indent=1, sort_keys=True) + "\n"
    if args.check:
        same = args.out.read_text(encoding="utf-8") == text
        print("shipped model reproduced exactly" if same else f"{args.out} differs from a fresh fit")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(model['refusal']['weights'])} weights per class, "
          f"{model['trained_on']['rows']} + {model['trained_on']['seed_rows']} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
