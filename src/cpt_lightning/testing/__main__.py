"""`python -m cpt_lightning.testing --bpe FILE --out DIR [--size tiny|vit-b16]`: a random-weight CLIP directory
with the real CLIP tokenizer, for offline tests and smoke runs (`--model.clip_name_or_path DIR`)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from cpt_lightning.testing import save_random_clip, tiny_clip_config, vit_b16_config
from cpt_lightning.testing.clip_tokenizer import build_clip_tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt_lightning.testing", description=__doc__)
    parser.add_argument("--bpe", type=Path, required=True, help="OpenAI CLIP's bpe_simple_vocab_16e6.txt.gz")
    parser.add_argument("--out", type=Path, required=True, help="the directory to write (save_pretrained layout)")
    parser.add_argument("--size", choices=("tiny", "vit-b16"), default="tiny", help="tiny (32 px) or ViT-B/16")
    parser.add_argument("--layers", type=int, default=2, help="tiny only: layers of each tower")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = build_clip_tokenizer(args.bpe, scratch)
        tiny = args.size == "tiny"
        config = tiny_clip_config(tokenizer, num_layers=args.layers) if tiny else vit_b16_config(tokenizer)
        save_random_clip(args.out, tokenizer, config=config)
    print(f"Wrote a random-weight {args.size} CLIP with the real tokenizer to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
