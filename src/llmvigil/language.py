"""Language of prompts and responses (v0: stop-word vote for en/es/pt in SQL).

Interface used by the feature step (keep it when replacing the detector):
  register(con)  -> defines macros/UDFs on a DuckDB connection
  select_sql(prompt, response) -> SQL fragment producing `prompt_lang` and `response_lang`
                    (ISO 639-1 code, or NULL when the text is too short to tell)
"""

from __future__ import annotations

_WORDS = {
    "en": "the|and|you|your|is|are|to|of|my|with|for|can|how|what|please|this",
    "es": "el|la|los|las|que|de|y|mi|por|para|con|una|cómo|qué|puedo|usted|gracias|está",
    "pt": "o|os|as|que|de|e|meu|minha|para|com|uma|não|você|como|obrigado|está|é",
}


def register(con) -> None:
    score = " , ".join(
        f"len(regexp_extract_all(lower(t), '\\b({w})\\b'))" for w in _WORDS.values()
    )
    langs = ", ".join(f"'{k}'" for k in _WORDS)
    con.sql(
        "CREATE OR REPLACE MACRO lv_lang(t) AS CASE WHEN t IS NULL OR length(t) < 3 THEN NULL ELSE "
        f"(SELECT CASE WHEN list_max(s) = 0 THEN NULL ELSE [{langs}][list_position(s, list_max(s))] END "
        f"FROM (SELECT [{score}] AS s)) END"
    )


def select_sql(prompt: str = "prompt", response: str = "response") -> str:
    return f"lv_lang({prompt}) AS prompt_lang, lv_lang({response}) AS response_lang"
