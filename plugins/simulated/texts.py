"""What the simulated speakers say.

The sentences are written for emokit (the real corpora's scripts are not copied); they follow each
corpus's design: SAVEE reads phonetically varied English sentences, a few common to every emotion,
two specific to each emotion and the rest generic; EMODB uses ten everyday German sentences
(``a`` short, ``b`` long) read in every emotion; eNTERFACE'05 has five short English sentences per
emotion whose content fits the emotion.
"""

from __future__ import annotations

import numpy as np

# -- SAVEE -----------------------------------------------------------------------------------
SAVEE_COMMON: tuple[str, ...] = (
    "The old clock on the landing stopped at half past nine",
    "Bring the blue folder when you come to the meeting",
    "A thin layer of frost covered the garden this morning",
)

SAVEE_SPECIFIC: dict[str, tuple[str, str]] = {
    "a": ("Who told you to move my papers off the desk", "That is the third time the train has been late"),
    "d": ("The fridge smells of milk that went off last week", "He left his plate of cold beans on the sofa"),
    "f": (
        "Somebody is walking up the stairs in the dark",
        "The brakes did not work when we came down the hill",
    ),
    "h": ("We won the tickets for the concert on Saturday", "My sister is coming home for the summer"),
    "sa": ("The little dog we had for years passed away", "Nobody came to the party she planned for weeks"),
    "su": (
        "The parcel was sent from a town I never heard of",
        "They painted the whole house yellow overnight",
    ),
}

_SUBJECTS = (
    "The farmer",
    "My neighbour",
    "A young teacher",
    "The pilot",
    "Her brother",
    "The baker",
    "An elderly man",
    "The students",
    "Our manager",
    "The nurse",
    "A tall stranger",
    "The children",
)
_VERBS = (
    "carried",
    "painted",
    "repaired",
    "noticed",
    "borrowed",
    "washed",
    "ordered",
    "described",
    "dropped",
    "collected",
    "measured",
    "followed",
)
_OBJECTS = (
    "a wooden ladder",
    "the broken window",
    "six glass bottles",
    "a pair of muddy boots",
    "the heavy suitcase",
    "a basket of apples",
    "the yellow bicycle",
    "a map of the valley",
    "the kitchen table",
    "two paper lanterns",
    "a bundle of letters",
    "the garden fence",
)
_ENDINGS = (
    "before the storm",
    "near the harbour",
    "after lunch",
    "along the river",
    "in the village hall",
    "during the holiday",
    "behind the station",
    "on a rainy Monday",
    "at the end of the street",
    "without a word",
    "for the whole afternoon",
    "by the old mill",
)


def savee_generic(count: int, *, seed: int = 20100) -> list[str]:
    """``count`` distinct generic English sentences, the same for every run (a fixed seed)."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        parts = (rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_ENDINGS))
        sentence = " ".join(str(p) for p in parts)
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
    return out


def savee_script() -> dict[str, list[str]]:
    """The sentences each SAVEE emotion code reads, in recording order (15 each, 30 neutral).

    As in SAVEE: every emotion reads the 3 common sentences, its 2 specific ones and 10 generic
    ones; neutral reads the common ones, all 12 emotion-specific ones and 15 generic ones.
    """
    generic = iter(savee_generic(6 * 10 + 15))
    script: dict[str, list[str]] = {}
    for code, specific in SAVEE_SPECIFIC.items():
        script[code] = [*SAVEE_COMMON, *specific, *(next(generic) for _ in range(10))]
    all_specific = [s for pair in SAVEE_SPECIFIC.values() for s in pair]
    script["n"] = [*SAVEE_COMMON, *all_specific, *(next(generic) for _ in range(15))]
    return script


# -- EMODB -----------------------------------------------------------------------------------
EMODB_SENTENCES: dict[str, str] = {
    "a01": "Die Tasche steht neben der Haustür",
    "a02": "Er hat den Schlüssel im Auto gelassen",
    "a04": "Morgen früh fährt der Bus eine Stunde später",
    "a05": "Das Fenster im Flur ist wieder offen",
    "a07": "Sie hat die Blumen auf den Balkon gestellt",
    "b01": "Wir haben den ganzen Nachmittag im Garten gearbeitet und danach Kuchen gegessen",
    "b02": "Der alte Schrank wird am Samstag abgeholt, weil wir im Keller Platz brauchen",
    "b03": "Nachdem das Wasser gekocht hatte, habe ich den Tee in die große Kanne gegossen",
    "b09": "Die Zeitung liegt seit heute Morgen ungelesen auf dem Küchentisch",
    "b10": "Am Wochenende wollen wir mit dem Fahrrad an den See fahren",
}

# -- eNTERFACE'05 ----------------------------------------------------------------------------
ENTERFACE_SENTENCES: dict[str, tuple[str, ...]] = {
    "an": (
        "I told you a hundred times to leave it alone",
        "You lied to me and I will not forget it",
        "Get out of my office right now",
        "This is the last time you do this to me",
        "How dare you touch my things",
    ),
    "di": (
        "That smell is making me feel sick",
        "There is something rotten in this soup",
        "I cannot believe you eat that",
        "Take it away, it is covered in mould",
        "The floor is sticky and it stinks in here",
    ),
    "fe": (
        "Please do not hurt me, I will give you everything",
        "Did you hear that noise downstairs",
        "Someone is following us, walk faster",
        "I cannot breathe, get me out of here",
        "What if they find us hiding here",
    ),
    "ha": (
        "We did it, we finally won the cup",
        "This is the best present I ever had",
        "I passed the exam with the highest mark",
        "You are coming with us to the beach",
        "What a wonderful surprise party",
    ),
    "sa": (
        "I miss her so much since she left",
        "Nobody remembered my birthday this year",
        "My old friend is very ill",
        "I lost the job I loved",
        "We will never see that house again",
    ),
    "su": (
        "You bought a horse, really",
        "I did not expect to see you here",
        "The whole street is covered in snow",
        "Is that my old teacher on television",
        "You finished the whole book in one night",
    ),
}
