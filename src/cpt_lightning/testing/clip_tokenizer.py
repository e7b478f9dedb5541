"""Build OpenAI CLIP's exact BPE tokenizer offline from `bpe_simple_vocab_16e6.txt.gz`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase

_NUM_MERGES = 49152 - 256 - 2  # lines 1..48894 of the merges file, as in OpenAI's simple_tokenizer


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable-unicode table (same order as OpenAI's)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


def write_clip_vocab(bpe_gz: str | Path, out_dir: str | Path) -> Path:
    """Write `vocab.json` and `merges.txt` of the 49,408-token CLIP vocabulary into `out_dir`."""
    bpe_gz, out_dir = Path(bpe_gz), Path(out_dir)
    if not bpe_gz.is_file():
        raise FileNotFoundError(f"CLIP BPE merges file not found at {bpe_gz}; expected bpe_simple_vocab_16e6.txt.gz.")
    with gzip.open(bpe_gz, "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    merges = lines[1 : _NUM_MERGES + 1]
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False))
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return out_dir


def build_clip_tokenizer(bpe_gz: str | Path, out_dir: str | Path) -> PreTrainedTokenizerBase:
    """The real CLIP tokenizer, written to `out_dir` (loadable with `AutoTokenizer`) and returned."""
    out_dir = write_clip_vocab(bpe_gz, out_dir)
    # The files' layout is the hub checkpoints' own, so `from_pretrained` picks the
    # right tokenizer class under both transformers 4.x (slow/fast pair) and 5.x.
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
    }
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True, **special}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    # A tokenizer.json left by an earlier build would take precedence over the files just written.
    (out_dir / "tokenizer.json").unlink(missing_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return tokenizer
