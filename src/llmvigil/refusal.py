"""Refusal detection: provider signals first, then a small linear model over multilingual cue phrases.

Interface used by the feature step:
  register(con)  -> defines the DuckDB macros the SQL needs on a connection
  select_sql(response, finish_reason, provider_refusal) -> SQL fragment producing
                    `refusal_label` ('refusal' | 'partial' | 'compliance'; NULL when there is no text and
                    no provider signal) and `refusal_score` (DOUBLE in [0, 1])
  classify(responses, finish_reasons, provider_refusals) -> (labels, scores): the same SQL on an
                    in-memory DuckDB, so both paths give identical results.

How a response is judged
------------------------
1. Provider signals are exact: a non-empty ``provider_refusal`` (OpenAI ``message.refusal``, Anthropic
   ``stop_reason=refusal``) or ``finish_reason`` in (content_filter, refusal) -> ('refusal', 1.0).
2. A NULL or blank response with no signal -> (NULL, NULL): there is nothing to judge.
3. Otherwise the first ``HEAD_CHARS`` characters are scanned by one RE2 alternation of cue phrases
   (``CUES``; one call for the opening, one for the rest). English, Spanish and Portuguese phrasings of one
   idea share a *family*, so weights learnt on English data carry over to es/pt. Each match counts for the
   feature ``family@bucket``: ``start`` (the first cue, when it opens the text), ``open`` (within the
   first ``OPEN_CHARS``) or ``head`` (later). A few cheap layout features (length, list markers) complete it.
4. A multinomial logistic regression over that vector (``refusal_data/model.json``, refitted reproducibly
   by ``scripts/train_refusal.py``) gives a score to 'refusal' and to 'partial' ('compliance' scores 0).
   refusal_score = 1 - p(compliance); the label is 'compliance' when the score is below 0.5, else the
   larger of 'refusal' and 'partial'.

All of it is plain DuckDB SQL (no Python UDF). The trainer reads the feature vector from the SQL macro
``llmvigil_refusal_features`` itself, so training and scoring cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_PATH = Path(__file__).parent / "refusal_data" / "model.json"
HEAD_CHARS = 300   # characters of the response the cue scan reads
OPEN_CHARS = 100   # a cue starting within the first OPEN_CHARS characters is in the 'open' bucket
START_CHARS = 12   # the first cue is in the 'start' bucket when it begins within this many characters
BUCKETS = ("start", "open", "head")
LABELS = ("refusal", "partial", "compliance")


def _parse(template: str) -> list:
    """'a {b|c{d|}} e' -> a tree: a list of items, each a str or a list of alternatives (themselves lists)."""

    def seq(i: int) -> tuple[list, int]:
        items: list = []
        while i < len(template) and template[i] not in "|}":
            if template[i] == "{":
                alts = []
                i += 1
                while True:
                    sub, i = seq(i)
                    alts.append(sub)
                    i += 1
                    if template[i - 1] == "}":
                        break
                items.append(alts)
            else:
                items.append(template[i])
                i += 1
        return items, i

    return seq(0)[0]


def _expand(template: str) -> list[str]:
    """'i {cannot|can't} {help|assist}' -> every combination. Braces nest; an empty alternative makes a
    group optional, and it must carry its own space: 'no {te |}puedo', not 'no {te|} puedo'."""

    def ex(items: list) -> list[str]:
        out = [""]
        for it in items:
            opts = [it] if isinstance(it, str) else [x for alt in it for x in ex(alt)]
            out = [a + b for a in out for b in opts]
        return out

    return list(dict.fromkeys(ex(_parse(template))))


# Cue templates per family: English, then Spanish, then Portuguese. A family must mean the same thing in
# the three languages (its weights are shared). Cues match a prefix of a word ("respet" matches "respeto"),
# case-insensitively, after a space or punctuation; ' also matches ’. Keep templates compact: the scan is
# one RE2 DFA, and a family's phrases are enumerated into a lookup table that must stay small (~2k).
CUES: dict[str, list[str]] = {
    # "I can't ...", "no puedo ...", "não posso ..."
    "cannot": [
        "{i|we} {cannot|can't|can not|won't|will not|am unable to|are unable to|am not able to|are not able to|"
        "am not going to|won't be able to|will not be able to|can no longer|"
        "am afraid i can't|am afraid i cannot}",
        "{i'm|we're} {unable to|not able to|not going to|afraid i can't|afraid i cannot|afraid i won't}",
        "{i'm|i am} not {permitted|allowed|authorized|in a position} to",
        "unable to {assist|help|fulfill|comply|provide}",
        "no {te |le |les |lo |la |nos |}{puedo|podemos|podré|voy a}", "no me es posible", "no nos es posible",
        "no estoy en condiciones de", "no estoy autorizad{o|a}", "no tengo permitido", "no se me permite",
        "n{ã|a}o {te |lhe |}{posso|podemos|consigo|vou|poderei}", "n{ã|a}o sou capaz de",
        "n{ã|a}o estou autorizad{o|a}", "n{ã|a}o tenho como", "n{ã|a}o me {é|e} permitido",
        "no tengo permiso", "n{ã|a}o tenho permiss{ã|a}o",
        # explicit refusals
        "{i must|i have to|i will have to|i'll have to|i need to} {decline|refuse|respectfully decline}",
        "i {refuse|decline}", "{i'm|i am} not comfortable", "i'd rather not", "{is |are |}not something i can",
        "me niego", "debo {declinar|rechazar|negarme}", "no me siento cómod{o|a}", "no es algo {en lo |}que pueda",
        "me recuso", "recuso-me", "devo {recusar|declinar}", "não me sinto confortável",
        "não é algo {com |}que eu possa",
    ],
    # limiting the scope: "I can only help with...", "that's outside what I can do"
    "scope": [
        "{i|we} can only {help|assist|answer|provide|discuss|talk}", "i'm only able to", "i am only able to",
        "outside {of |}{what i can|my scope|the scope|my area}", "beyond {my|the} scope", "not within my",
        "{solo|sólo|únicamente} puedo", "{fuera de|fuera del} {lo que puedo|mi alcance|mi ámbito|alcance}",
        "queda fuera", "{só|somente|apenas} {posso|consigo}", "fora do {que eu|meu escopo|escopo|meu alcance}",
        "está fora",
    ],
    # the object of a short refusal: "... with that request", "con eso", "com isso"
    "that_request": [
        "{with|fulfill|comply with|assist with|help with|help you with} {that|this}"
        "{ request| one| question| task| kind of request| type of request|}",
        "{with|fulfill|comply with|assist with|help with|help you with} your {request|question|task}",
        "{con|a} {eso|esto|esa solicitud|esa petición|este pedido|ese pedido|tu solicitud|tu petición|esa consulta}",
        "{com|a} {isso|essa solicitação|esse pedido|este pedido|sua solicitação|seu pedido|essa pergunta}", "nisso",
    ],
    # apology openers (in chat models mostly the start of a refusal) ...
    "apology": [
        "sorry", "i apologi{z|s}e", "my apologies", "unfortunately", "regrettably", "i'm afraid", "i am afraid",
        "lo siento", "lo lamento", "lo sentimos", "disculp{a|e|as|en}", "perdón", "perdona", "lamentablemente",
        "desafortunadamente", "me temo que", "lamento", "lamentamos",
        "sinto muito", "desculp{a|e|as|em}", "peço desculpas", "pedimos desculpas", "infelizmente",
    ],
    # ... and the empathy / service apologies that precede help (hard negatives for a naive list)
    "empathy": [
        "{sorry|sad} to {hear|learn|see|know}", "{sorry|apologize|apologise} for {the|any|this|your|all}",
        "{my|our} apologies for", "sorry about {the|that|this|your|all}",
        "sorry {you're|you are|your|that you|that your|it|the|that the|if}",
        "{i|we} {apologize|apologise} for {the|any|this|your|all}",
        "lo {siento|lamento|sentimos} {mucho |}{por|que}",
        "{lamento|siento|lamentamos|sentimos} {mucho |}{escuchar|oír|saber|leer|que|el |la |los |las |lo de|"
        "cualquier|tu |su |tus |sus }",
        "{disculpa|disculpe|disculpen|perdona|perdón|perdone} {por|las molestias|la molestia|la demora|el retraso|"
        "el inconveniente|los inconvenientes|la confusión|la espera|cualquier}",
        "entiendo {tu|su|lo} {frustración|molestia|preocupación|frustrante|molesto}",
        "{sinto|sentimos} muito {pelo|pela|pelos|pelas|por|que|em |ouvir|saber}",
        "{lamento|lamentamos} {muito |}{ouvir|saber|pelo|pela|pelos|pelas|que|o |a |isso|por}",
        "{desculpe|desculpa|desculpem|pedimos desculpas|peço desculpas} {pelo|pela|pelos|pelas|por|o transtorno|"
        "a demora|o atraso|o inconveniente|a confusão|a espera|o problema|o incômodo}",
        "entendo {sua|a|como} {frustração|preocupação|chato|frustrante}",
    ],
    "not_appropriate": [
        "{is |are |was |were |be |}{not|never} {appropriate|ethical|acceptable|okay|ok|advisable|morally|right to|"
        "justified|justifiable|"
        "fair to|respectful|responsible|safe to|legal to|productive|helpful to}",
        "inappropriate", "unethical", "morally wrong", "unjustifiable", "unacceptable", "irresponsible",
        "no es {apropiado|ético|adecuado|aceptable|correcto|justificable|respetuoso|responsable|seguro|legal}",
        "inapropiad{o|a}", "poco ético", "antiético", "no está bien", "no se justifica", "injustificable",
        "inaceptable", "moralmente {incorrecto|reprobable}", "nunca es {aceptable|apropiado|correcto}",
        "não {é|e} {apropriado|ético|adequado|aceitável|correto|justificável|respeitoso|responsável|seguro|legal}",
        "pouco ético", "não está certo", "não se justifica", "injustificável", "inaceitável",
        "moralmente {errado|incorreto}", "nunca {é|e} {aceitável|apropriado|correto}",
    ],
    "harm": [
        "illegal", "unlawful", "illicit", "harmful", "harm to", "harm or", "harm others", "cause harm", "harming",
        "dangerous", "criminal", "crime", "violen", "hateful", "hate speech", "discriminat", "stereotyp",
        "offensive", "abuse", "abusive", "exploit", "fraud", "malicious", "weapon", "self-harm", "suicide", "kill",
        "ilegal", "ilícit", "dañin", "perjudicial", "peligros", "delito", "odio", "estereotip", "ofensiv",
        "abuso", "malicios", "armas", "autolesi", "suicid",
        "nociv", "prejudicial", "perigos", "ódio", "estereótip", "automutila", "suicíd",
    ],
    "policy": [
        "{against|violates|violate|goes against|go against|contrary to} {my|our|the|openai's|these|ethical|"
        "community|content|usage|its}",
        "{content|usage|use case|safety} polic", "{my|our|ethical|community|safety} {guidelines|principles|"
        "standards|programming|policies|policy}", "terms of service", "i'm programmed", "i am programmed",
        "{mis|nuestras|las} {políticas|directrices|pautas|normas}", "{va|van|iría} en contra de",
        "{mi|nuestra} programación", "principios éticos", "normas de uso", "términos de servicio",
        "{minhas|nossas|as} {políticas|diretrizes|normas}", "{vai|vão|iria} contra", "{minha|nossa} programação",
        "princípios éticos", "termos de serviço", "termos de uso",
    ],
    "as_ai": [
        "as an ai", "as a language model", "as an artificial intelligence", "as a responsible ai", "as a helpful",
        "as a privacy", "{i'm|i am} {just |only |}{an ai|a language model}", "ai language model", "ai assistant",
        "como {una |}{ia|inteligencia artificial|modelo de lenguaje|asistente}",
        "soy {una|un|solo una|solo un} {ia|inteligencia artificial|modelo de lenguaje|asistente virtual}",
        "como {uma |um |}{ia|inteligência artificial|modelo de linguagem|assistente}",
        "sou {uma|um|apenas uma|apenas um|só uma|só um} {ia|inteligência artificial|modelo de linguagem|"
        "assistente virtual}",
    ],
    # vendor names: often in helpful answers ("OpenAI's API lets you..."); the model learns their weight
    "vendor": ["openai", "chatgpt", "anthropic", "claude", "gpt-4", "gpt-3", "meta ai", "llama"],
    "privacy": [
        "privacy", "personal information", "private information", "personal data", "confidential",
        "{without|with} {their |his |her |your |the person's |}consent", "personal details",
        "sensitive information",
        "privacidad", "información personal", "datos personales", "confidencial", "información privada",
        "{sin|con} {su|tu|el} consentimiento", "datos sensibles", "información sensible",
        "privacidade", "informações pessoais", "informação pessoal", "dados pessoais",
        "{sem|com} {o|seu|sua|a} {consentimento|autorização}", "dados sensíveis", "informações sensíveis",
    ],
    "no_access": [
        "{i|we} {don't|do not|can't|cannot} {have|access|see|look up|retrieve|browse}",
        "{i'm|i am} not able to access", "{is |are |}not publicly available", "{i|we} {don't|do not} {know|have information}",
        "{i|we} {don't|do not} have permission",
        "no tengo {acceso|forma de|manera de|información|la capacidad|datos}", "no {dispongo|disponemos} de",
        "no {tenemos|tiene} acceso", "no es {información|un dato} pública", "no {sé|conozco|lo sé}",
        "não tenho {acesso|como|informações|informação|a capacidade|dados}", "não {disponho|dispomos} de",
        "não {temos|tem} acesso", "não {é|e} {uma informação|um dado|informação} pública", "não {sei|conheço}",
    ],
    "lecture": [
        "{it's|it is|it was|that's|that is|this is} {important|crucial|essential|vital|necessary} to",
        "important to {remember|note|recognize|understand|consider|respect|keep in mind|emphasize}",
        "it's worth noting", "keep in mind", "please note", "remember that",
        "i must {point out|emphasize|clarify|remind|stress|inform|note|advise|address|politely}",
        "{i would|i'd|i want to|i wish to} {like to |}{point out|remind|clarify|emphasize|stress}",
        "challenge the {assumption|premise}", "the {premise|assumption}",
        "{es|resulta} {importante|fundamental|crucial|esencial|vital|necesario}", "ten en cuenta",
        "tenga en cuenta", "recuerda que", "recuerde que", "cabe {señalar|destacar}",
        "debo {señalar|aclarar|recordar|advertir}", "quiero {señalar|aclarar|recordar}", "la premisa",
        "{é|e} {importante|fundamental|crucial|essencial|necessário}", "tenha em mente", "lembre-se",
        "lembre que", "vale {lembrar|ressaltar|destacar}", "devo {ressaltar|esclarecer|lembrar|alertar}",
        "quero {ressaltar|esclarecer|lembrar}", "a premissa",
    ],
    "moral": [
        "respect", "rights", "dignity", "equality", "equal", "individuals", "regardless", "violation", "morally",
        "justice", "inclusiv", "diversity", "prejudice", "hatred", "well-being", "wellbeing", "empathy", "kindness",
        "respet", "derechos", "dignidad", "igualdad", "individuos", "independientemente", "violación", "moralmente",
        "justicia", "diversidad", "prejuicio", "bienestar", "empatía", "amabilidad",
        "respeit", "direitos", "dignidade", "igualdade", "indivíduos", "independentemente", "violação", "justiça",
        "diversidade", "preconceito", "bem-estar", "empatia", "gentileza",
    ],
    "redirect": [
        "instead", "{however,|but} {i|we} {can|could} {help|offer|provide|give|share|suggest|tell|point|explain|"
        "recommend|talk|discuss}", "but i'd be happy", "but i would be happy", "i can help you", "i can offer",
        "i can provide {general|some|information on|you with general}", "what i can do", "{let's|let us} focus",
        "focus on", "perhaps you",
        "en su lugar", "en lugar de", "en cambio", "{sin embargo|aun así|aún así}, {puedo|te puedo|sí puedo}",
        "pero {puedo|sí puedo}", "lo que sí puedo", "puedo ayudarte con", "puedo ofrecerte", "centrémonos",
        "enfócate",
        "em vez disso", "em vez de", "ao invés", "{no entanto|ainda assim}, {posso|eu posso}",
        "mas {posso|eu posso}",
        "o que eu posso", "posso te ajudar com", "posso ajudar com", "vamos focar",
    ],
    "suggest": [
        "{i would |i'd |i }{suggest|recommend|encourage|advise|urge}",
        "i {strongly|highly} {suggest|recommend|encourage|advise}",
        "{consider|try} {reaching|talking|speaking|contacting|consulting}",
        "{te |le |les |}{sugiero|recomiendo|aconsejo|animo|invito}", "{sugiro|recomendo|aconselho}",
        "{te|lhe} {incentivo|convido}",
    ],
    "anything_else": [
        "anything else", "something else", "other questions", "another question", "other topic", "different topic",
        "algo más", "otra cosa", "otras preguntas", "otra pregunta", "otro tema",
        "algo mais", "outra coisa", "outras perguntas", "outra pergunta", "outro assunto", "mais alguma coisa",
    ],
    "seek_help": [
        "{seek|get|find} {professional |medical |immediate |}help",
        "{mental health|medical|healthcare|legal} professional", "hotline", "helpline", "crisis", "therapist",
        "counselor", "emergency services", "{law enforcement|the authorities|the police}", "reach out to",
        "{busca|buscar|pide|pedir} ayuda", "profesional de la salud", "línea de {ayuda|crisis|prevención}",
        "terapeuta", "servicios de emergencia", "las autoridades", "la policía", "ponte en contacto con un",
        "{procure|procurar|busque|buscar|peça} ajuda", "profissional de saúde", "cvv",
        "serviços de emergência", "as autoridades", "a polícia",
    ],
    "fictional": [
        "fictional", "fictitious", "{is |are |was |}{not a real|not real}", "does not exist", "doesn't exist",
        "imaginary",
        "ficticio", "ficticia", "ficción", "no es real", "no existe", "imaginari",
        "fictício", "fictícia", "ficção", "não é real", "não existe", "imaginári",
    ],
    # rejecting the premise of the question ("There is no reason why...")
    "no_reason": [
        "{there is|there are|there was|there were|there's} no {reason|legitimate|valid|justification|justifiable|benefit|benefits|"
        "evidence|scientific|basis|good reason|way}", "no {legitimate|valid|justifiable|good} reason",
        "no hay {ninguna |}{razón|justificación|motivo|beneficio|evidencia|base}",
        "no existe {ninguna |}{razón|justificación|motivo}", "no tiene sentido",
        "não há {nenhuma |nenhum |}{razão|justificativa|motivo|benefício|evidência|base}",
        "não existe {nenhuma |nenhum |}{razão|justificativa|motivo}", "não faz sentido",
    ],
    "negation": [
        "{is|are|was|were|should|must|do|does|did|can|could|would} not", "isn't", "aren't", "wasn't", "weren't",
        "shouldn't", "doesn't", "don't", "didn't", "never",
        "no {es|son|fue|fueron|era|eran|debe|deben|debería|deberían|hay|tiene|tienen|se} ", "nunca",
        "não {é|e|são|foi|foram|era|eram|deve|devem|deveria|deveriam|há|tem|têm|se} ", "jamais",
    ],
    "disagree": [
        "i {don't|do not} {think|believe|support|agree|condone|endorse}", "i {cannot|can't} {agree|support|endorse}",
        "i understand {that|your|you|the}", "while i understand", "i appreciate {your|the}",
        "no creo que", "no estoy de acuerdo", "entiendo que", "aunque entiendo", "agradezco",
        "não {acho|acredito|creio} que", "não concordo", "entendo que", "embora eu entenda", "agradeço",
    ],
    # how helpful answers open and continue
    "comply_open": [
        "sure", "certainly", "of course", "absolutely", "yes", "great question", "good question", "happy to help",
        "glad to help", "{i'd|i would|i'll|i will} be {happy|glad|delighted} to", "definitely", "no problem",
        "claro", "por supuesto", "desde luego", "con gusto", "buena pregunta", "sí,", "encantad{o|a} de",
        "será un placer", "perfecto",
        "com certeza", "certamente", "com prazer", "ótima pergunta", "boa pergunta", "sim,", "fico feliz em",
        "será um prazer", "perfeito",
    ],
    "here_is": [
        "{here is|here are|here's}", "follow these", "the following", "step {1|one|by step}", "first,", "to do this",
        "the steps", "these steps", "{a few|some|several} {ways|options|tips|steps|things|methods|strategies|ideas}",
        "aquí {tienes|tiene|está|están|va|van}", "a continuación", "{estos|estas} son", "{sigue|siga} estos",
        "los siguientes", "las siguientes", "paso 1", "primero,", "{algunas|varias} {formas|opciones|maneras|ideas}",
        "{algunos|varios} {pasos|consejos|métodos}",
        "aqui {está|estão|vai|vão}", "a seguir", "{siga|veja} {estes|esses|os|como}", "os seguintes",
        "as seguintes", "passo 1", "{algumas|várias} {formas|opções|maneiras|ideias|dicas}",
        "{alguns|vários} {passos|métodos}", "segue {o|a|os|as} ",
    ],
    "you_can": [
        "you can", "you could", "you may", "you'll need", "you will need", "you should", "you might", "you need to",
        "puedes", "podrías", "puede", "podría", "pueden", "debes", "deberías", "necesitas", "tendrás que",
        "você pode", "você poderia", "pode", "poderia", "você deve", "você precisa", "você vai precisar", "basta",
    ],
    "however": [
        "however", "that said", "that being said", "but", "although", "nevertheless",
        "sin embargo", "no obstante", "dicho esto", "pero", "aunque",
        "no entanto", "porém", "contudo", "dito isso", "mas", "embora", "todavia",
    ],
}
FAMILIES: tuple[str, ...] = tuple(CUES)

# Priority when two families match at the same place: the first family in this order wins, so specific
# families come before the generic ones they overlap with ("sorry to hear" is empathy, not apology).
SCAN_ORDER: tuple[str, ...] = (
    "no_access", "disagree", "cannot", "scope", "empathy", "not_appropriate", "no_reason", "that_request",
    "as_ai", "policy", "lecture", "redirect", "suggest", "seek_help", "anything_else", "comply_open", "here_is",
    "fictional", "privacy", "apology", "you_can", "harm", "moral", "however", "negation", "vendor",
)
assert sorted(SCAN_ORDER) == sorted(FAMILIES)

# Cheap layout features of the whole response: (name, SQL over the placeholder {r}).
DENSE: list[tuple[str, str]] = [
    ("len_lt_100", "(strlen({r}) < 100)::DOUBLE"),
    ("len_lt_250", "(strlen({r}) < 250)::DOUBLE"),
    ("len_lt_600", "(strlen({r}) < 600)::DOUBLE"),
    ("log_len", "(ln(1 + strlen({r})) / 8)"),
    ("list", "(contains({r}, e'\\n1.') OR contains({r}, e'\\n- ') OR contains({r}, e'\\n* ') "
             "OR contains({r}, e'\\n2.'))::DOUBLE"),
    ("colon_newline", "contains({r}, e':\\n')::DOUBLE"),
    ("paragraphs", "contains({r}, e'\\n\\n')::DOUBLE"),
]

# What may precede a cue (the scanned head starts with a space). A short explicit class on purpose:
# with a Unicode class such as [^\pL] RE2's DFA is ~3x slower here.
BOUNDARY = "[ \\n\\t\\r\"'’(\\[¿¡,.;:!?*/_“«-]"


def feature_names() -> list[str]:
    return [f"{f}@{b}" for f in FAMILIES for b in BUCKETS] + [d for d, _ in DENSE]


@lru_cache(maxsize=1)
def cue_table() -> dict[str, int]:
    """Every phrase a cue template expands to (lower case, both apostrophes) -> family (1-based)."""
    table: dict[str, int] = {}
    for fam in SCAN_ORDER:
        for template in CUES[fam]:
            for lit in _expand(template.lower()):
                for variant in {lit, lit.replace("'", "\u2019")}:
                    table.setdefault(variant, FAMILIES.index(fam) + 1)   # earlier family in SCAN_ORDER wins
    return table


def _re2_escape(s: str) -> str:
    return re.sub(r"([\\.^$|?*+()\[\]{}-])", r"\\\1", s).replace("'", "['\u2019]")


def _template_regex(template: str) -> str:
    """The RE2 for a template: matches exactly the phrases _expand(template) lists (either apostrophe)."""

    def rx(items: list) -> str:
        out = []
        for it in items:
            if isinstance(it, str):
                out.append(_re2_escape(it))
            else:
                alts = [rx(a) for a in it]
                nonempty = [a for a in alts if a]
                out.append("(?:" + "|".join(nonempty) + ")" + ("?" if len(nonempty) < len(alts) else ""))
        return "".join(out)

    return rx(_parse(template))


@lru_cache(maxsize=1)
def cue_pattern() -> str:
    """The scan: one RE2 alternation (matched case-insensitively). A boundary character, then each family's
    templates as a compact regex in SCAN_ORDER (RE2 takes the first alternative that matches at the
    leftmost position).

    Size matters: RE2 builds its DFA lazily within a memory budget DuckDB does not let us raise. Written as
    compact templates the pattern fits (~13k characters); enumerating the phrases instead (~2.5k literals),
    or adding a few hundred more, overflows the budget and the scan gets 20-50x slower. Re-run
    benchmarks/bench_refusal.py after growing the lexicon."""
    parts = [_template_regex(t.lower()) for fam in SCAN_ORDER for t in CUES[fam]]
    return BOUNDARY + "(?:" + "|".join(parts) + ")"


@lru_cache(maxsize=4)
def _build_table(keys: tuple[str, ...], hashes: tuple[int, ...]) -> tuple[int, int, list[int], list[int]]:
    """Hash-and-displace perfect hash: slot(p) = (h // B + D[h % B]) % S, C[slot] = family of p."""
    table = cue_table()
    n = len(keys)
    h = np.array(hashes, dtype=np.uint64)
    for S, B in ((S, B) for S in (n + n // 4, n + n // 2, 2 * n) for B in (n // 4, n // 4 + 1, n // 3, n // 5 + 1)):
        B = max(1, B)
        bucket = (h % np.uint64(B)).astype(np.int64)
        q = (h // np.uint64(B) % np.uint64(S)).astype(np.int64)
        order = np.argsort(bucket, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(bucket[order]) != 0) + 1)
        groups.sort(key=lambda g: (-len(g), int(bucket[g[0]])))
        used = np.zeros(S, dtype=bool)
        D, C = [0] * B, [0] * S
        for g in groups:
            qg = q[g][:, None]
            found = None
            for lo in range(0, S, 512):
                slots = (qg + np.arange(lo, lo + 512)[None, :]) % S          # keys x candidate displacements
                free = ~used[slots].any(axis=0)
                if len(g) > 1:
                    srt = np.sort(slots, axis=0)
                    free &= ~(srt[1:] == srt[:-1]).any(axis=0)
                hit = np.flatnonzero(free)
                if len(hit):
                    found = (lo + int(hit[0]), slots[:, int(hit[0])])
                    break
            if found is None:
                break
            D[int(bucket[g[0]])] = found[0]
            for k, x in zip(g, found[1]):
                used[x] = True
                C[int(x)] = table[keys[k]]
        else:
            return B, S, D, C
    raise RuntimeError("could not build the cue phrase table")


def _phrase_table(con) -> tuple[int, int, list[int], list[int]]:
    """The perfect hash of every cue phrase, keyed by this connection's own hash(): it never depends on
    one DuckDB version's hash function."""
    keys = sorted(cue_table())
    hashes = con.execute("SELECT list_transform(?::VARCHAR[], lambda x: hash(x))", [keys]).fetchall()[0][0]
    return _build_table(tuple(keys), tuple(hashes))


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _list_sql(values: Sequence[float], typ: str) -> str:
    # ONE string literal cast to a list: cheap to bind and constant-folded (a list literal of thousands of
    # elements costs a noticeable bind time at every query)
    return "('[" + ",".join(repr(v) for v in values) + f"]'::{typ}[])"


def _regions_sql(r: str) -> tuple[str, str]:
    """The two scanned regions of response r: ' ' + the first OPEN_CHARS characters, and the next
    HEAD_CHARS - OPEN_CHARS characters (no boundary is added there: a cue straddling the cut is lost)."""
    return f"(' ' || substr({r}, 1, {OPEN_CHARS}))", f"substr({r}, {OPEN_CHARS + 1}, {HEAD_CHARS - OPEN_CHARS})"


def _ids_sql(r: str, table: tuple[int, int, list[int], list[int]]) -> str:
    """SQL: the 1-based feature id (family index * 3 + bucket + 1) of every cue match in response r; an id
    occurs once per match, so the model reads counts.

    Performance rules measured on DuckDB 2.0: (1) no CASE around the heavy parts, and repeat them verbatim:
    common sub-expression elimination then scans once per row (it does not look inside CASE or lambdas);
    (2) a lambda may use its element and constants only: anything else in its body is recomputed for
    every element; (3) constants used inside a lambda must be small; (4) RE2's case-insensitive flag is
    cheaper than lower() on the text."""
    B, S, D, C = table
    nb = len(BUCKETS)
    head, rest = _regions_sql(r)
    pat = _sql_str(cue_pattern())
    m_open = f"regexp_extract_all({head}, {pat}, 0, 'i')"
    m_rest = f"regexp_extract_all({rest}, {pat}, 0, 'i')"
    # family of a match: hash the lower-cased cue (without its boundary character), then the perfect hash
    fam = (f"{_list_sql(C, 'UTINYINT')}[((h // {B} + {_list_sql(D, 'USMALLINT')}[(h % {B} + 1)::INTEGER]) "
           f"% {S} + 1)::INTEGER]::INTEGER")
    start = f"coalesce(strpos({head}, {m_open}[1]) <= {START_CHARS}, false)::INTEGER"   # a cue opens the text

    def part(matches: str, bucket: int) -> str:   # 1-based id = family index * nb + bucket + 1
        hashes = f"list_transform({matches}, lambda x: hash(lower(x[2:])))"
        return f"list_transform({hashes}, lambda h: {fam} * {nb} + {bucket - nb + 1})"

    parts = [part(f"list_slice({m_open}, 1, {start})", 0), part(f"list_slice({m_open}, 1 + {start}, len({m_open}))", 1),
             part(m_rest, 2)]
    return f"list_concat({', '.join(parts)})"


def _linear_sql(m: dict[str, Any], ids: str, dense: list[str]) -> str:
    names = feature_names()
    nfeat = len(FAMILIES) * len(BUCKETS)
    w = m["weights"]
    wid = _list_sql([float(w.get(n, 0.0)) for n in names[:nfeat]], "DOUBLE")
    terms = " + ".join(f"{float(w.get(n, 0.0))!r} * {d}" for n, d in zip(names[nfeat:], dense))
    return f"({float(m['bias'])!r} + coalesce(list_sum(list_select({wid}, {ids})), 0) + {terms})"


def provider_signal_sql(finish_reason: str = "finish_reason", provider_refusal: str = "provider_refusal") -> str:
    """SQL, TRUE when the provider itself refused (never NULL): a non-empty provider_refusal (values such as
    'false'/'0'/'none' that a mapping may produce from a boolean are not a refusal), or finish_reason
    content_filter / refusal."""
    return (f"(coalesce(lower(trim({provider_refusal})) NOT IN ('', 'false', '0', 'null', 'none'), false) "
            f"OR coalesce(lower(trim({finish_reason})) IN ('content_filter', 'refusal'), false))")


def register(con, model: dict[str, Any] | None = None) -> None:
    """Define on this connection:

    llmvigil_refusal_features(r)        -> STRUCT(ids INTEGER[], dense DOUBLE[]): what the model reads
    llmvigil_refusal_label(r, fr, pr)   -> 'refusal' | 'partial' | 'compliance' | NULL
    llmvigil_refusal_score(r, fr, pr)   -> DOUBLE in [0, 1] | NULL
    """
    model = model or load_model()
    ids = _ids_sql("r", _phrase_table(con))
    dense = [expr.format(r="r") for _, expr in DENSE]
    con.execute(f"CREATE OR REPLACE TEMP MACRO llmvigil_refusal_features(r) AS "
                f"{{'ids': {ids}, 'dense': [{', '.join(dense)}]::DOUBLE[]}}")
    z_ref = _linear_sql(model["refusal"], ids, dense)
    z_par = _linear_sql(model["partial"], ids, dense)
    score = f"(1 - 1 / (1 + exp({z_ref}) + exp({z_par})))"
    sig = provider_signal_sql("fr", "pr")
    # NULL for no text and no signal; CASE only around cheap terms (see _ids_sql)
    none = f"(CASE WHEN {sig} THEN 0 WHEN r IS NULL OR regexp_matches(r, '^\\s*$') THEN NULL ELSE 0 END)"
    # 1 compliance, 2 partial, 3 refusal: not compliance when score >= 0.5, then the larger class score
    text_idx = f"(1 + ({score} >= 0.5)::INTEGER * (1 + ({z_ref} >= {z_par})::INTEGER))"
    con.execute(
        "CREATE OR REPLACE TEMP MACRO llmvigil_refusal_label(r, fr, pr) AS "
        f"(['compliance', 'partial', 'refusal'])[greatest({text_idx}, 3 * {sig}::INTEGER) + {none}]")
    con.execute(
        "CREATE OR REPLACE TEMP MACRO llmvigil_refusal_score(r, fr, pr) AS "
        f"greatest({score}, {sig}::DOUBLE) + {none}")


def select_sql(response: str = "response", finish_reason: str = "finish_reason",
               provider_refusal: str = "provider_refusal") -> str:
    """SELECT-list fragment: `refusal_label`, `refusal_score` (register(con) first)."""
    a = f"{response}, {finish_reason}, {provider_refusal}"
    return f"llmvigil_refusal_label({a}) AS refusal_label, llmvigil_refusal_score({a}) AS refusal_score"


@lru_cache(maxsize=1)
def load_model(path: Path | None = None) -> dict[str, Any]:
    with open(path or MODEL_PATH, encoding="utf-8") as f:
        model = json.load(f)
    missing = set(feature_names()) - set(model["refusal"]["weights"])
    if missing:
        raise ValueError(f"{path or MODEL_PATH}: model lacks features {sorted(missing)[:5]}...; "
                         "retrain with scripts/train_refusal.py")
    return model


def _connect():
    import duckdb

    return duckdb.connect()


def classify(responses: Sequence[str | None], finish_reasons: Sequence[str | None] | None = None,
             provider_refusals: Sequence[str | None] | None = None,
             model: dict[str, Any] | None = None) -> tuple[list[str | None], list[float | None]]:
    """Label and score each response: the SQL path on an in-memory DuckDB (identical results)."""
    import pyarrow as pa

    n = len(responses)
    tbl = pa.table({  # noqa: F841 - read by DuckDB's replacement scan
        "response": pa.array(list(responses), type=pa.string()),
        "finish_reason": pa.array(list(finish_reasons) if finish_reasons is not None else [None] * n,
                                  type=pa.string()),
        "provider_refusal": pa.array(list(provider_refusals) if provider_refusals is not None else [None] * n,
                                     type=pa.string()),
    })
    con = _connect()
    try:
        register(con, model)
        rows = con.execute(f"SELECT {select_sql()} FROM tbl").fetchall()
    finally:
        con.close()
    return [r[0] for r in rows], [r[1] for r in rows]


def features(responses: Sequence[str | None], con=None) -> np.ndarray:
    """The design matrix the model reads, straight from the SQL macro (one row per response)."""
    import pyarrow as pa

    tbl = pa.table({"r": pa.array([x or "" for x in responses], type=pa.string())})  # noqa: F841
    own = con is None
    con = con or _connect()
    try:
        if own:
            register(con, _zero_model())
        rows = con.execute("SELECT f.ids, f.dense FROM (SELECT llmvigil_refusal_features(r) AS f FROM tbl)"
                           ).fetchall()
    finally:
        if own:
            con.close()
    nfeat = len(FAMILIES) * len(BUCKETS)
    X = np.zeros((len(rows), nfeat + len(DENSE)))
    for i, (ids, dense) in enumerate(rows):
        for j in ids:
            X[i, j - 1] += 1.0
        X[i, nfeat:] = dense
    return X


def _zero_model() -> dict[str, Any]:
    zero = {"bias": 0.0, "weights": {}}
    return {"refusal": zero, "partial": zero}


# --------------------------------------------------------------------------------------------- training

SEEDS_PATH = Path(__file__).parent / "refusal_data" / "seeds.jsonl"
# The recipe both scripts/train_refusal.py and the cross-validation in refusal_eval use. Fixed a priori,
# not searched on the evaluation data: L2 penalty 1 on every weight, seed examples weighted 2.
RECIPE = {"l2": 1.0, "seed_weight": 2.0}


def load_seeds() -> list[dict[str, str]]:
    """Hand-written en/es/pt support-bot examples (refusals, partials, hard negatives) shipped with the
    package and added to the training data: the public dev data has no Spanish or Portuguese."""
    with open(SEEDS_PATH, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@lru_cache(maxsize=1)
def _seed_matrix() -> tuple[np.ndarray, tuple[str, ...]]:
    extra = load_seeds()
    return features([e["response"] for e in extra]), tuple(e["label"] for e in extra)


def fit_recipe(X: np.ndarray, labels: Sequence[str], seeds: bool = True) -> dict[str, Any]:
    """Fit the shipped recipe on (X, labels), plus the seed examples unless seeds=False."""
    w = np.ones(len(labels))
    if seeds:
        Xs, ls = _seed_matrix()
        X = np.vstack([X, Xs])
        labels = list(labels) + list(ls)
        w = np.r_[w, np.full(len(ls), RECIPE["seed_weight"])]
    return fit_model(X, labels, l2=RECIPE["l2"], sample_weight=w)


def fit_softmax(X: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 1.0,
                sample_weight: np.ndarray | None = None, iters: int = 100) -> np.ndarray:
    """Multinomial logistic regression, the last class as the reference (its score is 0), L2 on every weight
    but the biases, fitted by Newton's method: deterministic. y holds class indices 0..n_classes-1. Returns
    a (n_classes - 1, 1 + d) array of [bias, weights] per non-reference class."""
    n, d = X.shape
    K = n_classes - 1
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    A = np.hstack([np.ones((n, 1)), X])
    Y = np.stack([(y == c).astype(float) for c in range(K)], axis=1)
    W = np.zeros((K, d + 1))
    pen = np.full(d + 1, float(l2))
    pen[0] = 0.0
    for _ in range(iters):
        Z = np.clip(A @ W.T, -35, 35)
        E = np.exp(Z)
        P = E / (1 + E.sum(axis=1, keepdims=True))
        G = ((P - Y) * sw[:, None]).T @ A + W * pen               # K x (d+1)
        H = np.zeros((K * (d + 1), K * (d + 1)))
        for a in range(K):
            for b in range(K):
                c = sw * P[:, a] * ((a == b) - P[:, b])
                H[a * (d + 1):(a + 1) * (d + 1), b * (d + 1):(b + 1) * (d + 1)] = (A * c[:, None]).T @ A
        H += np.diag(np.tile(pen, K)) + 1e-9 * np.eye(K * (d + 1))
        step = np.linalg.solve(H, G.ravel()).reshape(K, d + 1)
        W -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return W


def fit_model(X: np.ndarray, labels: Sequence[str], l2: float = 1.0,
              sample_weight: np.ndarray | None = None) -> dict[str, Any]:
    """The model: a score for 'refusal' and one for 'partial', 'compliance' being the reference (score 0)."""
    idx = {"refusal": 0, "partial": 1, "compliance": 2}
    W = fit_softmax(X, np.array([idx[x] for x in labels]), 3, l2=l2, sample_weight=sample_weight)
    names = feature_names()
    return {cls: {"bias": round(float(W[i, 0]), 6),
                  "weights": {n: round(float(v), 6) for n, v in zip(names, W[i, 1:])}}
            for cls, i in (("refusal", 0), ("partial", 1))}


def predict(X: np.ndarray, model: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The SQL decision rule in numpy, for texts (no provider signal): used inside cross-validation."""
    names = feature_names()
    z = {}
    for cls in ("refusal", "partial"):
        w = np.array([model[cls]["weights"].get(n, 0.0) for n in names])
        z[cls] = model[cls]["bias"] + X @ w
    score = 1 - 1 / (1 + np.exp(z["refusal"]) + np.exp(z["partial"]))
    labels = np.where(score < 0.5, "compliance", np.where(z["refusal"] >= z["partial"], "refusal", "partial"))
    return labels, score


def explain(text: str) -> list[str]:
    """Debug aid: the cue matches of one text and the features they become."""
    con = _connect()
    try:
        register(con, _zero_model())
        head, rest = _regions_sql("r")
        pat = _sql_str(cue_pattern())
        m1, m2, ids = con.execute(f"SELECT regexp_extract_all({head}, {pat}, 0, 'i'), "
                                  f"regexp_extract_all({rest}, {pat}, 0, 'i'), (llmvigil_refusal_features(r)).ids "
                                  "FROM (SELECT ?::VARCHAR AS r)", [text]).fetchall()[0]
    finally:
        con.close()
    names = feature_names()
    return [repr(x) for x in m1] + ["|"] + [repr(x) for x in m2] + ["->"] + [names[i - 1] for i in ids]
