"""Precise prompt-injection rules: phrasings that are never a customer's honest request.

The embedding classifier catches paraphrases; these rules catch the canonical attacks even when
a model would be unsure, and they are the only layer when the model is unavailable. Every rule
must stay quiet on ordinary customer messages ("ignore my last email", "cancel the order",
"can you override the shipping address?"): the tests run them over every benign example.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that render as nothing and are used to split trigger words ("ig\u200bnore").
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064"), None
)

_PREVIOUS = r"(?:previous|prior|preceding|above|earlier|former|original|initial|existing|old)"
_INSTRUCTIONS = (
    r"(?:instructions?|rules?|prompts?|directions?|directives?|guidelines?|policies|"
    r"constraints?|restrictions?|guardrails?|guidance|programming|context|commands?|tasks?|"
    r"assignments?)"
)
_SAFETY = (
    r"(?:safety|security|guardrails?|rules?|policy|policies|restrictions?|filters?|"
    r"confirmation|confirmations|approval|approvals|verification|authentication|limits?|"
    r"checks?|system prompt)"
    # "turn off order confirmation emails" is a customer's honest request
    r"(?!\s*(?:e-?mails?|messages?|notifications?|texts?|sms|letters?))"
)
# Roles that only exist inside the store: "I'm a manager at a bakery" is an honest customer.
_PRIVILEGED = (
    r"(?:staff|admin|administrator|sysadmin|superuser|root user|moderator|"
    r"(?:store|shop|your|company|support|customer service)\s+(?:employee|manager|supervisor|"
    r"owner|developer|engineer|agent|staff|admin|representative|rep)|"
    r"(?:employee|manager|supervisor|developer|engineer)\s+(?:here|at\s+this\s+(?:store|shop)|"
    r"of\s+this\s+(?:store|shop)|at\s+your\s+(?:store|shop|company)))"
)
_ASSISTANT = r"(?:assistant|ai|agent|bot|chatbot|model|llm|language model|gpt|system)s?"

RULES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "ignore-previous-instructions": (
            # "ignore my previous delivery instructions" is a customer changing their mind: only
            # determiners may sit between the verb and the instructions, and never "my"
            rf"\b(?:ignore|disregard|forget|overlook|skip|drop|abandon|override)\b"
            rf"(?:\s+(?:all|the|any|of|your|these|those|every|above|and|system))*\s+"
            rf"{_PREVIOUS}\s+(?:system\s+)?{_INSTRUCTIONS}\b"
        ),
        "ignore-your-instructions": (
            rf"\b(?:ignore|disregard|forget|override|bypass|stop\s+following|stop\s+obeying|"
            rf"no\s+longer\s+follow)\s+(?:all\s+)?(?:of\s+)?"
            rf"(?:your|the\s+system'?s?|the\s+assistant'?s?)\s+(?:\w+\s+)?{_INSTRUCTIONS}\b"
        ),
        "forget-everything": (
            r"\b(?:forget|ignore|disregard)\s+(?:about\s+)?(?:everything|all)\s+"
            r"(?:(?:you(?:'ve| have)?\s+(?:been\s+)?(?:told|said|learned|learnt))|(?:above|before|"
            r"previously|so far|until now))"
        ),
        "instructions-you-were-given": (
            r"\b(?:instructions?|rules|prompt|guidelines)\s+(?:that\s+)?you\s+(?:were|have\s+been|"
            r"got)\s+(?:given|programmed|told|trained|configured)\b|\bwhat\s+(?:were|are)\s+you\s+"
            r"(?:told|instructed|programmed)\s+(?:to\s+do\s+)?before\b|\bwhat\s+(?:instructions|"
            r"rules|prompt|guidelines)\s+(?:were|have)\s+you\s+(?:been\s+)?(?:given|told|programmed)"
        ),
        "context-override": (
            r"\b(?:ignore|disregard|override|bypass)\s+(?:the\s+|your\s+)?(?:customer|user|"
            r"conversation|session|authenticated)\s+(?:context|id|identity|verification)\b"
        ),
        "new-instructions": (
            r"(?:^|\n|\.\s|:\s)\s*(?:new|updated|revised|real|actual|true)\s+"
            r"(?:instructions?|task|rules?|system prompt|directive)s?\s*:"
        ),
        "reveal-system-prompt": (
            r"\b(?:reveal|print|show|display|repeat|output|tell|give|leak|dump|spell out|"
            r"recite|write out|list)\b(?:\s+\w+){0,3}?\s+(?:your|the)\s+(?:\w+\s+)?"
            r"(?:system|hidden|secret|internal|developer)\s+"
            r"(?:prompt|instructions?|message|rules|configuration)"
        ),
        "role-override": (
            r"\b(?:you\s+are\s+now|from\s+now\s+on,?\s+you\s+(?:are|will\s+be|act\s+as)|"
            r"act\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|evil)|"
            r"enter\s+(?:developer|god|admin|debug|dan)\s+mode|do\s+anything\s+now|"
            r"(?:developer|god|admin|debug|dan|jailbreak)\s+mode\s+(?:enabled|activated|on))"
        ),
        "bypass-safety": (
            # "important not to disregard safety protocols" asks about a rule, not to break it
            rf"(?<!not to )(?<!never )(?<!n't )(?<!not )"
            rf"\b(?:override|bypass|disable|circumvent|turn\s+off|switch\s+off|skip|ignore|disregard|"
            rf"deactivate|get\s+around|evade)\s+(?:all\s+)?(?:the\s+|your\s+|any\s+|these\s+)?"
            rf"(?:\w+\s+)?{_SAFETY}\b"
        ),
        "claimed-privilege": (
            rf"\b(?:i\s*(?:'m|am)|this\s+is|speaking\s+as|as)\s+(?:an?\s+|the\s+|your\s+)?"
            rf"(?:senior\s+|head\s+|it\s+|system\s+)?{_PRIVILEGED}\b"
            rf"(?:\W+\w+){{0,12}}?\W+(?:approve|authori[sz]e|override|grant|issue|unlock|"
            rf"bypass|skip|refund|release|elevate|disable)\b"
        ),
        "instructions-to-assistant": (
            rf"\b(?:the\s+|any\s+|all\s+)?{_ASSISTANT}\s+(?:reading|processing|seeing|that\s+"
            rf"reads?|who\s+reads?)\s+(?:this|these)\b|\b(?:note|attention|important|instruction)"
            rf"\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?{_ASSISTANT}\b|\b{_ASSISTANT}\s+"
            rf"(?:must|should|shall|will|is\s+(?:required|instructed|authori[sz]ed)\s+to)\s+"
            rf"(?:now\s+|immediately\s+|always\s+)?(?:ignore|reveal|disregard|obey|"
            rf"follow\s+these|execute|transfer|grant)\b|"
            # money verbs only in the voice of a document addressing machines, not a complaint
            rf"\b(?:ai|llm|language model|gpt|assistants|agents|models)\s+(?:must|shall|"
            rf"is\s+(?:required|instructed|authori[sz]ed)\s+to|are\s+(?:required|instructed|"
            rf"authori[sz]ed)\s+to)\s+(?:now\s+|immediately\s+|always\s+)?(?:issue|refund|"
            rf"approve|cancel|send|call|recommend|promote|mention|say|tell)\b"
        ),
        "chat-template-tokens": (
            r"<\|(?:im_start|im_end|system|endoftext|start_header_id|end_header_id|eot_id)\|>|"
            r"\[/?INST\]|<<\s*/?SYS\s*>>|^\s*#{2,}\s*(?:system|instruction)s?\b|"
            r"(?:^|\n|[.!?]\s)\s*(?:system|assistant|admin)\s*:\s*(?:you|ignore|new|override|"
            r"from now|tell|reveal|print|show|give|send|cancel|refund|approve|mark)"
        ),
        "delimiter-spoof": (
            r"</?\s*(?:untrusted|untrusted[-_]data|data|document|tool[-_]?result|system|context|"
            r"retrieved|quote)\b[^>]*>|\bend\s+of\s+(?:the\s+)?(?:untrusted|quoted)\s+"
            r"(?:data|document|text|content)\b|\bend\s+of\s+(?:the\s+)?tool\s+results?\b"
        ),
        "german-ignore": (
            r"\b(?:ignoriere|vergiss|vergessen\s+sie|ignorieren\s+sie|missachte)\b"
            r"(?:\s+\w+){0,4}?\s+(?:anweisungen|befehle|aufgaben|regeln|alles|vorherigen|obigen)|"
            r"\b(?:vorherigen|bisherigen|obigen|vorigen)\s+(?:anweisungen|instruktionen|befehle|"
            r"aufgaben|informationen)\b"
        ),
    }.items()
}


def normalise(text: str) -> str:
    """Fold look-alike characters and drop invisible ones so rules see what a model sees."""
    folded = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return re.sub(r"[ \t\r\f\v]+", " ", folded)


def matches(text: str) -> list[str]:
    """Names of the rules that `text` triggers (empty when none does)."""
    clean = normalise(text)
    return [name for name, pattern in RULES.items() if pattern.search(clean)]
