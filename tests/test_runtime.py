"""Precision, device and memory settings: bf16 convolutions give the fp32 loss within 2 %; the
memory check counts what each optimiser keeps."""

import pytest
import torch

from painterly import Options
from painterly.controls.inputs import prepare_inputs
from painterly.engine import runtime
from painterly.engine.optimize import history_pairs
from painterly.engine.plan import resolve
from painterly.engine.runtime import autocast, check_fits, optimization_bytes, resolve_precision
from painterly.engine.session import Session
from painterly.errors import PainterlyError
from painterly.io.images import to_tensor
from painterly.methods import gatys


def test_explicit_precisions_resolve_to_their_dtype_whatever_the_cpu(monkeypatch):
    cpu = torch.device("cpu")
    for native in (False, True):
        monkeypatch.setattr(runtime, "cpu_has_bf16", lambda native=native: native)
        assert resolve_precision("fp32", cpu) is torch.float32
        assert resolve_precision("bf16", cpu) is torch.bfloat16


def test_auto_precision_takes_bf16_only_where_the_cpu_has_it(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", cpu) is torch.bfloat16
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", cpu) is torch.float32


@pytest.mark.parametrize(
    ("flags", "native"),
    [("fpu avx2 avx512f avx512_vnni", False), ("avx2 avx512_bf16", True), ("sse amx_bf16", True)],
)
def test_the_bf16_probe_reads_the_cpu_flags(flags, native):
    text = f"processor\t: 0\nmodel name\t: amx_bf16 in a name is no flag\nflags\t\t: {flags}\n"
    assert runtime.native_bf16(text) is native


def test_bf16_autocast_really_lowers_the_convolution_precision():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    with autocast(torch.device("cpu"), torch.bfloat16):
        assert conv(x).dtype is torch.bfloat16
    with autocast(torch.device("cpu"), torch.float32):
        assert conv(x).dtype is torch.float32


def test_bf16_objective_matches_fp32_loss_and_gradient(content_image, style_image):
    options = Options(size=48)
    small = content_image.resize((48, 36))
    image = (to_tensor(small) * 0.7 + 0.15).requires_grad_(True)
    results = {}
    for dtype in (torch.float32, torch.bfloat16):
        image.grad = None
        inputs = prepare_inputs(small, [style_image], options)
        precision = options.replace(precision="bf16" if dtype is torch.bfloat16 else "fp32")
        plan = resolve(precision, inputs, gatys.network(options))
        assert plan.dtype is dtype
        objective = Session(plan, inputs).objective(plan.stages[0], options)
        assert objective.targets.content_image.shape == image.shape
        terms = objective(image)
        terms["total"].backward()
        results[dtype] = (terms, image.grad.clone())
    (t32, g32), (t16, g16) = results[torch.float32], results[torch.bfloat16]
    for name in ("content", "style", "total"):
        assert t16[name].dtype is torch.float32
        assert t16[name].item() == pytest.approx(t32[name].item(), rel=0.02)
    assert torch.nn.functional.cosine_similarity(g16.flatten(), g32.flatten(), dim=0) > 0.99
    assert not torch.equal(g16, g32)  # the bf16 path was really taken


def test_precision_option_is_validated():
    from painterly.errors import PainterlyError

    assert Options(precision="BF16").precision == "bf16"
    with pytest.raises(PainterlyError, match="precision must be one of"):
        Options(precision="fp8")


def test_the_memory_check_counts_lbfgs_history_but_only_adams_two_moments(monkeypatch):
    lbfgs = optimization_bytes(768, 1024, "conv5_1", history_pairs("lbfgs"))
    adam = optimization_bytes(768, 1024, "conv5_1", history_pairs("adam"))
    # 20 pairs against one: 38 image-sized fp32 vectors apart.
    assert lbfgs - adam == 4 * 38 * 3 * 768 * 1024
    monkeypatch.setattr(runtime, "available_bytes", lambda device: (lbfgs + adam) // 2)
    cpu = torch.device("cpu")
    advice = "the largest size that fits is about --size {:.0f}".format
    check_fits((1024, 768), (16, 16), "conv5_1", history_pairs("adam"), cpu, advice)
    with pytest.raises(PainterlyError, match="largest size that fits is about --size 1$"):
        check_fits((1024, 768), (16, 16), "conv5_1", history_pairs("lbfgs"), cpu, advice)
