"""The `hf` scorer: any transformers sequence-classification model, for users who can reach a hub.

Configured by `[model.hf]`: `name_or_path` and a `label_map` from the model's labels to
negative/neutral/positive (several model labels may map onto one sentiment; their probabilities add
up). It gives sentiment and language (py3langid) only: needs_help and aspects need our trained heads,
so they are reported as not detected (probability 0, no aspects) rather than guessed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

from models import encoder, language
from models.config import ModelConfig
from monitor.kernel.types import SENTIMENTS, ScoreResult, TextToScore


class HFScorer:
    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config or ModelConfig(scorer="hf")
        hf = self.config.hf
        if not hf.name_or_path:
            raise ValueError("the hf scorer needs [model.hf] name_or_path")
        self.version = f"hf:{hf.name_or_path}"
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ModelConfig) -> HFScorer:
        return cls(config)

    def prepare(self):
        with self._lock:
            if self._model is None:
                from transformers import AutoModelForSequenceClassification, AutoTokenizer

                hf = self.config.hf
                torch.set_num_threads(self.config.threads or encoder.available_cores())
                tok = AutoTokenizer.from_pretrained(hf.name_or_path, local_files_only=hf.local_files_only)
                model = AutoModelForSequenceClassification.from_pretrained(
                    hf.name_or_path, local_files_only=hf.local_files_only
                ).eval()
                self._projection = self._label_projection(model.config.id2label)
                self._tokenizer, self._model = tok, model
            return self._model

    def _label_projection(self, id2label: dict[int, str]) -> np.ndarray:
        """[n_model_labels, 3] 0/1 matrix summing model-label probabilities into our sentiments."""
        mapping = self.config.hf.label_map or {name: name.lower() for name in id2label.values()}
        proj = np.zeros((len(id2label), len(SENTIMENTS)), dtype=np.float32)
        for idx, name in id2label.items():
            target = mapping.get(name, mapping.get(str(idx)))
            if target is None:
                raise ValueError(f"model label {name!r} has no entry in [model.hf] label_map")
            if target not in SENTIMENTS:
                raise ValueError(f"label_map maps {name!r} to {target!r}, not one of {', '.join(SENTIMENTS)}")
            proj[int(idx), SENTIMENTS.index(target)] = 1.0
        return proj

    @torch.inference_mode()
    def score(self, batch: Sequence[TextToScore]) -> list[ScoreResult]:
        if not batch:
            return []
        model = self.prepare()
        texts = [b.text or "" for b in batch]
        enc = self._tokenizer(texts, truncation=True, max_length=self.config.hf.max_length)
        ids = enc["input_ids"]
        probs = np.zeros((len(texts), len(SENTIMENTS)), dtype=np.float32)
        for bucket in encoder.length_buckets([len(x) for x in ids], 8192, self.config.batch_size):
            input_ids, mask = encoder.pad_batch([ids[i] for i in bucket], self._tokenizer.pad_token_id or 0)
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            probs[bucket] = torch.softmax(logits.float(), -1).numpy() @ self._projection
        langs = language.decide(texts, None, language.lid_features(texts))
        out = []
        for i, item in enumerate(batch):
            p = probs[i] / max(float(probs[i].sum()), 1e-12)
            out.append(
                ScoreResult(
                    mention_id=item.mention_id,
                    model_version=self.version,
                    label=SENTIMENTS[int(np.argmax(p))],
                    probabilities={s: float(p[j]) for j, s in enumerate(SENTIMENTS)},
                    language=item.language_hint if item.language_hint in language.LANGS else langs[i],
                    needs_help=False,
                    needs_help_probability=0.0,
                )
            )
        return out
