"""The remedies for speckle and grid: VGG's border padding, jitter of the image under the
network, and the averaged iterates of Adam; each off by default, each what it says."""

import pytest
import torch
from torch.nn import functional as F

from painterly import Options
from painterly.controls.inputs import prepare_inputs
from painterly.engine import losses
from painterly.engine.objective import translate
from painterly.engine.optimize import IterateAverage, optimize
from painterly.engine.plan import resolve
from painterly.engine.session import Session
from painterly.errors import PainterlyError
from painterly.methods import gatys
from painterly.models.vgg import VGG19

pytestmark = pytest.mark.usefixtures("one_thread")


def _conv(state, padding, last="conv1_1"):
    image = torch.rand(1, 3, 12, 14, generator=torch.Generator().manual_seed(3))
    return VGG19(state, last, padding=padding)(image)[last]


# --- padding -----------------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["replicate", "reflect"])
def test_padding_changes_only_the_border_of_conv1_1(vgg_state, padding):
    zeros, other = _conv(vgg_state, "zeros"), _conv(vgg_state, padding)
    torch.testing.assert_close(other[..., 1:-1, 1:-1], zeros[..., 1:-1, 1:-1])
    for border in (other[..., 0, :] - zeros[..., 0, :], other[..., :, -1] - zeros[..., :, -1]):
        assert border.abs().amax() > 0.1


@pytest.mark.parametrize("padding", ["replicate", "reflect", "replicate1"])
def test_copying_padding_keeps_a_flat_image_flat_where_zeros_do_not(vgg_state, padding):
    flat = torch.full((1, 3, 10, 10), 0.3)

    def spread(padding):
        response = VGG19(vgg_state, "conv1_1", padding=padding)(flat)["conv1_1"]
        return (response - response[..., 5:6, 5:6]).abs().amax().item()

    assert spread(padding) < 1e-4
    assert spread("zeros") > 0.1


def test_replicate1_pads_only_the_first_convolution(vgg_state):
    flat = torch.full((1, 3, 10, 10), 0.3)

    def border(padding):
        response = VGG19(vgg_state, "conv1_2", padding=padding)(flat)["conv1_2"]
        return (response[..., 0, :] - response[..., 5:6, 5]).abs().amax().item()

    assert border("replicate") < 1e-4
    assert border("replicate1") > 0.1  # conv1_2 pads with zeros again
    torch.testing.assert_close(_conv(vgg_state, "replicate1"), _conv(vgg_state, "replicate"))


@pytest.mark.parametrize("padding", ["replicate", "reflect"])
def test_copying_padding_pads_the_rgb_image_whatever_the_preprocessing(vgg_state, padding):
    """The 1×1 preprocess (Caffe's BGR, mean, scale) is per pixel, so padding after it is
    padding the RGB image itself."""
    net = VGG19(vgg_state, "conv1_1", padding=padding)
    image = torch.rand(1, 3, 9, 11, generator=torch.Generator().manual_seed(5))
    padded = net.preprocess(F.pad(image, (1, 1, 1, 1), mode=padding))
    conv = net.convs["conv1_1"]
    by_hand = F.relu(F.conv2d(padded, conv.weight, conv.bias))
    torch.testing.assert_close(net(image)["conv1_1"], by_hand)


def _plan(content, style, **values):
    options = Options.build(precision="fp32", device="cpu", **values)
    inputs = prepare_inputs(content, [style], options)
    return resolve(options, inputs, gatys.network(options)), inputs


def test_the_optimisations_encoder_uses_the_padding_option(content_image, style_image):
    plan, inputs = _plan(content_image, style_image, size=32, iterations=1, padding="reflect")
    encoder = Session(plan, inputs).encoder
    assert {conv.padding_mode for conv in encoder.convs.values()} == {"reflect"}
    plan, inputs = _plan(content_image, style_image, size=32, iterations=1, padding="zeros")
    assert {c.padding_mode for c in Session(plan, inputs).encoder.convs.values()} == {"zeros"}
    # The default, replicate1: conv1_1 replicates, every later convolution pads with zeros.
    plan, inputs = _plan(content_image, style_image, size=32, iterations=1)
    modes = {n: c.padding_mode for n, c in Session(plan, inputs).encoder.convs.items()}
    assert modes.pop("conv1_1") == "replicate" and set(modes.values()) == {"zeros"}


# --- jitter ------------------------------------------------------------------------------


def test_translate_moves_the_image_and_replicates_the_edge_it_leaves():
    image = torch.arange(20.0).reshape(1, 1, 4, 5)
    moved = translate(image, 1, -2, 3)
    assert moved.shape == image.shape
    torch.testing.assert_close(moved[..., 1:, :3], image[..., :3, 2:])
    torch.testing.assert_close(moved[..., 0, :3], image[..., 0, 2:])  # top row repeated
    torch.testing.assert_close(moved[..., 1:, 3:], image[..., :3, 4:].expand(-1, -1, -1, 2))
    assert torch.equal(translate(image, 0, 0, 3), image)


def _objective(content, style, **values):
    plan, inputs = _plan(content, style, size=48, iterations=1, **values)
    session = Session(plan, inputs)
    stage = plan.stages[0]
    return session.objective(stage, plan.options), session.targets(stage)


def test_jitter_0_is_the_paper_objective_bit_for_bit(content_image, style_image):
    objective, targets = _objective(content_image, style_image)
    image = torch.rand_like(targets.content_image)
    terms = objective(image)
    options, convention = objective.options, objective.convention
    features = objective.encoder(image, options.layers)
    content = convention.content(features["conv4_2"], targets.content["conv4_2"])
    style = losses.style_loss(
        features,
        targets.styles[0].grams,
        options.style_layers,
        convention.style_layer,
        image.shape[2] * image.shape[3],
    )
    assert torch.equal(terms["content"], options.content_weight * content)
    assert torch.equal(terms["style"], options.style_weight * style)


def test_jitter_is_reproducible_for_a_seed_and_differs_for_another(content_image, style_image):
    def run(**values):
        return gatys.run(
            content_image,
            [style_image],
            Options.build(
                size=32, iterations=4, optimizer="adam", init="content", precision="fp32", **values
            ),
        ).image

    first = run(jitter=4, seed=1)
    assert first.tobytes() == run(jitter=4, seed=1).tobytes()
    assert first.tobytes() != run(jitter=4, seed=2).tobytes()
    # From the content, the seed reaches the result only through the jitter.
    assert run(seed=1).tobytes() == run(seed=2).tobytes()


def test_with_jitter_the_content_term_compares_like_with_like(content_image, style_image):
    objective, targets = _objective(content_image, style_image, jitter=8, seed=7)
    offsets = [objective(targets.content_image)["content"].item() for _ in range(4)]
    assert offsets == [0.0] * 4
    # The control: the moved image against the unmoved content is far from 0.
    moved = translate(targets.content_image, 5, -6, 8)
    unmoved = objective.content_loss(objective.encoder(moved, ["conv4_2"]))
    assert unmoved.item() > 1e-3


# --- averaged iterates -------------------------------------------------------------------


def test_the_average_of_a_constant_is_that_constant():
    average = IterateAverage(0.9)
    constant = torch.full((1, 3, 4, 4), 0.37)
    for _ in range(50):
        average.update(constant)
        torch.testing.assert_close(average.value, constant)


def test_bias_correction_makes_the_first_average_the_first_iterate():
    average, x0, x1 = IterateAverage(0.99), torch.tensor([2.0]), torch.tensor([5.0])
    average.update(x0)
    torch.testing.assert_close(average.value, x0)
    average.update(x1)
    # (β(1 − β) x0 + (1 − β) x1) / (1 − β²) = (β x0 + x1) / (1 + β)
    torch.testing.assert_close(average.value, (0.99 * x0 + x1) / 1.99)


def test_an_adam_run_with_average_returns_the_average_of_its_iterates(content_image, style_image):
    objective, targets = _objective(content_image, style_image)
    start = torch.rand_like(targets.content_image)
    steps, decay = 6, 0.7
    iterates = []

    def recorded(x):
        iterates.append(x.detach().clone())
        return objective(x)

    # One more step than the run below: its last evaluation sees the run's final iterate.
    optimize(start, recorded, optimizer="adam", iterations=steps + 1, learning_rate=0.05)
    seen = []
    outcome = optimize(
        start,
        objective,
        optimizer="adam",
        iterations=steps,
        learning_rate=0.05,
        average=decay,
        callback=seen.append,
        render=lambda x: x,
    )
    weights = [(1 - decay) * decay ** (steps - i) for i in range(steps + 1)]
    expected = sum(w * x for w, x in zip(weights, iterates, strict=True)) / sum(weights)
    torch.testing.assert_close(outcome.image, expected)
    assert (outcome.image - iterates[-1]).abs().amax() > 1e-3
    torch.testing.assert_close(seen[0].image(), start)  # previews show the average too
    with torch.no_grad():
        assert outcome.losses["total"] == pytest.approx(objective(expected)["total"].item())


def test_the_average_is_what_the_next_stage_starts_from(content_image, style_image):
    # finish_tv 0: a first stage run alone is a last stage, and would get the last stage's TV.
    plan, inputs = _plan(
        content_image, style_image, scales="32:3,48:2", optimizer="adam", average=0.9,
        finish_tv=0,
    )  # fmt: skip
    session, options = Session(plan, inputs), plan.options
    first = session.run(options, stages=plan.stages[:1]).image
    starts = []
    original = session.start

    def start(stage, options, previous=None):
        starts.append(previous)
        return original(stage, options, previous)

    session.start = start
    session.run(options)
    torch.testing.assert_close(starts[1], first)


# --- options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"padding": "circular"}, "padding must be one of zeros, replicate, reflect"),
        ({"jitter": -1}, "jitter must be a whole number ≥ 0"),
        ({"jitter": 65}, "jitter must be a whole number ≤ 64"),
        ({"jitter": 1.5}, "jitter must be a whole number"),
        ({"average": 1, "optimizer": "adam"}, "average must be at most 0.9999"),
        ({"average": -0.5, "optimizer": "adam"}, "average must be at least 0"),
        ({"average": 0.99}, "--average smooths the noise of Adam's steps"),
        ({"jitter": 4, "masks": [("m.png", "s.png")]}, "--jitter moves the image"),
    ],
)
def test_remedy_options_are_refused_in_one_sentence(values, message):
    with pytest.raises(PainterlyError) as caught:
        Options.build(**values)
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text and text.count(". ") == 0


def test_jitter_and_average_are_off_by_default_padding_is_replicate1_and_all_read_from_text():
    default = Options()
    assert (default.padding, default.jitter, default.average) == ("replicate1", 0, 0.0)
    paper = Options.build(preset="gatys2016")
    assert (paper.padding, paper.jitter, paper.average) == ("zeros", 0, 0.0)
    given = Options.build(padding=" Replicate1 ", jitter="8", average="0.99", optimizer="adam")
    assert (given.padding, given.jitter, given.average) == ("replicate1", 8, 0.99)


def test_lbfgs_with_jitter_spends_its_whole_budget(content_image, style_image):
    """A jittered objective turns L-BFGS's direction uphill now and then, which ends its
    round; the loop starts a fresh one rather than taking that for convergence."""
    options = Options.build(size=32, iterations=40, jitter=8, precision="fp32", device="cpu")
    assert gatys.run(content_image, [style_image], options).iterations == 40
