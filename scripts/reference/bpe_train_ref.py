#!/usr/bin/env python3
"""Independent reference for src/lm/tokenizer/train.ts: the naive byte-level BPE trainer.

Written from the algorithm's description (GPT-2 byte-to-unicode map and pre-tokenisation regex,
counts recomputed from scratch at every step), not from the TypeScript, which instead updates
counts incrementally. Same rules:
  * words = GPT-2 regex matches, counted; each word starts as its bytes mapped by bytes_to_unicode;
  * the vocabulary starts with the 256 byte symbols;
  * each step counts all adjacent pairs over all words (weighted by the word's count), takes the
    highest count, ties broken by the lexicographically smallest (left, right) pair of strings;
  * stops when that count is below min_frequency or the vocabulary (bytes + distinct merged
    strings) reaches the target;
  * merges are applied to each word left to right without overlap.

    python3 scripts/reference/bpe_train_ref.py > test/fixtures/lm/tokenizer/bpe_train_merges.json

Needs the `regex` module (for \\p{L} / \\p{N}).
"""
import json
import sys
from collections import Counter

import regex

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

TEXT = """The quick brown fox jumps over the lazy dog. The dog didn't mind; it's a lazy dog, they'd say.
Once upon a time there was a little girl who loved the rain, the wind and the sea.
She'd run along the shore, counting waves: 1, 2, 3, 12, 123, 1234 and then 2024 again.
   Indented lines,\ttabs\tand  double  spaces   matter to the pre-tokeniser.
Café, naïve, résumé, jalapeño; Ünïcödé wörds; 日本語のテキスト; emoji 😀😀 and 🚀!
aaab aaab aaab abab abab baba the the the then there these those this that.
"Quoted," she said -- 'single' quotes, (parentheses), [brackets], {braces} & more...
"""


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def train(text, target_tokens, min_frequency):
    b2u = bytes_to_unicode()
    counts = Counter(PAT.findall(text))
    words = {w: [b2u[b] for b in w.encode("utf-8")] for w in counts}
    vocab = set(b2u.values())
    merges = []
    while len(vocab) < target_tokens:
        pairs = Counter()
        for w, syms in words.items():
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] += counts[w]
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < min_frequency:
            break
        a, b = best
        merges.append({"pair": [a, b], "count": pairs[best]})
        vocab.add(a + b)
        for w, syms in words.items():
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[w] = out
    symbols = sum(len(s) * counts[w] for w, s in words.items())
    return merges, symbols


def main():
    runs = []
    for target, min_frequency in [(400, 2), (600, 1)]:
        merges, symbols = train(TEXT, target, min_frequency)
        runs.append({"target_tokens": target, "min_frequency": min_frequency, "symbol_count": symbols,
                     "merges": [m["pair"] for m in merges], "counts": [m["count"] for m in merges]})
    out = {"generator": "scripts/reference/bpe_train_ref.py", "text": TEXT, "runs": runs}
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
