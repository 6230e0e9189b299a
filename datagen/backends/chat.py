"""The skeleton every `TextGenerator` backend shares (hf_lm, phi4, vllm), so each engine file holds only what differs.

`ChatBackend.generate` is the one generate loop: default sampling from the engine's `max_new_tokens` setting,
each conversation prepared on its own (one that cannot be prepared gives None, never sinks the batch), then the
engine's `_run`. `TransformersChat` adds the transformers half: length-sorted batches through `hf_batching`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from datagen.backends.base import BackendError, BaseBackend, ChatTurn, Sampling, T
from datagen.backends.hf_batching import prepare_each, run_batched


class ChatBackend(BaseBackend[T]):
    """Subclasses implement `_prepare_chat` (conversation -> request; raise for one the engine cannot take) and
    `_run` (prepared requests, None where preparing failed -> n texts each, None where generating failed)."""

    def generate(
        self, conversations: list[list[ChatTurn]], n: int = 1, sampling: Sampling | None = None
    ) -> list[list[str] | None]:
        self.setup()
        sampling = sampling or Sampling(max_new_tokens=self.settings.max_new_tokens)  # type: ignore[attr-defined]
        label = f"{self.engine}.generate"
        return self._run(prepare_each(conversations, self._prepare_chat, label), n, sampling, label)

    def _prepare_chat(self, conversation: list[ChatTurn]) -> Any:
        raise NotImplementedError

    def _run(self, prepared: list[Any], n: int, sampling: Sampling, label: str) -> list[list[str] | None]:
        raise NotImplementedError

    def _require_available(self) -> None:
        """Raise the `unavailable_reason` as a BackendError naming the engine (at load time, before any import)."""
        if reason := self.unavailable_reason():
            raise BackendError(f"{self.engine}: {reason}")


class TransformersChat(ChatBackend[T]):
    """A chat model run by transformers `generate()`: batches sorted by `_length`, never mixing `_group`s.

    Subclasses implement `_generate_batch` (a list of prepared requests -> one text each) and set `_device` in
    `_load`; `settings.batch_size` is the rows per `generate()` call.
    """

    _device = "cpu"

    def _length(self, prepared: Any) -> int:
        """Sort key of a prepared request: its length in tokens (roughly)."""
        return len(prepared)

    def _groups(self, prepared: Sequence[Any]) -> list[Hashable] | None:
        """Rows of different groups never share a batch; None = one group."""
        return None

    def _generate_batch(self, batch: list[Any], sampling: Sampling) -> list[str]:
        raise NotImplementedError

    def _run(self, prepared: list[Any], n: int, sampling: Sampling, label: str) -> list[list[str] | None]:
        return run_batched(
            prepared,
            [0 if p is None else self._length(p) for p in prepared],
            lambda batch: self._generate_batch(batch, sampling),
            n=n,
            greedy=sampling.temperature <= 0,
            batch_size=self.settings.batch_size,  # type: ignore[attr-defined]
            seed=sampling.seed,
            device=self._device,
            label=label,
            groups=self._groups(prepared),
        )
