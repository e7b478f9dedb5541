"""The world tokenizer: word-level ids, special tokens, and CLIP pooling at its end token."""

import pytest
import torch
from transformers import AutoTokenizer, CLIPModel

from cpt_lightning.tools.pretrain_world_clip import save_world_clip, world_clip_config
from cpt_lightning.world.captions import vocabulary_words
from cpt_lightning.world.tokenizer import END, PAD, SPECIAL_TOKENS, START, UNK, build_world_tokenizer

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def saved_tokenizer(tmp_path_factory):
    """A tiny random world CLIP and its tokenizer, saved and reloaded the way users load the shipped one."""
    tokenizer = build_world_tokenizer()
    config = world_clip_config(tokenizer)
    for sub in (config.text_config, config.vision_config):
        sub.hidden_size, sub.intermediate_size, sub.num_hidden_layers, sub.num_attention_heads = 32, 64, 2, 2
    config.projection_dim = 16
    directory = tmp_path_factory.mktemp("world_clip")
    save_world_clip(CLIPModel(config), tokenizer, directory)
    return directory


def test_special_token_ids_and_word_level_split(saved_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(saved_tokenizer)
    assert [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert (tokenizer.pad_token, tokenizer.unk_token, tokenizer.bos_token, tokenizer.eos_token) == (
        PAD,
        UNK,
        START,
        END,
    )
    assert set(tokenizer("a red circle.")) == {"input_ids", "attention_mask"}  # CLIP takes no token types
    ids = tokenizer("a photo of a Red circle.")["input_ids"]
    words = ["a", "photo", "of", "a", "red", "circle", "."]
    assert ids == [2, *tokenizer.convert_tokens_to_ids(words), 3]
    assert UNK not in tokenizer.convert_ids_to_tokens(ids)
    assert tokenizer("a photo of a zebra.")["input_ids"][5] == 1


def test_every_caption_word_is_in_the_vocabulary():
    tokenizer = build_world_tokenizer()
    ids = tokenizer.convert_tokens_to_ids(vocabulary_words())
    assert 1 not in ids and len(set(ids)) == len(ids)


def test_config_special_ids_match_the_tokenizer(saved_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(saved_tokenizer)
    text_config = CLIPModel.from_pretrained(saved_tokenizer).config.text_config
    assert text_config.eos_token_id == tokenizer.eos_token_id == 3
    assert text_config.bos_token_id == tokenizer.bos_token_id
    assert text_config.pad_token_id == tokenizer.pad_token_id
    # 2 would make HF CLIP pool at the largest token id instead of the end token (legacy checkpoints).
    assert text_config.eos_token_id != 2


def test_clip_pools_each_text_at_its_end_token(saved_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(saved_tokenizer)
    model = CLIPModel.from_pretrained(saved_tokenizer).eval()
    # "yellow" has a larger id than the end token, so argmax-of-ids pooling would pick the wrong place.
    texts = ["a red circle.", "a photo of a large striped yellow star.", "a sketch of a shape."]
    tokens = tokenizer(texts, padding="max_length", max_length=16, return_tensors="pt")
    with torch.no_grad():
        out = model.text_model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
    end_positions = [len(tokenizer(t)["input_ids"]) - 1 for t in texts]
    expected = out.last_hidden_state[torch.arange(len(texts)), torch.tensor(end_positions)]
    torch.testing.assert_close(out.pooler_output, expected)
    assert (tokens["input_ids"][torch.arange(len(texts)), torch.tensor(end_positions)] == 3).all()
