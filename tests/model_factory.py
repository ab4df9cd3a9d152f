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
