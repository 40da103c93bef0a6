"""RepOpt: the masks, the equivalence with the multi-branch block, the scales file, the builder.

The equivalence test is the paper's claim, checked rather than assumed: a plain 3x3 block
trained by :class:`RepOptimizerSGD` and the multi-branch linear block (``LinearAddBlock``
with its conv scales held constant, YOLOv6's CSLA) trained by plain SGD, started from the
same function, stay the same function step after step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from detreg.models.layers import LinearAddBlock, RepOptBlock
from detreg.optim.repopt import (
    RepOptimizerSGD,
    RepOptSGD,
    gradient_mask,
    looks_untrained,
    match_scales,
    scaled_init,
)
from detreg.optim.repopt_scales import BlockScales, extract_scales, load_scales, save_scales


def test_mask_values_on_a_hand_made_block() -> None:
    scales = BlockScales(
        conv3x3=torch.tensor([2.0, 3.0]), conv1x1=torch.tensor([0.5, -1.0]), identity=torch.tensor([7.0, 7.0])
    )
    mask = gradient_mask(torch.zeros(2, 2, 3, 3), scales)
    # out 0: 2^2 = 4 off-centre, +0.5^2 at the centre, +1 on the diagonal (identity)
    # out 1: 3^2 = 9 off-centre, +(-1)^2 at the centre, +1 on the diagonal
    expected = torch.tensor([4.0, 9.0]).view(2, 1, 1, 1).expand(2, 2, 3, 3).clone()
    expected[0, :, 1, 1] = torch.tensor([5.25, 4.25])
    expected[1, :, 1, 1] = torch.tensor([10.0, 11.0])
    torch.testing.assert_close(mask, expected, rtol=0, atol=0)
    # no identity branch (3 -> 2 channels): no diagonal term, whatever the identity scale
    mask = gradient_mask(torch.zeros(2, 3, 3, 3), BlockScales(scales.conv3x3, scales.conv1x1))
    assert mask[0, :, 1, 1].tolist() == [4.25] * 3 and mask[1, :, 1, 1].tolist() == [10.0] * 3
    assert mask[0, :, 0, 0].tolist() == [4.0] * 3
    with pytest.raises(ValueError, match="do not fit"):
        gradient_mask(torch.zeros(3, 3, 3, 3), scales)
    with pytest.raises(ValueError, match="identity branch needs in == out"):
        gradient_mask(torch.zeros(2, 3, 3, 3), scales)


def _csla_pair(cin: int, cout: int, stride: int, dtype: torch.dtype) -> tuple[LinearAddBlock, RepOptBlock]:
    """A multi-branch block with constant random conv scales, and the plain block equal to it."""
    torch.manual_seed(0)
    multi = LinearAddBlock(cin, cout, stride=stride).to(dtype)
    with torch.no_grad():
        multi.scale_conv.copy_(torch.randn(cout) + 1)
        multi.scale_1x1.copy_(torch.randn(cout))  # negative scales too
        if multi.scale_identity is not None:
            multi.scale_identity.copy_(torch.rand(cout) + 0.5)
        multi.bn.weight.copy_(torch.rand(cout) + 0.5)
        multi.bn.bias.copy_(torch.randn(cout) * 0.1)
    multi.scale_conv.requires_grad_(False)  # CSLA: constant conv scales; identity scale trained
    multi.scale_1x1.requires_grad_(False)
    plain = RepOptBlock(cin, cout, stride=stride).to(dtype)
    with torch.no_grad():
        plain.conv.weight.copy_(multi.equivalent_kernel())
    plain.bn.load_state_dict(multi.bn.state_dict())
    return multi, plain


def _scales_of(block: LinearAddBlock) -> BlockScales:
    ident = None if block.scale_identity is None else block.scale_identity.detach()
    return BlockScales(block.scale_conv.detach(), block.scale_1x1.detach(), ident)


def _train_both(multi, plain, plain_opt_factory, steps: int, dtype: torch.dtype) -> list[float]:
    """Train both blocks for ``steps`` steps on the same batches; max kernel gap after each."""
    sgd = {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0}
    opt_multi = torch.optim.SGD([p for p in multi.parameters() if p.requires_grad], **sgd)
    opt_plain = plain_opt_factory(plain, sgd)
    g = torch.Generator().manual_seed(1)
    gaps = []
    for _ in range(steps):
        x = torch.randn(4, multi.in_channels, 8, 8, generator=g).to(dtype)
        target = torch.randn(4, multi.out_channels, 8 // multi.stride, 8 // multi.stride, generator=g).to(
            dtype
        )
        for block, opt in ((multi, opt_multi), (plain, opt_plain)):
            opt.zero_grad()
            nn.functional.mse_loss(block(x), target).backward()
            opt.step()
        gaps.append(float((multi.equivalent_kernel() - plain.conv.weight.detach()).abs().max()))
        torch.testing.assert_close(plain.bn.weight, multi.bn.weight)
        torch.testing.assert_close(plain.bn.running_var, multi.bn.running_var)
    return gaps


def _repopt(plain: RepOptBlock, multi: LinearAddBlock):
    return lambda block, sgd: RepOptimizerSGD(
        block.parameters(), grad_scales={block.conv.weight: _scales_of(multi)}, **sgd
    )


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-14), (torch.float32, 1e-6)], ids=["f64", "f32"])
@pytest.mark.parametrize("cin,cout,stride", [(6, 6, 1), (4, 6, 2)], ids=["identity", "stride2"])
def test_repopt_step_equals_sgd_step_on_the_multi_branch_block(
    cin: int, cout: int, stride: int, dtype: torch.dtype, tol: float
) -> None:
    multi, plain = _csla_pair(cin, cout, stride, dtype)
    x = torch.randn(2, cin, 8, 8, dtype=dtype)
    torch.testing.assert_close(plain(x), multi(x))  # the same function to start with
    gaps = _train_both(multi, plain, _repopt(plain, multi), steps=4, dtype=dtype)
    assert max(gaps) < tol  # kernels of magnitude ~1: measured 2e-16 (f64), 2.4e-7 (f32)
    multi.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(x), multi(x), rtol=0, atol=100 * tol)


def test_without_the_masks_the_trajectories_part() -> None:
    """The control: plain SGD on the plain block is not the multi-branch block's update."""
    multi, plain = _csla_pair(6, 6, 1, torch.float64)
    gaps = _train_both(
        multi, plain, lambda block, sgd: torch.optim.SGD(block.parameters(), **sgd), 1, torch.float64
    )
    assert gaps[0] > 1e-3


def test_masks_are_built_at_the_first_step_on_the_weights_device() -> None:
    multi, plain = _csla_pair(4, 4, 1, torch.float32)
    opt = RepOptimizerSGD(plain.parameters(), grad_scales={plain.conv.weight: _scales_of(multi)}, lr=0.1)
    assert opt.masks == {}
    plain(torch.randn(2, 4, 8, 8)).sum().backward()
    opt.step()
    (mask,) = opt.masks.values()
    assert next(iter(opt.masks)) is plain.conv.weight and mask.device == plain.conv.weight.device
    torch.testing.assert_close(mask, gradient_mask(plain.conv.weight, _scales_of(multi)))
    with pytest.raises(ValueError, match="closure"):
        opt.step(lambda: 0.0)
    with pytest.raises(ValueError, match="not among the optimizer's parameters"):
        RepOptimizerSGD([plain.bn.weight], grad_scales={plain.conv.weight: _scales_of(multi)}, lr=0.1)


def test_scaled_init_is_the_fresh_multi_branch_kernel() -> None:
    s = BlockScales(torch.tensor([2.0, 0.5]), torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0]))
    w = torch.randn(2, 2, 3, 3)
    k = scaled_init(w, s)  # zero 1x1 scales: the random 1x1 kernel does not show
    expected = w * torch.tensor([2.0, 0.5]).view(2, 1, 1, 1)
    expected[0, 0, 1, 1] += 3.0
    expected[1, 1, 1, 1] += 4.0
    torch.testing.assert_close(k, expected)


# --------------------------------------------------------------- models, scales file, builder
def _model(block: str) -> nn.Module:
    from detreg.registry import MODELS

    cfg = {
        "type": "Detector",
        "backbone": {
            "type": "EfficientRep",
            "channels": [16, 16, 32, 32, 64],
            "num_repeats": [1, 2, 2, 2, 2],
            "block": block,
            "fuse_p2": True,
            "cspsppf": True,
        },
        "neck": {
            "type": "RepBiFPANNeck",
            "in_channels": [16, 32, 32, 64],
            "channels": [32, 16, 16, 32, 32, 64],
            "num_repeats": [2, 2, 2, 2],
            "block": block,
        },
        "head": {"type": "EffiDeHead", "in_channels": [16, 32, 64], "use_dfl": False, "reg_max": 0},
    }
    return MODELS.build(cfg, "model", {"num_classes": 3})


def _random_scales(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LinearAddBlock):
                for p in (m.scale_conv, m.scale_1x1, m.scale_identity):
                    if p is not None:
                        p.copy_(torch.rand(p.shape, generator=g) + 0.1)


@pytest.fixture(scope="module")
def scales_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hs = _model("hyper_search")
    _random_scales(hs)
    return save_scales(extract_scales(hs.state_dict()), tmp_path_factory.mktemp("s") / "scales.pt", "hs.pt")


def test_scales_round_trip_and_fit_the_repopt_model(scales_file: Path) -> None:
    hs = _model("hyper_search")
    _random_scales(hs)
    blocks = {n: m for n, m in hs.named_modules() if isinstance(m, LinearAddBlock)}
    loaded = load_scales(scales_file)
    assert set(loaded) == set(blocks) and len(blocks) > 10
    for name, block in blocks.items():
        assert torch.equal(loaded[name].conv3x3, block.scale_conv.detach())
        assert torch.equal(loaded[name].conv1x1, block.scale_1x1.detach())
        assert (loaded[name].identity is None) == (block.scale_identity is None)
        if block.scale_identity is not None:
            assert torch.equal(loaded[name].identity, block.scale_identity.detach())
    assert sum(s.identity is not None for s in loaded.values()) > 0
    matched = match_scales(_model("repopt"), loaded)
    assert set(matched) == set(blocks)


def test_builder_masks_every_repopt_conv_and_initialises_from_scratch(scales_file: Path) -> None:
    model = _model("repopt")
    before = {
        n: m.conv.weight.detach().clone() for n, m in model.named_modules() if isinstance(m, RepOptBlock)
    }
    opt = RepOptSGD(model, scales=str(scales_file), lr=0.01, batch_size=16)
    assert [g["name"] for g in opt.param_groups] == ["norm", "weight", "bias"]
    scales = load_scales(scales_file)
    blocks = {n: m for n, m in model.named_modules() if isinstance(m, RepOptBlock)}
    assert set(opt.grad_scales) == {b.conv.weight for b in blocks.values()}
    for name, block in blocks.items():
        assert not torch.equal(block.conv.weight, before[name])  # re-initialised from the scales
        assert opt.grad_scales[block.conv.weight] is not None
        torch.testing.assert_close(
            gradient_mask(block.conv.weight, opt.grad_scales[block.conv.weight]),
            gradient_mask(block.conv.weight, scales[name]),
        )
    # loaded (non-fresh) weights are kept: only the masks come from the scales
    assert looks_untrained(_model("repopt"))
    with torch.no_grad():
        next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d)).weight.mul_(0.5)
    assert not looks_untrained(model)
    kept = {n: m.conv.weight.detach().clone() for n, m in blocks.items()}
    RepOptSGD(model, scales=str(scales_file))
    assert all(torch.equal(m.conv.weight, kept[n]) for n, m in blocks.items())


def test_scales_that_do_not_fit_are_named(scales_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no RepOpt blocks"):
        RepOptSGD(_model("repvgg"), scales=str(scales_file))
    part = load_scales(scales_file)
    dropped = sorted(part)[0]
    del part[dropped]
    save_scales(part, tmp_path / "part.pt")
    with pytest.raises(ValueError, match=f"no scales for 1 block.*{dropped}"):
        RepOptSGD(_model("repopt"), scales=str(tmp_path / "part.pt"))
    with pytest.raises(ValueError, match="scales file not found"):
        load_scales(tmp_path / "nope.pt")
    torch.save({"model": {}}, tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="not a RepOpt scales file"):
        load_scales(tmp_path / "ckpt.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="not a RepOpt scales file"):
        load_scales(tmp_path / "text.pt")
    with pytest.raises(ValueError, match="no hyper-search block scales"):
        extract_scales(_model("repvgg").state_dict())
