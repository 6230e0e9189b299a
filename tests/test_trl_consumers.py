"""The real consumers: one TRL DPOTrainer step on the DPO export and one SFTTrainer step on the CoT export.

The data is loaded the way a user would (`datasets.load_dataset("json", ...)` on the TRL export file), and the
model is a tiny random Llama with a ChatML template and an in-process BPE tokenizer (nothing downloaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sampling_fixtures import manifest, write_problems

from datagen.run import run

pytest.importorskip("trl")


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datagen.tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("llama"), seed=0)


def export_of(tmp: Path, step: dict[str, Any]) -> Any:
    from datasets import load_dataset

    run(manifest(tmp, step, write_problems(tmp), ["trl"]))
    return load_dataset("json", data_files=str(tmp / "out" / "export" / "trl" / "train.jsonl"))["train"]


def args(config_cls: Any, out: Path, **extra: Any) -> Any:
    return config_cls(
        output_dir=str(out),
        max_steps=1,
        per_device_train_batch_size=2,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        dataloader_num_workers=0,
        **extra,
    )


def trained(trainer: Any) -> tuple[float, bool]:
    """Train one step; (loss, whether any weight moved)."""
    import torch

    before = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    result = trainer.train()
    moved = any(not torch.equal(before[k], v.detach()) for k, v in trainer.model.named_parameters())
    return float(result.training_loss), moved


def test_dpo_trainer_takes_the_preference_export_as_it_is(tmp_path: Path, tiny_llama: Path) -> None:
    import math

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    ds = export_of(tmp_path, {"step": "dpo", "pairs_per_problem": 2, "correction": True})
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names) and len(ds) >= 2
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    trainer = DPOTrainer(
        model=model,
        args=args(DPOConfig, tmp_path / "dpo", max_length=256),
        train_dataset=ds,
        processing_class=tokenizer,
    )
    loss, moved = trained(trainer)
    assert math.isfinite(loss) and moved
    assert trainer.state.global_step == 1


def test_sft_trainer_takes_the_cot_export_as_it_is(tmp_path: Path, tiny_llama: Path) -> None:
    import math

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    ds = export_of(tmp_path, {"step": "cot", "k": 2})
    assert ds.column_names == ["id", "messages"] and len(ds) >= 2
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    trainer = SFTTrainer(
        model=model,
        args=args(SFTConfig, tmp_path / "sft", max_length=256),
        train_dataset=ds,
        processing_class=tokenizer,
    )
    loss, moved = trained(trainer)
    assert math.isfinite(loss) and loss > 0 and moved
    assert trainer.state.global_step == 1
