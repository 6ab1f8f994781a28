"""Transcripts: a small template grammar with plenty of emotionally neutral wording.

An utterance's text is ``[opener] core``. The core comes from the utterance's own emotion's
templates with probability ``p_emotional_wording``, from another emotion's with
``p_other_wording`` (irony, talking about a past feeling), and otherwise from neutral, topical
templates — most of what people say in a conversation is not emotion words. Slots are filled
from the dialogue's topic so dialogues differ in content.
"""

from __future__ import annotations

import numpy as np

TOPICS = {
    "job": dict(thing="the offer letter", place="the office", person="my boss"),
    "flight": dict(thing="my suitcase", place="the airport", person="the agent"),
    "wedding": dict(thing="the invitations", place="the church", person="your sister"),
    "apartment": dict(thing="the lease", place="the new place", person="the landlord"),
    "exam": dict(thing="the results", place="the library", person="the professor"),
    "car": dict(thing="the keys", place="the garage", person="the mechanic"),
    "dog": dict(thing="the leash", place="the park", person="the vet"),
    "party": dict(thing="the cake", place="the restaurant", person="Mark"),
    "move": dict(thing="the boxes", place="the old house", person="my mother"),
    "school": dict(thing="the letter", place="the school", person="the principal"),
    "money": dict(thing="the bill", place="the bank", person="the accountant"),
    "friend": dict(thing="the message", place="the cafe", person="Sarah"),
}

PROPER = {"Mark", "Sarah"}  # names that keep their capital after an opener

TIMES = ("tomorrow", "on Monday", "next week", "tonight", "this morning", "last night",
         "at five", "in an hour", "on the weekend", "yesterday")

OPENERS = ("", "", "", "", "Well, ", "So, ", "Okay, ", "You know, ", "I mean, ", "Look, ",
           "Hmm, ", "Right, ", "Yeah, ", "Oh, ")

NEUTRAL = (
    "I went to {place} {time}.", "Did you talk to {person} about the {topic}?",
    "We need to decide about the {topic} by {time}.", "What time does it start?",
    "I think it's on the second floor.", "Can you bring {thing}?", "So what did {person} say?",
    "It's about twenty minutes from here.", "I'll call you {time}.", "Right, the {topic}.",
    "Let me check my calendar.", "Yes.", "No, not really.", "Okay.", "Maybe.",
    "I'm not sure what you mean.", "Where did you put {thing}?", "{person} wants to meet {time}.",
    "Do you want some coffee?", "It depends on the {topic}.", "I have to ask {person} first.",
    "We could take the bus.", "The form is on the table.", "How long have you been waiting?",
    "They said it would be ready {time}.", "Is that the one with the blue door?",
    "I already told {person} about it.", "Let's go over it again.", "What do you think?",
    "Hold on a second.", "I was at {place} the whole afternoon.", "That makes sense.",
    "I need to sign {thing} {time}.", "Uh huh.", "And then what?", "Sure, why not.",
)

EMOTIONAL = {
    "happy": (
        "That's wonderful news about the {topic}!", "I'm so happy for you!",
        "This is the best thing that happened all year!", "I can't wait to see {person}!",
        "We did it, we actually got the {topic}!", "Oh, I love it!", "That's amazing!",
        "You made my day.", "Congratulations, you really deserve it!", "Ha, that's hilarious.",
        "I'm so excited about {time}!", "This is perfect, thank you!", "I can't believe it!",
        "Everything worked out in the end!", "I feel great about the {topic}.",
        "Oh my god, yes!", "We're going to have so much fun!", "I'm really proud of you.",
    ),
    "sad": (
        "I really miss {person}.", "I don't think I can do this anymore.",
        "It's just not the same without you.", "I'm sorry, I just feel so tired.",
        "Nothing ever works out for me.", "I lost the {topic}.", "It hurts to think about it.",
        "I guess it doesn't matter now.", "I wish things were different.",
        "I didn't get the {topic}.", "Everyone left, and I'm alone again.",
        "I don't know what to do without {person}.", "It's over. It's really over.",
        "I tried so hard, and it still wasn't enough.", "I can't stop crying.",
        "Oh my god.", "Why does this always happen to me?", "I'm sorry.",
    ),
    "angry": (
        "This is ridiculous!", "I'm sick of waiting for the {topic}!",
        "How could you do that to me?", "Don't you dare talk to me like that!",
        "You never listen to me!", "That's the third time they lost {thing}!",
        "I want to speak to the manager, now!", "Stop it, just stop it!", "Unbelievable.",
        "Are you kidding me?", "I can't believe it!", "This is your fault!",
        "I told you a hundred times!", "Get out of my way!", "I'm not paying for this!",
        "Why does this always happen to me?", "Oh my god.", "Leave me alone!",
    ),
}


def make_text(*, emotion: str, topic: str, rng: np.random.Generator, p_emotional: float,
              p_other: float) -> tuple[str, str]:
    """Draw a transcript for one utterance.

    Returns:
        (text, wording) where wording is ``"own"``, ``"other:<emotion>"`` or ``"neutral"``.
    """
    u = rng.random()
    p_own = p_emotional if emotion in EMOTIONAL else 0.0  # neutral has no emotion words of its own
    if u < p_own:
        pool, wording = EMOTIONAL[emotion], "own"
    elif u < p_own + p_other:
        others = [e for e in EMOTIONAL if e != emotion]
        other = others[rng.integers(len(others))]
        pool, wording = EMOTIONAL[other], f"other:{other}"
    else:
        pool, wording = NEUTRAL, "neutral"
    slots = dict(TOPICS[topic], topic=topic, time=TIMES[rng.integers(len(TIMES))])
    core = pool[rng.integers(len(pool))].format(**slots)
    opener = OPENERS[rng.integers(len(OPENERS))]
    if opener:
        first = core.split()[0].strip(",.!?")
        keep_case = first in PROPER or first == "I" or first.startswith("I'")
        core = opener + (core if keep_case else core[0].lower() + core[1:])
    return core[0].upper() + core[1:], wording
