"""Words the synthetic shop writes with: per-category nouns, adjectives and uses.

Each category has its own words, so item descriptions (and user taste texts) carry real
signal about the category for a language model, as shop copy does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CategoryWords:
    """The name of one category and the words its item descriptions draw from."""

    name: str
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    uses: tuple[str, ...]


def _words(name: str, nouns: str, adjectives: str, uses: str) -> CategoryWords:
    return CategoryWords(name, tuple(nouns.split(",")), tuple(adjectives.split(",")),
                         tuple(uses.split(",")))  # fmt: skip


CATEGORIES = (
    _words(
        "books",
        "novel,paperback,cookbook,biography,thriller,atlas",
        "gripping,illustrated,bestselling,annotated,classic",
        "long evenings of reading,book clubs,curious students,a quiet weekend",
    ),
    _words(
        "music",
        "vinyl record,album,box set,concert recording,songbook",
        "remastered,live,acoustic,soulful,rare",
        "jazz lovers,a night of listening,collectors of records,road trips",
    ),
    _words(
        "electronics",
        "headphones,smartwatch,charger,bluetooth speaker,tablet",
        "wireless,fast-charging,noise-cancelling,compact,high-resolution",
        "commuters,home offices,gaming sessions,travel",
    ),
    _words(
        "garden",
        "hose,planter,pruning shears,seed kit,compost bin",
        "weatherproof,organic,sturdy,raised,frost-resistant",
        "vegetable beds,balcony gardens,spring planting,growing herbs",
    ),
    _words(
        "toys",
        "puzzle,building blocks,plush bear,board game,toy train",
        "colourful,educational,wooden,cuddly,battery-free",
        "toddlers,family game nights,birthday gifts,rainy afternoons",
    ),
    _words(
        "kitchen",
        "skillet,chef knife,blender,cutting board,saucepan",
        "cast-iron,non-stick,stainless,dishwasher-safe,razor-sharp",
        "home cooks,weeknight dinners,baking bread,meal prep",
    ),
    _words(
        "sports",
        "running shoes,yoga mat,dumbbells,tennis racket,football",
        "lightweight,breathable,grippy,professional,shock-absorbing",
        "marathon training,home workouts,the gym,weekend matches",
    ),
    _words(
        "beauty",
        "lipstick,face serum,moisturiser,perfume,nail polish",
        "hydrating,fragrance-free,vegan,long-lasting,radiant",
        "daily skincare,sensitive skin,evening makeup,self-care routines",
    ),
    _words(
        "fashion",
        "dress,denim jacket,sneakers,wool scarf,handbag",
        "tailored,vintage,oversized,linen,elegant",
        "summer outings,the office,city walks,formal events",
    ),
    _words(
        "outdoor",
        "tent,hiking boots,backpack,sleeping bag,headlamp",
        "waterproof,ultralight,insulated,rugged,packable",
        "mountain hikes,camping trips,trail running,cold nights outside",
    ),
    _words(
        "pets",
        "dog leash,cat tree,chew toy,pet bed,aquarium filter",
        "durable,washable,orthopedic,calming,chew-proof",
        "playful puppies,indoor cats,long walks,senior dogs",
    ),
    _words(
        "games",
        "video game,controller,gaming headset,strategy game,console",
        "multiplayer,open-world,competitive,retro,immersive",
        "online battles,co-op evenings,speedrunners,story lovers",
    ),
    _words(
        "health",
        "vitamins,protein powder,blood pressure monitor,first aid kit,massager",
        "sugar-free,clinically tested,plant-based,gentle,daily",
        "immune support,recovery after workouts,healthy routines,better sleep",
    ),
    _words(
        "home",
        "sofa cushion,floor lamp,wall clock,rug,bookshelf",
        "scandinavian,minimalist,cosy,handwoven,modern",
        "living rooms,small apartments,reading corners,guest rooms",
    ),
    _words(
        "tools",
        "cordless drill,screwdriver set,tape measure,workbench,saw",
        "heavy-duty,precision,ergonomic,rechargeable,magnetic",
        "diy projects,woodworking,home repairs,professional builders",
    ),
    _words(
        "baby",
        "stroller,baby monitor,onesie,bottle set,teething ring",
        "soft,bpa-free,hypoallergenic,foldable,organic cotton",
        "newborns,sleepy nights,new parents,stroller walks",
    ),
    _words(
        "office",
        "notebook,fountain pen,desk organiser,ergonomic chair,planner",
        "refillable,dotted,adjustable,leather-bound,recycled",
        "note taking,remote work,busy schedules,journaling",
    ),
    _words(
        "grocery",
        "coffee beans,olive oil,dark chocolate,green tea,pasta",
        "single-origin,extra virgin,fair-trade,artisan,gluten-free",
        "slow breakfasts,italian dinners,afternoon tea,gourmet gifts",
    ),
    _words(
        "automotive",
        "car charger,dash cam,floor mats,tyre inflator,seat cover",
        "all-weather,high-definition,universal fit,portable,scratch-resistant",
        "long drives,road safety,family cars,winter roads",
    ),
    _words(
        "art",
        "watercolour set,sketchbook,easel,acrylic paints,calligraphy pens",
        "pigment-rich,archival,artist-grade,blendable,fine-tip",
        "painters,urban sketching,beginners in art,lettering practice",
    ),
)

GENERIC_NOUNS = ("item", "product", "set", "kit", "pack", "model")
GENERIC_ADJECTIVES = ("new", "popular", "handy", "reliable", "premium", "affordable")
BRANDS = (
    "Nordhaven", "Alpenglow", "Kestrel", "Morrow & Finch", "Bluefield", "Cinderleaf",
    "Oakridge", "Vela", "Sundial", "Harbor Lane", "Quillon", "Tamarind", "Fjeld", "Lumen",
    "Brightwater", "Copperpot", "Ironbark", "Marisol", "Peregrine", "Wildmoor",
)  # fmt: skip
COUNTRIES = ("US", "DE", "FR", "GB", "IN", "BR", "JP", "ES", "IT", "PL")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")

_SYLLABLES = ("ka", "lo", "mi", "ten", "ra", "sul", "vo", "den", "ni", "par", "qu", "zel")
# Words whose first letter's sound is not what the letter suggests: a vowel letter said as a
# consonant ("a universal fit", "a one-off") or a silent h ("an hour"). Prefixes, lower case.
_VOWEL_LETTER_CONSONANT_SOUND = ("eu", "ewe", "one", "once", "ubiq", "uni", "ura", "ure", "uri",
                                 "uro", "usa", "use", "usu", "uti")  # fmt: skip
_SILENT_H = ("heir", "honest", "honor", "honour", "hour")
# "un-" then "i...": a negation said with a vowel ("an unimportant"), not "uni-" ("a unit").
_UN_NEGATIONS = ("unim", "unin")


def indefinite_article(phrase: str) -> str:
    """Return "a" or "an" for the phrase it goes before, by the sound of its first word.

    Spelling rules with the common exceptions (``_VOWEL_LETTER_CONSONANT_SOUND``,
    ``_SILENT_H``); a leading number goes by how it is said ("an 8-bit", "an 11-inch").

    >>> [indefinite_article(w) for w in ("adjustable", "sturdy", "universal", "hour", "8-bit")]
    ['an', 'a', 'a', 'an', 'an']
    >>> [indefinite_article(w) for w in ("unimportant", "unit", "ultralight", "one-off", "18")]
    ['an', 'a', 'an', 'a', 'an']
    """
    word = phrase.strip().lower()
    if not word:
        return "a"
    if word[0].isdigit():
        digits = word[: len(word) - len(word.lstrip("0123456789"))]
        # eight, eighty, eleven, eighteen (and 8,000, 11,000, 18,000 ...) start with a vowel
        spoken_vowel = digits.startswith("8") or (
            len(digits) % 3 == 2 and digits[:2] in ("11", "18")
        )
        return "an" if spoken_vowel else "a"
    if word.startswith(_SILENT_H) or word.startswith(_UN_NEGATIONS):
        return "an"
    if word[0] in "aeiou" and not word.startswith(_VOWEL_LETTER_CONSONANT_SOUND):
        return "an"
    return "a"


def with_article(phrase: str) -> str:
    """Return ``phrase`` after its indefinite article: "an admin", "a read".

    >>> with_article("adjustable planner"), with_article("ingest"), with_article("read")
    ('an adjustable planner', 'an ingest', 'a read')
    """
    return f"{indefinite_article(phrase)} {phrase}"


def category_words(index: int) -> CategoryWords:
    """Return the words of category ``index``; beyond the named ones, invented but stable.

    Invented categories get their own made-up nouns and adjectives, so their texts still
    separate from each other.
    """
    if index < len(CATEGORIES):
        return CATEGORIES[index]

    def word(k: int) -> str:
        # Base-12 digits of a number unique to (index, k), spelled as syllables: distinct
        # categories never share a word.
        number, parts = index * 16 + k, list[str]()
        while number or len(parts) < 3:
            number, digit = divmod(number, len(_SYLLABLES))
            parts.append(_SYLLABLES[digit])
        return "".join(parts)

    nouns = tuple(f"{word(k)} {GENERIC_NOUNS[k % len(GENERIC_NOUNS)]}" for k in range(5))
    adjectives = tuple(word(k + 5) + "ish" for k in range(5))
    uses = tuple(f"fans of {word(k + 10)}" for k in range(3))
    return CategoryWords(f"category-{index}", nouns, adjectives, uses)
