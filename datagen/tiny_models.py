"""Tiny random models built offline, so tests and benchmarks run the real loading and generation code.

Nothing is downloaded: the tokenizer is a byte-level BPE trained in-process, the weights are random. The saved
directory loads through the very `from_pretrained` calls the real checkpoints use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PHI4_SPECIAL = ["<|endoftext|>", "<|image|>", "<|audio|>", "<|user|>", "<|assistant|>", "<|end|>", "<|system|>"]
_CORPUS = [
    "Transcribe the audio clip into text.",
    "How many red circles are in the picture? What colour is the square on the left?",
    "The quick brown fox jumps over the lazy dog. Describe the image in one sentence.",
    "Answer with a number. There are three shapes: a triangle, a circle and a square.",
]


def train_bpe(special: list[str], vocab_size: int = 400) -> Any:
    """A byte-level BPE (any text encodes; nothing is unknown) trained on a few sentences in milliseconds."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS * 4, trainer)
    return tok


def tiny_decoder(hidden_size: int, max_positions: int) -> dict[str, int]:
    """The toy text decoder both tiny models use: 2 layers, 4 query and 2 key/value heads, MLP twice as wide."""
    return {
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": max_positions,
    }


def fast_tokenizer(tokenizer_object: Any, bos: str, eos: str, **extra: Any) -> Any:
    """A transformers fast tokenizer over a `train_bpe` result, padding on the left (as batched generation wants)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_object,
        bos_token=bos,
        eos_token=eos,
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        **extra,
        padding_side="left",
    )


def save_random(model_class: Any, config: Any, seed: int, path: Path, *tokenizer_or_processor: Any) -> Path:
    """Random weights from `seed` (the caller's torch RNG untouched), saved with their tokenizer or processor."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config).eval()
    model.generation_config.pad_token_id = config.pad_token_id  # Phi-4's would keep its hub default otherwise
    model.save_pretrained(path)
    for part in tokenizer_or_processor:
        part.save_pretrained(path)
    return path


def tiny_phi4_config(vocab_size: int, pad: int, bos: int, eos: int, image: int, audio: int) -> Any:
    """Phi-4-multimodal's architecture at toy size (~0.3 M parameters); image size stays 448 as the processor wants."""
    from transformers import Phi4MultimodalConfig

    return Phi4MultimodalConfig(
        vocab_size=vocab_size,
        **tiny_decoder(64, max_positions=4096),
        original_max_position_embeddings=4096,
        pad_token_id=pad,  # the default 199999 is outside a tiny vocabulary
        bos_token_id=bos,
        eos_token_id=[eos],
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 448,
            "crop_size": 448,
            "image_token_id": image,
        },
        audio_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_blocks": 2,
            "num_attention_heads": 2,
            "ext_pw_out_channel": 32,
            "depthwise_separable_out_channel": 32,
            "nemo_conv_channels": 32,
            "audio_token_id": audio,
        },
    )


def phi4_processor(tokenizer_object: Any) -> Any:
    from transformers import Phi4MultimodalFeatureExtractor, Phi4MultimodalImageProcessor, Phi4MultimodalProcessor

    media = {"image_token": "<|image|>", "audio_token": "<|audio|>"}  # the processor reads these
    tokenizer = fast_tokenizer(tokenizer_object, "<|endoftext|>", "<|end|>", extra_special_tokens=media)
    return Phi4MultimodalProcessor(Phi4MultimodalImageProcessor(), Phi4MultimodalFeatureExtractor(), tokenizer)


def build_tiny_phi4(path: str | Path, *, seed: int = 0) -> Path:
    """Save a random tiny Phi4MultimodalForCausalLM + its processor to `path` (~1 MB, a few seconds)."""
    from transformers import Phi4MultimodalForCausalLM

    processor = phi4_processor(train_bpe(PHI4_SPECIAL))
    tok = processor.tokenizer
    config = tiny_phi4_config(
        len(tok), tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.image_token_id, tok.audio_token_id
    )
    return save_random(Phi4MultimodalForCausalLM, config, seed, Path(path), processor)


def full_phi4_config() -> Any:
    """Full-size Phi-4-multimodal-instruct (5.3 B parameters; the hub's 5.6 B count its LoRA adapters)."""
    from transformers import Phi4MultimodalConfig

    return Phi4MultimodalConfig()


LLAMA_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_llama(path: str | Path, *, seed: int = 0) -> Path:
    """A random tiny LlamaForCausalLM with a ChatML template (SmolLM2's format), saved with its tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = fast_tokenizer(train_bpe(special), "<|im_start|>", "<|im_end|>")
    tok.chat_template = LLAMA_CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tok),
        **tiny_decoder(32, max_positions=512),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return save_random(LlamaForCausalLM, config, seed, Path(path), tok)
