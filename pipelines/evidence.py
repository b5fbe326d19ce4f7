"""Per-snippet evidence, computed when someone asks for it.

The head's evidence (`VidGate.evidence`) splits its logits into one term per selected snippet
(`results.EVIDENCE_DESCRIPTION`). The pool head's split is one matrix product; the temporal head's is
integrated gradients, ``steps`` × ⌈classes / 16⌉ passes of its sequence path, which with many classes
costs more than the rest of the head (docs/inference.md has the measurement). Only the viewer and clients
that ask read it, so the recognizer computes it only when asked (`Options.evidence`), and otherwise can
hand what the head read (`HeadInput`, a few hundred kilobytes) to a sink: the service keeps it beside the
result and computes the evidence from it (`explain`) when the viewer or a client asks, without decoding
the video again.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from models import VidGate


@dataclass(frozen=True)
class HeadInput:
    """What the head read for one video.

    Attributes:
        features: the heavy features of the selected snippets, in snippet order. ``(S, F)`` float32
        selected: their snippet indices. ``(S,)`` int64
        times: every snippet's centre time as a fraction of the video. ``(T,)`` float32
    """

    features: np.ndarray
    selected: np.ndarray
    times: np.ndarray

    def to_bytes(self) -> bytes:
        """An ``.npz`` archive (no pickles)."""
        out = io.BytesIO()
        np.savez(out, features=self.features, selected=self.selected, times=self.times)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> HeadInput:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return cls(features=archive["features"].astype(np.float32), selected=archive["selected"].astype(np.int64),
                       times=archive["times"].astype(np.float32))


# Receives the head's input of every video recognised without evidence (`Recognizer.recognize`).
HeadSink = Callable[[HeadInput], None]


def head_input(features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> HeadInput:
    """From the recognizer's tensors: ``features (1, T, F)`` (zero where unselected), ``mask (T,)``,
    ``times (1, T)``."""
    chosen = mask.nonzero().flatten().cpu()
    return HeadInput(features=features[0, chosen.to(features.device)].float().cpu().numpy(),
                     selected=chosen.numpy().astype(np.int64), times=times[0].float().cpu().numpy())


@torch.no_grad()
def evidence_terms(model: VidGate, head: HeadInput) -> torch.Tensor:
    """Each snippet's term in each class logit ``(T, C)``, 0 for unselected snippets (``EVIDENCE_DESCRIPTION``)."""
    device = next(model.parameters()).device
    t = head.times.shape[0]
    features = torch.zeros(1, t, model.heavy.num_features, device=device)  # (1, T, F)
    chosen = torch.as_tensor(head.selected, dtype=torch.long, device=device)
    features[0, chosen] = torch.as_tensor(head.features, device=device)
    mask = torch.zeros(t, device=device)
    mask[chosen] = 1.0
    times = torch.as_tensor(head.times, device=device).unsqueeze(0)  # (1, T)
    terms = model.evidence(features, mask.unsqueeze(0), times)[0].float().cpu()  # (T, C)
    if not model.config.multi_label:  # softmax ignores what is added to every class alike
        terms = terms - terms.mean(1, keepdim=True)
    return terms * mask.cpu().unsqueeze(1)
