"""Strings that exercise every branch of BERT's tokenizer: accents, emoji (old and new, skin
tones, ZWJ sequences), CJK, Hangul, Thai, Arabic, Cyrillic, Greek, control and format
characters, unusual whitespace, punctuation of every kind, unassigned code points, invalid
surrogate-free oddities, words over the 100-character limit and very long inputs. Shared by the
golden-file generator and the parity benchmark; deterministic for a seed."""
import random

WORDS = ("the quick brown fox jumps over lazy dog movie star wars empire strikes back comedy drama "
         "thriller romance documentary children animation sci-fi horror action adventure news sports "
         "weather politics economy election football basketball recipe health science technology "
         "unbelievable internationalization tokenization preprocessing transformers recommendation").split()
PIECES = [
    "café", "naïve", "Ångström", "São Paulo", "Zürich", "Øresund", "façade", "jalapeño", "Ελληνικά", "ΣΑΣ",
    "Москва", "İstanbul", "straße", "ǅungla", "ﬁnance", "Ⅻ", "東京", "北京欢迎你", "中文字符", "日本語のテキスト",
    "한국어 문장", "ภาษาไทย", "العربية", "עברית", "हिन्दी", "🥰", "🫠", "👍🏽", "👨‍👩‍👧", "🇫🇷", "😀😃😄",
    "❤️", "★", "™", "©2024", "€100", "$5.99", "50%", "a+b=c", "x<y>z", "^caret^", "`tick`", "|pipe|", "~tilde",
    "«quotes»", "“smart”", "‘single’", "—dash–", "…", "¿qué?", "¡hola!", "、。", "「括弧」", "(paren)", "[brackets]",
    "{braces}", "#hashtag", "@mention", "e-mail", "don't", "rock'n'roll", "U.S.A.", "3.14159", "1,000,000",
    "\u00ad", "\u200b", "\u200d", "\u2063", "\ufeff", "\u180e", "\x00", "\x07", "\x1b", "\x85", "\x0b", "\x0c",
    "\t", "\n", "\r\n", "\u00a0", "\u2028", "\u3000", "\u2009", "\ue000", "\U000f0000", "\u0378", "\uffff",
    "\U0002B820", "\U0002B920", "\uF900", "\U0002F800", "e\u0301", "n\u0303", "\u0301", "ﬀ", "Ǆ", "ᾼ", "ß",
]


def long_word(rng):
    return "".join(rng.choice("abcdefghij") for _ in range(rng.randint(95, 130)))


def case(rng, long_words=3000):
    kind = rng.random()
    n = rng.randint(1, 14)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.45:
            w = rng.choice(WORDS)
            parts.append(w.capitalize() if rng.random() < 0.3 else (w.upper() if rng.random() < 0.1 else w))
        elif r < 0.9:
            parts.append(rng.choice(PIECES))
        elif r < 0.95:
            parts.append(long_word(rng))
        else:
            parts.append(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff), rng.randint(0x3000, 0xd7ff),
                                         rng.randint(0xe000, 0xfffd), rng.randint(0x10000, 0x2ffff)])))
    sep = rng.choice([" ", " ", " ", "", "  ", "\t", "-", "/"])
    text = sep.join(parts)
    if kind < 0.03:
        text = " ".join(rng.choice(WORDS + PIECES) for _ in range(rng.randint(300, max(300, long_words))))
    elif kind < 0.05:
        text = ""
    elif kind < 0.07:
        text = rng.choice([" ", "\t\n ", "🥰🥰", "\u200b\u200b", "\x00"])
    return text


def cases(n, seed=42, long_words=3000):
    rng = random.Random(seed)
    return [case(rng, long_words) for _ in range(n)]
