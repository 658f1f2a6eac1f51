"""The ``fdan`` method: FDAN trained with cross-entropy plus a ramped LMMD loss (Li et al. 2024).

Inductive transfer, as the paper: source and target labels are both used. Every step draws one
batch of target training rows and one of source training rows (the sources pooled); the loss is

    CE(source) + CE(target) + lmmd_weight * ramp(progress) * LMMD(source features, target features)

with LMMD weighted by the source labels and the target's labels (one-hot: they are known here).
Every parameter of :class:`~emokit_plugins.fdan.model.FDANNet` is optimised (Adam). After each epoch
the target validation UAR is measured; the best epoch's weights predict the target test speakers
(never selected on test, unlike the public code).

Input: the ``face-logmel`` features (``--modality audiovisual``), cut back into a face image and a
log-Mel image by ``TransferTask.feature_layout``.

The features arrive as the runner normalised them (``--norm``); the method uses them as they are.
The validation UAR reported is the selected epoch's. The network trains and predicts on
``TransferTask.device`` (``emokit bench --device``), recorded in ``info()``; its initial weights and
the batch order are drawn on the CPU, so they do not depend on the device.

Options (``--option fdan.KEY=VALUE``, or ``KEY=VALUE`` for every method that takes it; the
defaults are :class:`FDANConfig`'s): ``backbone`` (``resnet34``, the paper's, by default;
``resnet18``; ``small`` for short CPU runs), ``epochs`` (30), ``lr`` (1e-3), ``batch`` (32),
``lmmd_weight`` (1.0), ``gamma`` (10, the ramp's), ``patience`` (8 epochs), ``pretrained`` (a
torchvision ResNet-34 state dict for both extractors; ``emokit bench --pretrained PATH`` sets it).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from emokit.api import (
    Method,
    MethodOption,
    OptionError,
    TransferTask,
    lmmd,
    method_option_values,
    model_device,
    ramp,
    seed_everything,
    torch_device,
    uar,
)
from emokit_plugins.fdan.model import BACKBONES, FDANNet, load_pretrained


@dataclass(frozen=True)
class FDANConfig:
    """Settings of one FDAN run (see the module docstring); its defaults are the options' defaults."""

    backbone: str = "resnet34"
    epochs: int = 30
    lr: float = 1e-3
    batch: int = 32
    lmmd_weight: float = 1.0
    gamma: float = 10.0
    patience: int = 8
    pretrained: str | None = None

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> FDANConfig:
        """The config of the method's option values (:meth:`Method.option_values`), range-checked."""
        config = cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})
        if min(config.epochs, config.batch, config.patience) < 1 or config.lr <= 0:
            raise OptionError(
                "fdan.epochs, fdan.batch and fdan.patience must be at least 1, fdan.lr positive"
            )
        return config

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> FDANConfig:
        """The config of raw ``--option`` pairs (``fdan.KEY`` wins over ``KEY``); errors name the option."""
        return cls.from_values(method_option_values(FDAN, options))


def _option(name: str, kind: Any, text: str, **more: Any) -> MethodOption:
    default = {f.name: f.default for f in dataclasses.fields(FDANConfig)}[name]
    return MethodOption(name, kind, default, text, **more)


FDAN_OPTIONS = (
    _option(
        "backbone",
        str,
        "feature extractors: resnet34 (the paper's), resnet18, small",
        choices=tuple(BACKBONES),
    ),
    _option("epochs", int, "training epochs at most"),
    _option("lr", float, "Adam's learning rate"),
    _option("batch", int, "rows per batch, of the target and of the sources each"),
    _option("lmmd_weight", float, "weight of the LMMD loss once ramped up"),
    _option("gamma", float, "steepness of the LMMD weight's ramp"),
    _option("patience", int, "stop after this many epochs without a better target validation UAR"),
    _option("pretrained", str, "a torchvision ResNet-34 state dict for both extractors (--pretrained)"),
)


def split_inputs(
    X: np.ndarray, layout: dict[str, tuple[int, ...]] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut ``face-logmel`` rows into face images ``[n, 1, H, W]`` and log-Mel images ``[n, 1, M, T]``."""
    if not layout or set(layout) != {"face", "logmel"}:
        raise ValueError(
            "fdan needs the face-logmel features (--modality audiovisual --features face-logmel); "
            f"these features have the layout {layout}"
        )
    x = torch.as_tensor(np.asarray(X, dtype=np.float32))
    sizes = [int(np.prod(layout[k])) for k in ("face", "logmel")]
    if x.shape[1] != sum(sizes):
        raise ValueError(f"fdan: rows have {x.shape[1]} values, the layout {layout} needs {sum(sizes)}")
    face, spec = x.split(sizes, dim=1)
    return face.reshape(-1, *layout["face"]), spec.reshape(-1, *layout["logmel"])


def build_model(config: FDANConfig, num_classes: int) -> FDANNet:
    """A fresh network, with the user's pretrained ResNet-34 in both extractors if given."""
    net = FDANNet(num_classes, backbone=config.backbone)
    if config.pretrained:
        if config.backbone != "resnet34":
            raise ValueError(
                f"--pretrained needs the resnet34 backbone (a torchvision ResNet-34 state dict), "
                f"not fdan.backbone={config.backbone}"
            )
        load_pretrained(net.face, config.pretrained)
        load_pretrained(net.audio, config.pretrained)
    return net


def training_step(
    net: FDANNet,
    optimiser: torch.optim.Optimizer,
    source: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    target: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    num_classes: int,
    lmmd_factor: float,
) -> float:
    """One step of CE(source) + CE(target) + lmmd_factor * LMMD; returns the loss."""
    net.train()
    s_logits, s_features = net(source[0], source[1])
    t_logits, t_features = net(target[0], target[1])
    t_onehot = F.one_hot(target[2], num_classes).float()
    loss = F.cross_entropy(s_logits, source[2]) + F.cross_entropy(t_logits, target[2])
    loss = loss + lmmd_factor * lmmd(s_features, t_features, source[2], t_onehot, num_classes)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return float(loss.detach())


@torch.no_grad()
def predict(net: FDANNet, face: torch.Tensor, spec: torch.Tensor, batch: int = 128) -> np.ndarray:
    """Class indices for the rows of ``face`` and ``spec``, computed on ``net``'s device, as NumPy."""
    net.eval()
    device = model_device(net)
    out = [
        net(face[i : i + batch].to(device), spec[i : i + batch].to(device))[0].argmax(1)
        for i in range(0, len(face), batch)
    ]
    return torch.cat(out).cpu().numpy() if out else np.zeros(0, dtype=np.int64)


class FDAN(Method):
    name = "fdan"
    description = "FDAN: face and log-Mel ResNets, per-utterance cross-attention, CE + LMMD (Li et al. 2024)"
    modalities = ("audiovisual",)
    compare_with = ("source-only", "target-only", "finetune")
    options = FDAN_OPTIONS

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}

    def run(self, task: TransferTask) -> np.ndarray:
        self._info = {}
        config = FDANConfig.from_values(self.option_values(task))
        device = torch_device(task.device)
        generator = seed_everything(task.seed)  # a CPU generator: the batch orders are drawn there
        layout = task.feature_layout
        sources = [s for s in task.sources if s.train.corpus != task.target.train.corpus] or task.sources
        s_face, s_spec = split_inputs(np.concatenate([s.train.X for s in sources]), layout)
        s_y = torch.as_tensor(np.concatenate([s.train.y for s in sources]))
        t_face, t_spec = split_inputs(task.target.train.X, layout)
        t_y = torch.as_tensor(task.target.train.y)
        s_face, s_spec, s_y, t_face, t_spec, t_y = (
            t.to(device) for t in (s_face, s_spec, s_y, t_face, t_spec, t_y)
        )
        v_face, v_spec = split_inputs(task.target.val.X, layout)
        net = build_model(config, task.num_classes).to(device)  # initialised on the CPU, then moved
        optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
        steps_per_epoch = max(1, -(-len(t_y) // config.batch))
        total = config.epochs * steps_per_epoch
        best_state, best_uar, best_epoch, since, step = copy.deepcopy(net.state_dict()), -1.0, -1, 0, 0
        history = []
        for epoch in range(config.epochs):
            t_order = torch.randperm(len(t_y), generator=generator).to(device)
            s_order = torch.randperm(len(s_y), generator=generator).to(device)
            for k in range(steps_per_epoch):
                t_rows = t_order[k * config.batch : (k + 1) * config.batch]
                s_rows = s_order[(k * config.batch) % len(s_y) :][: config.batch]
                if len(t_rows) < 2 or len(s_rows) < 2:
                    continue  # BatchNorm needs two rows
                factor = config.lmmd_weight * ramp(step / total, config.gamma)
                training_step(
                    net,
                    optimiser,
                    (s_face[s_rows], s_spec[s_rows], s_y[s_rows]),
                    (t_face[t_rows], t_spec[t_rows], t_y[t_rows]),
                    task.num_classes,
                    factor,
                )
                step += 1
            val_uar = uar(task.target.val.y, predict(net, v_face, v_spec))
            history.append(round(val_uar, 4))
            task.report_progress("train", epoch + 1, config.epochs, val=val_uar)
            if val_uar > best_uar:
                best_state, best_uar, best_epoch, since = copy.deepcopy(net.state_dict()), val_uar, epoch, 0
            else:
                since += 1
                if since >= config.patience:
                    break
        net.load_state_dict(best_state)
        task.report_validation(best_uar, on="target validation")
        task.report_curve("target", x="epoch", val_uar=history)
        self._info = {
            "device": str(model_device(net)),
            "backbone": config.backbone,
            "pretrained": config.pretrained,
            "best_epoch": best_epoch,
            "best_val_uar": round(best_uar, 4),
            "val_uar_by_epoch": history,
            "parameters": sum(p.numel() for p in net.parameters()),
        }
        test_face, test_spec = split_inputs(task.target.test.X, layout)
        return predict(net, test_face, test_spec)

    def info(self) -> dict[str, Any]:
        return dict(self._info)
