"""The FDAN network: separate extractors, per-utterance cross-attention, every part trained,
pretrained weights."""

from __future__ import annotations

import pytest
import torch

from emokit.losses import lmmd
from emokit_plugins.fdan.model import CrossModalAttention, FDANNet, ResNetFeatures, load_pretrained


def _batch(n: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 48, 48, generator=g), torch.randn(n, 1, 64, 64, generator=g), torch.arange(n) % 3


def test_the_extractors_have_separate_weights() -> None:
    net = FDANNet(3, backbone="small")
    face = {id(p) for p in net.face.parameters()}
    audio = {id(p) for p in net.audio.parameters()}
    assert face and audio and not face & audio


def test_one_training_step_moves_every_parameter_group() -> None:
    torch.manual_seed(0)
    net = FDANNet(3, backbone="small")
    groups = net.parameter_groups()
    assert sum(len(g) for g in groups.values()) == len(
        list(net.parameters())
    )  # every parameter is in a group
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    face, spec, y = _batch()
    logits, features = net(face, spec)
    t_logits, t_features = net(*_batch(seed=1)[:2])
    loss = torch.nn.functional.cross_entropy(logits, y) + lmmd(
        features, t_features, y, t_logits.softmax(1), 3
    )
    loss.backward()
    optimiser.step()
    for name, params in groups.items():
        moved = [not torch.equal(p, q) for p, q in zip(params, before[name], strict=True)]
        assert all(moved), f"{name}: {moved.count(False)} of {len(moved)} tensors did not move"


def test_cross_attention_mixes_modalities_within_an_utterance_only() -> None:
    torch.manual_seed(0)
    block = CrossModalAttention(16, heads=4).eval()
    a, b = torch.randn(5, 9, 16), torch.randn(5, 4, 16)
    out_a, out_b = block(a, b)
    order = torch.tensor([0, 3, 1, 4, 2])  # sample 0 stays first, the others are shuffled
    perm_a, perm_b = block(a[order], b[order])
    torch.testing.assert_close(perm_a[0], out_a[0])
    torch.testing.assert_close(perm_b[0], out_b[0])
    torch.testing.assert_close(perm_a, out_a[order])
    changed_b = b.clone()
    changed_b[0] += 1.0  # the other modality of the same utterance does change it
    assert not torch.allclose(block(a, changed_b)[0][0], out_a[0])
    changed_other = b.clone()
    changed_other[1:] += 1.0  # other utterances do not
    torch.testing.assert_close(block(a, changed_other)[0][0], out_a[0])


def test_a_samples_output_does_not_depend_on_the_rest_of_the_batch() -> None:
    torch.manual_seed(0)
    net = FDANNet(3, backbone="small").eval()
    face, spec, _ = _batch(5)
    logits, _ = net(face, spec)
    order = torch.tensor([0, 4, 2, 1, 3])
    permuted, _ = net(face[order], spec[order])
    torch.testing.assert_close(permuted[0], logits[0], rtol=1e-5, atol=1e-5)


def _torchvision_resnet34_state() -> dict[str, torch.Tensor]:
    """A state dict with torchvision resnet34's names and shapes (3-channel conv1, fc)."""
    backbone = ResNetFeatures("resnet34", in_channels=3)
    state = backbone.state_dict()
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    return state


def test_pretrained_resnet34_loads_and_bad_files_are_named(tmp_path) -> None:
    good = tmp_path / "resnet34.pth"
    state = _torchvision_resnet34_state()
    torch.save(state, good)
    backbone = ResNetFeatures("resnet34", in_channels=1)
    load_pretrained(backbone, good)
    torch.testing.assert_close(backbone.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(backbone.layer3[5].conv2.weight, state["layer3.5.conv2.weight"])
    with pytest.raises(FileNotFoundError, match=r"--pretrained .*missing.pth: no such file"):
        load_pretrained(backbone, tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(ValueError, match="not a PyTorch state dict"):
        load_pretrained(backbone, junk)
    resnet18 = tmp_path / "resnet18.pth"
    torch.save(ResNetFeatures("resnet18", in_channels=3).state_dict(), resnet18)
    with pytest.raises(ValueError, match=r"does not fit a resnet34 backbone: missing layer1.2"):
        load_pretrained(backbone, resnet18)
    with pytest.raises(
        ValueError, match=r"conv1.weight is \[64, 1, 7, 7\], the small backbone needs \[16, 1, 7, 7\]"
    ):
        load_pretrained(ResNetFeatures("small", in_channels=1), good)
