"""Random-weight CLIP checkpoints built offline, saved to disk, and loaded back through the
real `from_pretrained` path. Tests use the tiny one; benchmarks use `CLIPConfig()` defaults
(ViT-B/32 shapes) so speed figures mean something without downloadable weights."""

from __future__ import annotations

from pathlib import Path

_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 .,-'!?"


def _byte_level_tokenizer():
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in _CHARS:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def build_random_clip(out_dir: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Save a random CLIP model + processor to `out_dir`; size is "tiny" or "vit-b-32"."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _byte_level_tokenizer()
    vocab_size = len(tokenizer.get_vocab())
    text_ids = dict(vocab_size=vocab_size, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    if size == "tiny":
        image_size = 32
        config = CLIPConfig(
            text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=2, max_position_embeddings=77, **text_ids),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=2, image_size=image_size, patch_size=8),
            projection_dim=16,
        )
    elif size == "vit-b-32":
        image_size = 224
        config = CLIPConfig(text_config=dict(**text_ids))
    else:
        raise ValueError(f"unknown size {size!r}: use 'tiny' or 'vit-b-32'")
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        ),
        tokenizer=tokenizer,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


# ---- other families: tiny random checkpoints with the tokenizer and image processor real ones use ----

_CORPUS = ["a red circle at the top left", "a blue square in the middle", "two green triangles",
           "mountains at sunset, snow", "a cat on a sofa", "a dog in the rain", "紅色的圓 藍色的方塊"]
_TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                    image_size=32, patch_size=8)
_TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)


def _sentencepiece_model(path: Path) -> Path:
    """A tiny unigram sentencepiece model trained here (SiglipTokenizer reads spiece.model)."""
    import io

    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 20 + [" ".join(_CHARS)]), model_writer=buffer, vocab_size=60,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False,
        character_coverage=1.0, minloglevel=2)
    path.write_bytes(buffer.getvalue())
    return path


def build_random_siglip(out_dir: str | Path, seed: int = 0, tokenizer: str = "sentencepiece") -> Path:
    """A tiny random SigLIP: SiglipModel + SiglipImageProcessor (exact 32x32 resize, mean/std 0.5).

    tokenizer "sentencepiece": SiglipTokenizer over a sentencepiece model trained here (SigLIP 1);
    "gemma": a byte-level GemmaTokenizer, as the fixed-resolution SigLIP2 checkpoints
    (google/siglip2-base-patch16-224: model_type "siglip", Gemma tokenizer) ship."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel, SiglipProcessor

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if tokenizer == "sentencepiece":
        from transformers import SiglipTokenizer

        text_tokenizer = SiglipTokenizer(str(_sentencepiece_model(out_dir / "spiece.model")),
                                         model_max_length=16)
    elif tokenizer == "gemma":
        from transformers import GemmaTokenizer

        vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
        for ch in "▁" + _CHARS.replace(" ", ""):
            vocab.setdefault(ch, len(vocab))
        text_tokenizer = GemmaTokenizer(vocab=vocab, merges=[], model_max_length=16)
    else:
        raise ValueError(f"unknown tokenizer {tokenizer!r}: use 'sentencepiece' or 'gemma'")
    vocab_size = len(text_tokenizer.get_vocab())
    config = SiglipConfig(
        text_config=dict(**_TINY_TEXT, vocab_size=vocab_size, max_position_embeddings=16,
                         pad_token_id=text_tokenizer.pad_token_id, eos_token_id=text_tokenizer.eos_token_id,
                         bos_token_id=None),
        vision_config=dict(_TINY_VISION))
    processor = SiglipProcessor(image_processor=SiglipImageProcessorPil(size={"height": 32, "width": 32}),
                                tokenizer=text_tokenizer)
    torch.manual_seed(seed)
    SiglipModel(config).save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def build_random_chinese_clip(out_dir: str | Path, seed: int = 0) -> Path:
    """A tiny random Chinese-CLIP: BERT-style text tower with a WordPiece vocabulary of characters."""
    import torch
    from transformers import (BertTokenizer, ChineseCLIPConfig, ChineseCLIPImageProcessorPil,
                              ChineseCLIPModel, ChineseCLIPProcessor)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    for ch in _CHARS.replace(" ", "") + "".join(sorted(set("".join(_CORPUS)))):
        if not ch.isspace():
            vocab.setdefault(ch, len(vocab))
    tokenizer = BertTokenizer(vocab=vocab, model_max_length=52)
    config = ChineseCLIPConfig(
        text_config=dict(**_TINY_TEXT, vocab_size=len(vocab), max_position_embeddings=52, pad_token_id=0),
        vision_config=dict(_TINY_VISION), projection_dim=16)
    processor = ChineseCLIPProcessor(
        image_processor=ChineseCLIPImageProcessorPil(size={"shortest_edge": 32},
                                                     crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer)
    torch.manual_seed(seed)
    ChineseCLIPModel(config).save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def build_random_siglip2_naflex(out_dir: str | Path) -> Path:
    """A tiny SigLIP2 NaFlex config only (model_type "siglip2"): the encoder must refuse it at load."""
    from transformers import Siglip2Config

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    Siglip2Config(text_config=dict(_TINY_TEXT, vocab_size=64, bos_token_id=None, eos_token_id=1),
                  vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=2, patch_size=8)).save_pretrained(out_dir)
    return out_dir
