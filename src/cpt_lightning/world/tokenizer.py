"""The demo world's word-level tokenizer, in a `transformers` fast tokenizer that `AutoTokenizer` loads.

Every word of the world's captions and class names is one token; text is lower-cased and split at
whitespace and punctuation, so "a photo of a Red circle." is
`<|startoftext|> a photo of a red circle . <|endoftext|>`. The special tokens take ids 0-3
(`<pad>`, `<unk>`, `<|startoftext|>`, `<|endoftext|>`); the CLIP text config must use the same
`eos_token_id`, because CLIP pools the text at the first end token (and treats an `eos_token_id`
of 2 as a legacy checkpoint that pools at the largest id instead, so the end token is 3 on purpose).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from cpt_lightning.world.captions import vocabulary_words

PAD, UNK, START, END = "<pad>", "<unk>", "<|startoftext|>", "<|endoftext|>"
SPECIAL_TOKENS = (PAD, UNK, START, END)

# Words beyond the captions' own that prompt templates commonly use, so they do not all become <unk>.
_EXTRA_WORDS = ("this", "is", "with", "and", "in", "on", "object", "kind", "type", "thing", "good", "bad")


def build_world_tokenizer(model_max_length: int = 32, words: Iterable[str] | None = None) -> PreTrainedTokenizerFast:
    """A fresh tokenizer whose vocabulary is the special tokens followed by the world's words, sorted.

    `words` defaults to the demo world's caption words; another world passes its own.
    """
    words = sorted(set(vocabulary_words() if words is None else words) | set(_EXTRA_WORDS))
    vocab = {token: i for i, token in enumerate((*SPECIAL_TOKENS, *words))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single=f"{START} $A {END}", special_tokens=[(START, vocab[START]), (END, vocab[END])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=START,
        eos_token=END,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=model_max_length,
    )
