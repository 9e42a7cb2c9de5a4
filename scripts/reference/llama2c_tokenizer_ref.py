#!/usr/bin/env python3
"""Independent reference for src/lm/tokenizer/llama2c.ts: a plain-Python port of the `encode`
function of llama2.c's run.c (Karpathy, MIT), written from the C source, not from the TypeScript.

Reads a llama2.c tokenizer.bin (int32 max_token_length; per token float32 score, int32 length,
bytes), encodes a fixed list of strings with BOS and the dummy prefix, and writes
{"tokenizer": ..., "encodings": [{"text": ..., "ids": [...]}]} as JSON.

    python3 scripts/reference/llama2c_tokenizer_ref.py test/fixtures/lm/stories260K/tok512.bin \
        > test/fixtures/lm/tokenizer/llama2c_encodings.json

Differences from run.c that cannot change results: pieces are looked up in a dict (first id for a
duplicated piece) instead of bsearch over a sorted copy; Python floats hold the float32 scores
exactly, and -1e10 is rounded to float32 as C's `float best_score = -1e10` is.
"""
import json
import struct
import sys

STRINGS = [
    "",
    "a",
    " ",
    "Once upon a time, there was a little girl named Lily.",
    "She loved to play outside in the park. One day, she saw a big, red ball.",
    "Tom and Sue went to the zoo!\nThey saw a lion.",
    "  two leading spaces and trailing  ",
    "numbers 1234567890 and symbols #$%&*()[]{}<>",
    "héllo wörld — café",
    "日本語のテキスト",
    "emoji 😀🚀 and 👩‍👩‍👧",
    "tab\tseparated\tvalues\r\n",
    "<0x41> <s> </s> <unk>",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz",
    "The dog said, \"I'm happy!\" and wagged its tail.",
]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def load(path):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    off = 4
    vocab, scores = [], []
    while off < len(data):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        vocab.append(data[off:off + n])
        scores.append(score)
        off += n
    return max_len, vocab, scores


def encode(vocab, scores, text, bos=True, eos=False):
    lookup = {}
    for i, p in enumerate(vocab):
        lookup.setdefault(p, i)
    tokens = []
    if bos:
        tokens.append(1)
    b = text.encode("utf-8")
    if len(b) > 0:
        tokens.append(lookup[b" "])
    buf = b""
    for i, c in enumerate(b):
        if (c & 0xC0) != 0x80:
            buf = b""
        buf += bytes([c])
        nxt = b[i + 1] if i + 1 < len(b) else 0
        if (nxt & 0xC0) == 0x80 and len(buf) < 4:
            continue
        if buf in lookup:
            tokens.append(lookup[buf])
        else:
            tokens.extend(x + 3 for x in buf)
        buf = b""
    while True:
        best_score, best_id, best_idx = f32(-1e10), -1, -1
        for i in range(len(tokens) - 1):
            pid = lookup.get(vocab[tokens[i]] + vocab[tokens[i + 1]], -1)
            if pid != -1 and scores[pid] > best_score:
                best_score, best_id, best_idx = scores[pid], pid, i
        if best_idx == -1:
            break
        tokens[best_idx] = best_id
        del tokens[best_idx + 1]
    if eos:
        tokens.append(2)
    return tokens


def main():
    path = sys.argv[1]
    _, vocab, scores = load(path)
    out = {
        "tokenizer": "test/fixtures/lm/stories260K/tok512.bin",
        "generator": "scripts/reference/llama2c_tokenizer_ref.py (bos=True, eos=False)",
        "vocab_size": len(vocab),
        "encodings": [{"text": s, "ids": encode(vocab, scores, s)} for s in STRINGS],
    }
    # One encoding per line keeps the fixture small and its diffs readable.
    head = {k: v for k, v in out.items() if k != "encodings"}
    lines = [json.dumps(e, ensure_ascii=False) for e in out["encodings"]]
    body = json.dumps(head, ensure_ascii=False)[:-1]
    sys.stdout.write(body + ',\n "encodings": [\n  ' + ',\n  '.join(lines) + '\n ]\n}\n')


if __name__ == "__main__":
    main()
