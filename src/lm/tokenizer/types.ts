/**
 * The interface every tokenizer in src/lm/tokenizer implements, plus a streaming decoder.
 *
 * A tokenizer maps text to integer ids and back. Ids are `Int32Array`s so they can go straight
 * into embedding look-ups. Decoding works on bytes: each id stands for a byte string (a UTF-8
 * fragment, possibly an incomplete character), and the bytes of a sequence are decoded as UTF-8
 * only at the end, so a character split across tokens comes out whole.
 */
export interface EncodeOptions {
  /** Prepend the beginning-of-sequence id (an error if the tokenizer has none). */
  bos?: boolean;
  /** Append the end-of-sequence id (an error if the tokenizer has none). */
  eos?: boolean;
}

export interface Tokenizer {
  /** 'llama2c' or 'bpe'. */
  readonly kind: string;
  /** Number of ids; every id produced by `encode` is in [0, vocabSize). */
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  encode(text: string, opts?: EncodeOptions): Int32Array;
  /** Text of a sequence of ids; invalid UTF-8 (only possible for hand-made id sequences) becomes U+FFFD. */
  decode(ids: ArrayLike<number>): string;
  /** The piece of one id for display (UTF-8 decoded, byte tokens as `<0xXX>` where the format names them so). */
  decodeToken(id: number): string;
  /**
   * The bytes id `id` contributes to decoded text when it follows `prev` (null at the start).
   * `decode` is the UTF-8 decoding of the concatenation of these; a streaming printer uses them
   * with {@link StreamDecoder}.
   */
  tokenBytes(id: number, prev?: number | null): Uint8Array;
  /** Writes the tokenizer into folder `dir` in its native format; returns the file written. */
  save?(dir: string): string;
}

/** Raised for an id outside [0, vocabSize) or a request the tokenizer cannot serve (e.g. bos without a BOS token). */
export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

/** Checks `id` is an integer in [0, vocabSize); the message names the tokenizer kind. */
export function checkId(t: { kind: string; vocabSize: number }, id: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= t.vocabSize) {
    throw new TokenizerError(`${t.kind} tokenizer: token id ${id} is outside [0, ${t.vocabSize})`);
  }
}

/**
 * Turns ids arriving one at a time into text as soon as it is complete: bytes of a character
 * split across tokens are held back until the character is whole (TextDecoder in stream mode).
 */
export class StreamDecoder {
  private readonly dec = new TextDecoder('utf-8');
  private prev: number | null = null;

  constructor(private readonly tok: Tokenizer) {}

  /** Text that became complete with this id (possibly ''). */
  push(id: number): string {
    const bytes = this.tok.tokenBytes(id, this.prev);
    this.prev = id;
    return this.dec.decode(bytes, { stream: true });
  }

  /** Flushes held bytes (an incomplete character at the end becomes U+FFFD). */
  end(): string {
    this.prev = null;
    return this.dec.decode();
  }
}

/** Concatenates byte chunks. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
