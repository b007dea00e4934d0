"""What a reply means: a conservative Spanish intent engine over the cleaned reply text.

The text is folded (case, accents, emoji, repeated letters, common typos), cut into
clauses at sentence ends and at contrast words ("pero", "mejor", "aunque"), and each
clause is read for signals from explicit phrase lists. Negation turns an approval into a
stop ("no adelante", "adelante no"); after a contrast the later clause wins when it holds
or stops ("sí pero espera"); an approval that is conditioned, doubted, asked or mixed with
anything else is UNKNOWN. A wrong "yes" is the most dangerous mistake the bot can make,
so nothing here ever guesses an approval.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from bot.handlers.entities import fold as plain_fold
from bot.rules.dsl import INTENTS as INTENTS  # the contract's names, declared once

PROCEED = "PROCEED"
STOP = "STOP"
LATER = "LATER"
THANKS_DONE = "THANKS_DONE"
VALIDATED = "VALIDATED"
NOT_SOLVED = "NOT_SOLVED"
ACCEPT = "ACCEPT"
QUESTION = "QUESTION"
UNKNOWN = "UNKNOWN"


class Classifier(Protocol):
    """Maps a cleaned reply text to one of the contract's intents."""

    def __call__(self, text: str) -> str:
        """The intent name (UNKNOWN when unsure)."""
        ...


# --- normalisation ---------------------------------------------------------------------

EMOJI = {
    "👍": " ok ",
    "👌": " ok ",
    "✅": " ok ",
    "🙏": " gracias ",
    "🛑": " alto ",
    "✋": " alto ",
    "❌": " no ",
    "⛔": " alto ",
    "🤔": " ? ",
    "🙄": " sarcasmo ",
    "🙃": " sarcasmo ",
    "😒": " sarcasmo ",
    "🤨": " sarcasmo ",
}
# Typos seen in real replies, mapped to the word meant.
TYPOS = {
    "adelnte": "adelante",
    "adelantee": "adelante",
    "adalante": "adelante",
    "adeltante": "adelante",
    "adelane": "adelante",
    "adeante": "adelante",
    "delante": "adelante",
    "detenelo": "detenlo",
    "detento": "detenlo",
    "detelo": "detenlo",
    "detnlo": "detenlo",
    "detemlo": "detenlo",
    "denetlo": "detenlo",
    "proseda": "proceda",
    "prosede": "procede",
    "procde": "procede",
    "gracais": "gracias",
    "grasias": "gracias",
    "grax": "gracias",
    "gracas": "gracias",
    "graciass": "gracias",
    "funsiona": "funciona",
    "funcoina": "funciona",
    "fuciona": "funciona",
    "qedo": "quedo",
    "kedo": "quedo",
    "avisio": "aviso",
    "aivso": "aviso",
    "tengp": "tengo",
    "tngo": "tengo",
    "xfa": "por favor",
    "xfavor": "por favor",
    "porfa": "por favor",
    "porfis": "por favor",
    "pls": "por favor",
    "plis": "por favor",
    "q": "que",
    "k": "que",
    "tmb": "tambien",
    "tb": "tambien",
    "ntp": "no te preocupes",
    "xq": "por que",
    "pq": "por que",
    "porq": "por que",
    "d": "de",
    "sip": "si",
    "simon": "si",
    "nel": "no",
    "nop": "no",
    "nope": "no",
    "okey": "ok",
    "oki": "ok",
    "okis": "ok",
    "okas": "ok",
    "ook": "ok",
    "oka": "ok",
    "vdd": "verdad",
    "dnd": "donde",
    "cmo": "como",
    "prox": "proxima",
}


def fold(text: str) -> str:
    """Lower case, no accents, emoji as words, repeated letters squeezed, typos fixed."""
    for symbol, word in EMOJI.items():
        text = text.replace(symbol, word)
    plain = re.sub(r"([a-z])\1{2,}", r"\1", plain_fold(text))  # "siiii" -> "si", "adelanteee"
    plain = re.sub(r"\b(s|n)(i|o)\2+\b", r"\1\2", plain)  # "sii", "noo"
    words = re.split(r"(\W+)", plain)
    return "".join(TYPOS.get(w, w) for w in words)


# --- phrase lists (folded) ---------------------------------------------------------------

P_PROCEED = (
    r"adelante",
    r"procede(n)?",
    r"procedan",
    r"proceda",
    r"procedemos",
    r"puedes? proceder",
    r"pueden proceder",
    r"favor de proceder",
    r"dale(le)?",
    r"darle (de )?(el )?alta",
    r"da(le|las|los|nos)? de alta",
    r"den(lo|la|los)? de alta",
    r"dar(lo|la|los)? de alta",
    r"d[ae]r(le|lo|la)? tramite",
    r"tramita(lo|la|los)?",
    r"tramiten(lo|la)?",
    r"autoriz(o|ado|ada|amos|ados|adas)",
    r"aprobad[oa]",
    r"apruebo",
    r"luz verde",
    r"go ahead",
    r"sigue adelante",
    r"(puedes |pueden |favor de )?continua(r)? con (el|la) (alta|tramite|proceso)",
    r"continuen( con (el|la) (alta|tramite|proceso))?",
    r"sigan con (el|la) (alta|tramite|proceso)",
    r"proceder",
    r"confirmo (el alta|que si procede|que procede)",
    r"si va",
)
# Whole replies that approve only when they are the entire clause ("va", "sale", "órale").
P_PROCEED_WHOLE = (
    r"(ok |si )?(va|dale)( que va)?( gracias)?",
    r"yes",
)
P_STOP = (
    r"deten(lo|la|los|las|gan|ganlo|erlo|er|gamos)?",
    r"detenga(lo|n|nlo)?",
    r"no (lo |la |los )?(proced\w*|continu\w*|sig\w*|avanc\w*|tramit\w*)",
    r"cancel\w*",
    r"no (lo |la |los )?(des|den|demos|dar|darlo|darla|darle) de alta",
    r"ya no (va|procede|se (va a )?(dar|hacer|tramitar))",
    r"no va",
    r"alto",
    r"stop",
    r"fren\w*",
    r"paral[eo]s?",
    r"no (lo )?autoriz\w*",
    r"no (esta|estan) autorizad\w*",
    r"se da de baja",
    r"no (se )?procede",
    r"ya no (quiere|desea|va a)",
    r"desist\w*",
    r"olvida(lo|te)?",
    r"suspend\w*",
    r"no acepto",
    r"ni (ahora ni )?mas adelante",
    r"do not proceed",
    r"don'?t (proceed|continue|go ahead)",
)
P_LATER = (
    # "te confirmo el lunes" holds; "te confirmo que ya quedó" only states something.
    r"(te|le|les|los|las) (aviso|avisamos|confirmo|confirmamos|digo|decimos|marco)"
    r"(?! (que|tambien|los|las|el correo|su|sus|mi|mis))",
    r"(te|le|les) (voy a |vamos a |puedo |podre |podemos )?(avisar|confirmar|decir|informar)"
    r"(?! que)",
    r"aviso cuando",
    r"cuando (proceda|entregue|mande|llegue|tenga|este|me (confirme|mande|entregue))",
    r"en cuanto (tenga|me|entregue|llegue|este|proceda)",
    r"espera(me|nos|n|r|mos|le|te)?",
    r"esperate",
    r"esperen(me)?",
    r"esperemos",
    r"espere",
    r"aguanta(me)?",
    r"aguarda",
    r"(aun|todavia) no( (tiene|entrega|manda|llega|esta|esta listo|procede))?",
    r"mas adelante",
    r"(por|para) (ahora|el momento) no",
    r"de momento no",
    r"dejame (checar|ver|revisar|confirmar|validar|consultar|preguntar|probar)(lo|la|los)?",
    r"deja (checo|veo|reviso|confirmo|valido|pregunto|pruebo)",
    r"(lo|la) (checo|reviso|veo|consulto|valido|pruebo)",
    r"(en )?stand ?by",
    r"(on )?hold",
    r"en (pausa|espera)",
    r"pausa(lo|r)?",
    r"(queda|dejalo|dejemoslo|lo dejamos|dejarlo) (en )?pendiente",
    r"despues (te|le) (aviso|confirmo|digo)",
    r"luego (te|le) (aviso|confirmo|digo)",
    r"not yet",
    r"wait",
)
P_THANKS_DONE = (
    r"ya (lo |la |los |las )?(tengo|tenemos)",
    r"ya (lo|la|los|las) tiene",
    r"ya tiene (sus|su) (accesos|acceso|usuario|credenciales|contrasena|claves)",
    r"ya (me |le |nos )?(llego|llegaron|recibi|recibio|recibimos)",
    r"ya (lo |la |los )?recibi(mos)?",
    r"(lo |la |los )?recibi(do|da|dos|das|mos)?( correctamente| bien| sin problema)?",
    r"acuso (de )?recibo",
    r"me (llego|llegaron)( bien| correctamente)?",
    r"(llego|llegaron) (bien|correctamente|sin problema)",
    r"ya (tengo|tiene) (mi |su |sus |mis )?(usuario|contrasena|acceso|clave|credenciales)",
    r"got it",
    r"received",
)
P_VALIDATED = (
    r"ya (quedo|quedo resuelto|funciona|funciono|jala|sirve|abre|abrio|puedo|pude|pudo|pudimos|"
    r"entre|entro|se resolvio|se soluciono|se arreglo|quedo arreglado|esta( resuelto| solucionado|"
    r" listo)?|me deja|carga|cargo|sincroniza|me aparece|aparece|me llegan|llegan)",
    r"quedo (resuelto|listo|solucionado|bien)",
    r"(esta|quedo) (resuelto|solucionado)",
    r"todo (bien|ok|correcto|en orden|funciona)",
    r"funciona (bien|correctamente|perfecto|de maravilla)",
    r"quedo|funciono",
    r"(resuelto|solucionado)",
    r"listo",
    r"it works",
    r"works now",
)
P_NOT_SOLVED = (
    r"sigue (sin|igual|\w+ando|\w+iendo|el (mismo )?error|bloquead\w*|sin poder)",
    r"(el problema|la falla|el error) (continua|persiste|sigue)",
    r"y nada",
    r"tampoco",
    r"(todavia|aun) no (me )?(llega|llegan|llego|llegaron|aparece|aparecen|carga|abre|sale)",
    r"sigo (sin|igual|con el (mismo )?(error|problema))",
    r"no (me |le )?(funciona|jala|sirve|quedo|abre|carga|sincroniza|deja|entra)",
    r"no ha (quedado|funcionado|quedado resuelto)",
    r"no (puedo|pude|he podido|hemos podido|pudo)",
    r"no se (resolvio|soluciono|arreglo)",
    r"(todavia|aun) no (puedo|pude|funciona|jala|sirve|quedo|me deja|abre|entra)",
    r"otra vez",
    r"de nuevo",
    r"nuevamente",
    r"volvio a|vuelve a",
    r"(el )?mismo (error|problema)",
    r"persiste",
    r"still (not|doesn'?t|isn'?t|can'?t|the same)",
    r"doesn'?t work",
    r"not working",
)
# Doubt or condition next to an approval makes it no approval.
P_DOUBT = (
    r"no se(?! (que|como|cual|donde|cuando|quien|por que|preocupe))",
    r"no estoy segur[oa]",
    r"creo que",
    r"tal vez",
    r"quiza(s)?",
    r"a lo mejor",
    r"igual y",
    r"siempre (y|que) cuando",
    r"solo si",
    r"si es que",
    r"en caso de que",
    r"supongo",
    r"tengo (mis |algunas |serias )?dudas",
    r"maybe",
    r"a menos que",
    r"sarcasmo",
    r"sicond",
)
QUESTION_START = re.compile(
    r"^(que(?! no)|cual|cuales|cuando|como|donde|quien|quienes|cuanto|cuantos|por que|para que|"
    r"me (puedes|pueden|podrias|podrian)|podrias|podrian|"
    r"hay que|se puede|es necesario|tengo que|debo|una duda|tengo una (duda|pregunta)|"
    r"pregunta|duda)\b|\b(quiero|quisiera|me gustaria|necesito) saber\b"
)
CONTRAST = re.compile(r"\b(pero|sin embargo|aunque|mas bien|mejor|o sea|nada mas que|solo que)\b")
# Closing formulas and small talk carry no decision: "Quedo atenta", "¿cómo están?".
FORMULAS = re.compile(
    r"\bquedo (muy )?(atent[oa]|al pendiente|pendiente|a (sus|tus) (apreciables )?ordenes|"
    r"en espera|a la espera)\b[^.!?\n]*"
    r"|\bcomo (estan|esta|estas|les fue|te fue|le fue|les va|te va|han estado)\b[^.!?\n]*"
    r"|\bhow are you\b|\bfelices fiestas\b|\bfeliz (navidad|ano)\b"
)
# An unaccented "si" before a verb is "if": "te aviso si procede", "les digo si ya quedó".
CONDITIONAL_SI = re.compile(
    r"(?<=[a-z,] )(?<!por )(?<!x )si (?=(procede|proceda|va|ya|se|puede|pueden|es|tiene|entrega|"
    r"manda|firma|el|la|los|las|hay|todo|todos|esta|estan|funciona|queda|falta|le|les|me|lo|nos|"
    r"su|sus|tu|tus|mi|mis|usted|ustedes|alguien|algo|metlife|comercial|direccion)\b)"
    # Sentence-first "si ..., adelante" states a condition before the decision.
    r"|(?:^|(?<=[.!?\n] ))si (?=(el|la|los|las|ya|no|tiene|entrega|manda|firma|su|sus|metlife|"
    r"comercial|direccion)\b[^,.\n]{0,60},)"
)
CONDITION = re.compile(r"\b(sicond|cuando|en cuanto|en caso de que|una vez que)\b")
# "Allá lo van a dar de alta" tells what others will do; it approves nothing.
STATEMENT = re.compile(r"\b(van|va|vamos|iban|iba|ibamos|vayan) a $")
APPROVALS = frozenset({PROCEED, VALIDATED, THANKS_DONE})
HOLDS = frozenset({STOP, LATER, NOT_SOLVED})
# "No hay problema", "no te preocupes": a "no" that negates nothing.
HARMLESS_NO = re.compile(
    r"\bno (hay (ningun )?problema|te preocupes|se preocupe|pasa nada|hay inconveniente)\b"
)
NEGATIONS = frozenset({"no", "tampoco", "nunca", "ni"})


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation with word boundaries."""
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b")


SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (STOP, _compile(P_STOP)),
    (LATER, _compile(P_LATER)),
    (NOT_SOLVED, _compile(P_NOT_SOLVED)),
    (THANKS_DONE, _compile(P_THANKS_DONE)),
    (VALIDATED, _compile(P_VALIDATED)),
    (PROCEED, _compile(P_PROCEED)),
)
PROCEED_WHOLE = re.compile(r"^(?:" + "|".join(P_PROCEED_WHOLE) + r")$")
DOUBT = _compile(P_DOUBT)


@dataclass(frozen=True)
class Clause:
    """A piece of the reply: its folded text, whether it asks, and what it signals."""

    text: str
    asks: bool
    signals: frozenset[str]
    after_contrast: bool
    doubt: bool
    # What a question mentions: "¿adelante o esperamos?" asks to choose, it decides nothing.
    asked: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reading:
    """The intent with the clauses it came from (for explanations and tests)."""

    intent: str
    clauses: tuple[Clause, ...]
    reason: str


def _signals(text: str) -> tuple[set[str], bool]:
    """The intents a clause's wording points to, and whether something conditions them."""
    cleaned = HARMLESS_NO.sub(" ", text)
    matches = [
        (m.start(), m.end(), name)
        for name, pattern in SIGNALS
        for m in pattern.finditer(cleaned)
        if m.end() > m.start()
    ]
    # The longest reading of the same words wins: "todavía no puedo" over "todavía no".
    matches.sort(key=lambda m: (m[0] - m[1], m[0]))
    taken: list[tuple[int, int]] = []
    found: set[str] = set()
    conditioned = False
    for start, end, name in matches:
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        before = cleaned[:start]
        if name in APPROVALS and CONDITION.search(" ".join(before.split()[-4:])):
            conditioned = True  # "te aviso cuando proceda", "si ya quedó": not a yes
            continue
        if name == PROCEED and STATEMENT.search(before):
            continue
        if name in APPROVALS and _negated(cleaned, start, end):
            if name == PROCEED:
                found.add(STOP)
            elif name == VALIDATED:
                found.add(NOT_SOLVED)
            continue  # "no me llegó" is a complaint, not a receipt
        found.add(name)
    if not found and PROCEED_WHOLE.match(_bare(cleaned)):
        found.add(PROCEED)
    return found, conditioned


# Words of a reply that only thanks or acknowledges ("¡Muchas gracias!", "Enterada, saludos"):
# courtesy, with nothing asked or reported. "gracias" alone is UNKNOWN as an intent, since
# it approves nothing; courtesy is what a closed case may receive without reopening.
_COURTESY_WORDS = frozenset(
    [
        "muchas",
        "mil",
        "muchisimas",
        "gracias",
        "thanks",
        "thank",
        "you",
        "ok",
        "okay",
        "perfecto",
        "excelente",
        "listo",
        "enterado",
        "enterada",
        "entendido",
        "saludos",
        "un",
        "saludo",
        "cordial",
        "buen",
        "buena",
        "buenas",
        "dia",
        "dias",
        "tarde",
        "tardes",
        "noche",
        "que",
        "tengas",
        "tenga",
        "muy",
        "amable",
        "de",
        "nuevo",
        "nuevamente",
        "igualmente",
        "quedo",
        "atento",
        "atenta",
        "a",
        "sus",
        "ordenes",
        "tus",
        "ordenes",
        "y",
        "por",
        "todo",
        "apoyo",
        "ayuda",
        "su",
        "tu",
        "el",
        "la",
    ]
)
_COURTESY_MARKERS = frozenset({"gracias", "thanks", "enterado", "enterada", "entendido"})
COURTESY_MAX_WORDS = 15


def is_courtesy(text: str) -> bool:
    """A short reply that only thanks or acknowledges, asking and reporting nothing."""
    words = _bare(fold(text)).split()
    return (
        0 < len(words) <= COURTESY_MAX_WORDS
        and "?" not in text
        and bool(_COURTESY_MARKERS & set(words))
        and set(words) <= _COURTESY_WORDS
    )


def _bare(text: str) -> str:
    """A clause without punctuation."""
    return " ".join(re.findall(r"[a-z0-9']+", text))


def _negated(text: str, start: int, end: int) -> bool:
    """A negation shortly before ("no tiene caso darlo de alta") or right after ("adelante no")."""
    # "No sé si deba darlo de alta" doubts; it does not refuse.
    before = re.findall(r"[a-z]+", re.sub(r"\bno se\b", " ", text[:start]))[-4:]
    after = re.findall(r"[a-z]+", text[end:])[:1]
    return bool(NEGATIONS & set(before)) or after == ["no"]


def _clauses(text: str) -> list[Clause]:
    """The reply cut at sentence ends and contrast words."""
    out: list[Clause] = []
    contrast_seen = pending = False
    for sentence in re.split(r"(?<=[.!?;\n])|(?=¿)", text):
        if not sentence.strip():
            continue
        asks = "?" in sentence or "¿" in sentence
        pieces = CONTRAST.split(sentence)
        # split() with one group yields [text, marker, text, marker, ...]
        for index, piece in enumerate(pieces[::2]):
            body = piece.strip(" ,.!¡¿?;:-\n\t")
            if not body:
                # "Sí adelante, pero ¿qué datos...?" turns in the next sentence;
                # "..., mejor." ends one: nothing turns.
                if index and not sentence.rstrip(" ,").endswith((".", "!", ";", "\n")):
                    pending = True
                continue
            if index or pending:
                contrast_seen = True
                pending = False
            signals, conditioned = _signals(body)
            question = asks or bool(QUESTION_START.search(body))
            out.append(
                Clause(
                    text=body,
                    asks=question,
                    # A question decides nothing: "¿procede aunque no tenga la cédula?"
                    signals=frozenset() if question else frozenset(signals),
                    after_contrast=contrast_seen,
                    doubt=conditioned or bool(DOUBT.search(body)),
                    asked=frozenset(signals) if question else frozenset(),
                )
            )
    return out


def _accept(text: str) -> bool:
    """The keyword gate: ACEPTO alone, emoji and punctuation aside, signature below it."""
    lowered = unicodedata.normalize("NFC", text.lower())
    first, _, rest = lowered.strip().partition("\n\n")
    if re.findall(r"[^\W\d_]+", first) != ["acepto"] or "?" in lowered:
        return False
    # What follows may only be a signature: no question, nothing that decides.
    return not any(c.signals or c.asks for c in _clauses(fold(rest)))


def understand(text: str) -> Reading:
    """Read a cleaned reply: its intent and why."""
    if _accept(text):
        return Reading(ACCEPT, (), "la palabra ACEPTO sola")
    lowered = CONDITIONAL_SI.sub("sicond ", text.lower()[:4000])
    folded = FORMULAS.sub(" ", fold(lowered))
    clauses = _clauses(folded)
    if not clauses:
        return Reading(UNKNOWN, (), "sin texto")
    return _decide(clauses)


def _decide(clauses: list[Clause]) -> Reading:
    """Combine the clauses' signals into one intent, never guessing an approval."""
    found = tuple(clauses)
    every = set().union(*(c.signals for c in clauses))
    doubt = any(c.doubt for c in clauses)
    asks = any(c.asks for c in clauses)
    turn = [c for c in clauses if c.after_contrast]
    if turn:
        before = set().union(*(c.signals for c in clauses if not c.after_contrast))
        final = set().union(*(c.signals for c in turn))
        holds = final & HOLDS
        if VALIDATED in before and NOT_SOLVED in final:
            return Reading(UNKNOWN, found, "resuelto, pero hay otro problema")
        if len(holds) == 1 and not final - holds - {THANKS_DONE}:
            return Reading(holds.pop(), found, "lo dicho después del 'pero' manda")
        if final == {STOP, LATER}:
            return Reading(LATER, found, "detener por ahora y avisar después")
        if not final and any(c.asks for c in turn):
            return Reading(QUESTION, found, "pregunta después del 'pero'")
        if final == {PROCEED} and before <= {PROCEED} and not doubt:
            return Reading(PROCEED, found, "aprueba después del 'pero'")
    if "sarcasmo" in " ".join(c.text for c in clauses):
        return Reading(UNKNOWN, found, "sarcasmo")
    holds = every & HOLDS
    if holds:
        if holds == {STOP, LATER}:
            return Reading(LATER, found, "detener por ahora y avisar después")
        if holds == {STOP, NOT_SOLVED}:
            return Reading(STOP, found, "detener")
        # "Ya me llegó la contraseña y no me deja entrar": the hold is what counts.
        if len(holds) == 1 and not every - holds - {THANKS_DONE, VALIDATED}:
            return Reading(next(iter(holds)), found, "una sola intención")
        return Reading(UNKNOWN, found, "intenciones mezcladas")
    if doubt and every:
        return Reading(UNKNOWN, found, "aprobación con duda o condición")
    if PROCEED in every:
        if turn or asks:
            return Reading(UNKNOWN, found, "aprobación con pregunta o contraste")
        # "Adelante, ya está todo en orden" explains the approval in the same breath; "Ya
        # quedó lo de Pro99. Y sobre el alta: adelante." mixes two matters.
        if any(c.signals and PROCEED not in c.signals for c in clauses):
            return Reading(UNKNOWN, found, "aprobación junto con otro asunto")
        return Reading(PROCEED, found, "aprobación")
    if every == {VALIDATED, THANKS_DONE}:
        return Reading(VALIDATED, found, "quedó resuelto y lo agradece")
    if len(every) == 1:
        return Reading(next(iter(every)), found, "una sola intención")
    if not every and asks:
        if any(c.doubt and not c.asks for c in clauses):
            return Reading(UNKNOWN, found, "duda sin decisión")
        if any(PROCEED in c.asked and len(c.asked) > 1 for c in clauses):
            return Reading(UNKNOWN, found, "pregunta entre aprobar y otra cosa")
        return Reading(QUESTION, found, "pregunta sin decisión")
    return Reading(UNKNOWN, found, "ninguna intención reconocible" if not every else "mezcla")


def classify(text: str) -> str:
    """The intent of a cleaned reply; mixed or doubtful replies are UNKNOWN."""
    return understand(text).intent
