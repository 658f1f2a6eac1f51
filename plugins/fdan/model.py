"""The FDAN network (Li et al., arXiv 2410.22023) as its paper describes it, without the public code's flaws.

* Two ResNet extractors with **separate weights**: one for face images, one for log-Mel spectrograms
  (the public code shared one backbone between the modalities). ResNet-34 by default, from scratch;
  :func:`load_pretrained` loads a user's torchvision-compatible ResNet-34 state dict (nothing is ever
  downloaded). ``small`` is a 4-stage ResNet of one narrow block per stage, to keep CPU runs short.
* A cross-attention block in which **each utterance's** tokens of one modality attend to the
  **same utterance's** tokens of the other (the public code attended across the batch axis, so only
  the first sample changed). Tokens are the positions of each backbone's last feature map.
* A feed-forward network on the two attended, pooled modalities, then the classifier.

Every parameter is handed to the optimiser by the method (the public code never trained the
cross-attention), and the model is selected on a validation split (the public code reported its best
epoch on the evaluation set).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

#: blocks per stage of the backbones emokit builds
BACKBONES: dict[str, tuple[tuple[int, int, int, int], tuple[int, int, int, int]]] = {
    "resnet34": ((3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet18": ((2, 2, 2, 2), (64, 128, 256, 512)),
    "small": ((1, 1, 1, 1), (16, 32, 64, 128)),
}


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block (same parameter names, so its state dicts load)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNetFeatures(nn.Module):
    """A ResNet without its classifier: ``[B, C_in, H, W]`` -> feature map ``[B, C, h, w]``.

    Parameter names follow torchvision's ``resnet34`` (``conv1``, ``bn1``, ``layer1.0.conv1``, ...).
    """

    def __init__(self, name: str = "resnet34", in_channels: int = 1):
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"backbone {name!r} is not one of {', '.join(BACKBONES)}")
        blocks, widths = BACKBONES[name]
        self.name = name
        self.conv1 = nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = widths[0]
        for index, (count, planes) in enumerate(zip(blocks, widths, strict=True)):
            stride = 1 if index == 0 else 2
            layer = [BasicBlock(inplanes, planes, stride)] + [
                BasicBlock(planes, planes) for _ in range(count - 1)
            ]
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))
            inplanes = planes
        self.out_channels = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def load_pretrained(backbone: ResNetFeatures, path: str | Path) -> None:
    """Load a torchvision-compatible ResNet-34 state dict from ``path`` into ``backbone``.

    The classifier (``fc.*``) is ignored. A 3-channel first convolution is summed over its input
    channels when the backbone takes one channel (grey faces, spectrograms), the usual way to reuse
    RGB weights on single-channel input.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a state dict, or its tensors do not fit the backbone (the
            message names the first missing, unexpected or mis-shaped keys).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--pretrained {path}: no such file (expected a ResNet-34 state dict)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors alike
        raise ValueError(
            f"--pretrained {path}: not a PyTorch state dict ({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"--pretrained {path}: expected a dict of tensors (a ResNet-34 state dict)")
    state = {
        k.removeprefix("module."): v for k, v in state.items() if not k.startswith(("fc.", "module.fc."))
    }
    own = backbone.state_dict()
    conv = state.get("conv1.weight")
    if conv is not None and conv.dim() == 4 and conv.shape[1] == 3 and own["conv1.weight"].shape[1] == 1:
        state["conv1.weight"] = conv.sum(dim=1, keepdim=True)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mis_shaped = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or mis_shaped:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        if mis_shaped:
            k = mis_shaped[0]
            parts.append(
                f"{k} is {list(state[k].shape)}, the {backbone.name} backbone needs {list(own[k].shape)}"
            )
        raise ValueError(
            f"--pretrained {path} does not fit a {backbone.name} backbone: {'; '.join(parts)} "
            "(expected a torchvision-compatible ResNet-34 state dict)"
        )
    backbone.load_state_dict(state)


class CrossModalAttention(nn.Module):
    """Each utterance's tokens of one modality attend to the same utterance's tokens of the other.

    Inputs are ``[B, N_a, D]`` and ``[B, N_b, D]``; attention runs over the token axis of each
    utterance separately (``batch_first``), so no sample ever sees another. Residual connections and
    layer norms keep each modality's own information.
    """

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        self.a_from_b = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.b_from_a = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_a = nn.LayerNorm(dim)
        self.norm_b = nn.LayerNorm(dim)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a_att, _ = self.a_from_b(a, b, b, need_weights=False)
        b_att, _ = self.b_from_a(b, a, a, need_weights=False)
        return self.norm_a(a + a_att), self.norm_b(b + b_att)


class FDANNet(nn.Module):
    """Face and spectrogram extractors, cross-attention, a feed-forward network and a classifier.

    ``forward(face, spectrogram)`` takes ``[B, 1, H, W]`` images and ``[B, 1, mels, frames]``
    spectrograms and returns ``(logits [B, C], features [B, hidden])``; the features are what the
    LMMD loss aligns.
    """

    def __init__(
        self, num_classes: int, backbone: str = "resnet34", dim: int = 128, heads: int = 4, hidden: int = 256
    ):
        super().__init__()
        self.face = ResNetFeatures(backbone, in_channels=1)
        self.audio = ResNetFeatures(backbone, in_channels=1)
        width = self.face.out_channels
        self.face_proj = nn.Linear(width, dim)
        self.audio_proj = nn.Linear(width, dim)
        self.attention = CrossModalAttention(dim, heads)
        self.ffn = nn.Sequential(
            nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Dropout(0.3), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.classifier = nn.Linear(hidden, num_classes)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part (every one of them goes to the optimiser)."""
        return {
            "face_backbone": list(self.face.parameters()),
            "audio_backbone": list(self.audio.parameters()),
            "projections": [*self.face_proj.parameters(), *self.audio_proj.parameters()],
            "cross_attention": list(self.attention.parameters()),
            "ffn": list(self.ffn.parameters()),
            "classifier": list(self.classifier.parameters()),
        }

    @staticmethod
    def _tokens(feature_map: torch.Tensor) -> torch.Tensor:
        return feature_map.flatten(2).transpose(1, 2)  # [B, C, h, w] -> [B, h*w, C]

    def forward(self, face: torch.Tensor, spectrogram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.face_proj(self._tokens(self.face(face)))
        b = self.audio_proj(self._tokens(self.audio(spectrogram)))
        a, b = self.attention(a, b)
        features = self.ffn(torch.cat([a.mean(1), b.mean(1)], dim=1))
        return self.classifier(features), features
