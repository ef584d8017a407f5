"""The split model: parts, shapes, and per-timestep execution equal to multi-step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional, neuron

from neucodex_ros.core.errors import ModelError
from neucodex_ros.core.exit_policy import Decision
from neucodex_ros.core.inference import EDGE_LAYERS, CloudRunner, EdgeRunner
from neucodex_ros.core.model import ModelConfig, SplitSNN
from neucodex_ros.core.training import direct_encoding


def random_model(seed: int = 0, **overrides) -> SplitSNN:
    torch.manual_seed(seed)
    model = SplitSNN(ModelConfig(**overrides))
    # Random batch-norm statistics so that neurons actually fire in eval mode.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1.0, 0.0)
            module.running_var.uniform_(0.2, 1.0)
            module.weight.data.uniform_(0.5, 3.0)
    return model.eval()


def test_parts_and_shapes() -> None:
    model = random_model()
    assert model.split_shape == (4, 7, 7)
    x = torch.rand(4, 3, 1, 28, 28)
    spikes = model.edge_forward(x)
    assert spikes.shape == (4, 3, 4, 7, 7)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}  # the encoder ends in a LIF neuron
    assert model.cloud_forward(spikes).shape == (4, 3, 10)
    assert any(isinstance(m, neuron.LIFNode) for m in model.encoder)
    assert any(isinstance(m, neuron.LIFNode) for m in model.decoder)


def test_per_timestep_parts_equal_the_whole_model_multi_step() -> None:
    model = random_model()
    frames = torch.rand(5, 1, 28, 28) * 2
    with torch.no_grad():
        reference = model(direct_encoding(frames, 4))  # [T, N, K], all timesteps at once
        functional.reset_net(model)
    edge, cloud = EdgeRunner(model), CloudRunner(model)
    sent = []
    for n, frame in enumerate(frames):
        edge.start(frame.numpy())
        sample = cloud.new_sample(alpha=1.0, num_timesteps=4)
        for t in range(4):
            spikes = edge.step()
            sent.append(spikes)
            cloud.step(sample, spikes)
            mean = sample.early_exit._logit_sum / (t + 1)
            expected = reference[:t + 1, n].double().mean(0).numpy()
            np.testing.assert_allclose(mean, expected, rtol=1e-6, atol=1e-6)
    assert 0.02 < np.mean(sent) < 0.98  # real spike traffic, not all-zero or all-one tensors


def spikes_and_answers_alone(model: SplitSNN, count: int
                             ) -> tuple[list[list[np.ndarray]], list[list[Decision | None]]]:
    """Edge spikes (4 timesteps) of `count` random frames; the cloud's decisions on each alone.

    alpha 1, so each sample is decided at T; the decisions are those after every timestep.
    """
    frames = (torch.rand(count, 1, 28, 28) * 2).numpy()
    edge, cloud = EdgeRunner(model), CloudRunner(model)
    spikes = []
    for frame in frames:
        edge.start(frame)
        spikes.append([edge.step() for _ in range(4)])
    alone = []
    for sample_spikes in spikes:
        sample = cloud.new_sample(alpha=1.0, num_timesteps=4)
        alone.append([cloud.step(sample, s) for s in sample_spikes])
    return spikes, alone


def test_interleaved_samples_keep_their_own_state() -> None:
    model = random_model(1)
    cloud = CloudRunner(model)
    spikes, decisions = spikes_and_answers_alone(model, 2)
    alone = [sample[-1].probabilities for sample in decisions]
    a, b = (cloud.new_sample(alpha=1.0, num_timesteps=4) for _ in range(2))
    for t in range(4):
        decision_a = cloud.step(a, spikes[0][t])
        decision_b = cloud.step(b, spikes[1][t])
    np.testing.assert_array_equal(decision_a.probabilities, alone[0])
    np.testing.assert_array_equal(decision_b.probabilities, alone[1])


def test_a_neuron_that_does_not_exist_is_a_model_error() -> None:
    with pytest.raises(ModelError, match='unknown neuron'):
        SplitSNN(ModelConfig(neuron='izhikevich'))


def test_config_round_trip_and_errors() -> None:
    config = ModelConfig(bottleneck_channels=2, num_timesteps=6)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ModelError, match='unknown model config keys'):
        ModelConfig.from_dict({'nonsense': 1})
    with pytest.raises(ModelError, match='unknown backbone'):
        SplitSNN(ModelConfig(backbone='nope'))
    with pytest.raises(ModelError, match='split_after'):
        SplitSNN(ModelConfig(split_after=3))


@pytest.mark.parametrize('layers', EDGE_LAYERS)
def test_every_edge_layer_choice_gives_the_whole_models_logits(layers: str) -> None:
    """split: spikes → decoder + tail; head: features → encoder + decoder + tail; all: alone."""
    model = random_model(2)
    frames = torch.rand(3, 1, 28, 28) * 2
    with torch.no_grad():
        reference = model(direct_encoding(frames, 4))
        functional.reset_net(model)
    edge = EdgeRunner(model, layers)
    cloud = CloudRunner(model, from_head=layers == 'head')
    for n, frame in enumerate(frames):
        edge.start(frame.numpy())
        sample = cloud.new_sample(alpha=1.0, num_timesteps=4)
        for t in range(4):
            out = edge.step()
            assert out.shape == edge.output_shape
            if layers == 'all':
                np.testing.assert_allclose(out, reference[t, n].numpy(), rtol=1e-5, atol=1e-5)
            else:
                cloud.step(sample, out)
                np.testing.assert_allclose(sample.early_exit._logit_sum / (t + 1),
                                           reference[:t + 1, n].double().mean(0).numpy(),
                                           rtol=1e-6, atol=1e-6)


def test_runners_sharing_a_model_never_share_a_samples_neurons() -> None:
    """A local sample run whole while a split one is in flight leaves the split one's state.

    The edge's two runners share the model's modules (one copy of the weights); each sample's
    membrane potentials travel with its runner, as the cloud's travel with each sample.
    """
    model = random_model(3)
    frames = torch.rand(2, 1, 28, 28).numpy() * 2
    alone = EdgeRunner(model, 'split')
    alone.start(frames[0])
    expected = [alone.step() for _ in range(4)]
    split, local = EdgeRunner(model, 'split'), EdgeRunner(model, 'all')
    split.start(frames[0])
    got = [split.step(), split.step()]
    local.start(frames[1])
    for _ in range(4):
        local.step()
    got += [split.step(), split.step()]
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_array_equal(want, have)
    assert any(w.any() for w in expected[2:]), 'spikes after the interruption, to compare'


@pytest.mark.parametrize('neuron', ['lif', 'plif'])
def test_a_batch_of_samples_answers_as_each_alone(neuron: str) -> None:
    """step_batch: samples at different timesteps (one fresh) in one pass, exactly as alone.

    With parametric LIF neurons too: their learnt time constants are weights, not state.
    """
    model = random_model(3, neuron=neuron)
    if neuron == 'plif':  # (learnt time constants, different in every layer)
        for index, module in enumerate(m for m in model.modules() if hasattr(m, 'w')):
            module.w.data.fill_(-1.0 + 0.3 * index)
    cloud = CloudRunner(model)
    spikes, alone = spikes_and_answers_alone(model, 3)
    a, b, c = (cloud.new_sample(alpha=1.0, num_timesteps=4) for _ in range(3))
    cloud.step(a, spikes[0][0])  # a is one timestep ahead; b joins later, alone first
    cloud.step(a, spikes[0][1])
    cloud.step(b, spikes[1][0])
    batched = {0: [], 1: [], 2: []}
    for t in range(2):  # a at t + 2, b at t + 1, c (fresh) at t, in one pass each
        decisions = cloud.step_batch([a, b, c], [spikes[0][t + 2], spikes[1][t + 1],
                                                  spikes[2][t]])
        for n, decision in enumerate(decisions):
            batched[n].append(decision)
    assert batched[0][-1] is not None  # a ended at T
    np.testing.assert_allclose(batched[0][-1].probabilities, alone[0][-1].probabilities,
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b.early_exit._logit_sum,
                               cloud_logit_sum(cloud, spikes[1][:3]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c.early_exit._logit_sum,
                               cloud_logit_sum(cloud, spikes[2][:2]), rtol=1e-6, atol=1e-6)
    assert np.mean([np.mean(s) for s in spikes[2]]) > 0.02  # real spikes went in
    with pytest.raises(ValueError):
        cloud.step_batch([a], [])


def cloud_logit_sum(cloud: CloudRunner, spikes: list[np.ndarray]) -> np.ndarray:
    """A fresh sample's summed logits after these timesteps, fed one at a time."""
    sample = cloud.new_sample(alpha=1.0, num_timesteps=4)
    for s in spikes:
        cloud.step(sample, s)
    return sample.early_exit._logit_sum


@pytest.mark.parametrize('here', [1, 2, 3])
def test_a_cascade_escalated_after_k_timesteps_gives_the_cloud_the_splits_spikes(
        here: int) -> None:
    """A cascade escalated after k timesteps gives the cloud exactly the split's spikes.

    The whole network here for k timesteps, then the head and encoder only: the same spikes
    as the split at every timestep, and the cloud's logits on them are the whole network's.
    """
    model = random_model(3)
    frames = torch.rand(3, 1, 28, 28) * 2
    split, whole, cloud = EdgeRunner(model, 'split'), EdgeRunner(model, 'all'), CloudRunner(model)
    for frame in frames:
        split.start(frame.numpy())
        whole.start(frame.numpy())
        logits_here = [whole.step() for _ in range(here)]
        for _ in range(here, 4):
            whole.step_split()
        expected = [split.step() for _ in range(4)]
        assert len(whole.spikes) == 4 and 0.02 < np.mean(whole.spikes) < 0.98
        for mine, theirs in zip(whole.spikes, expected, strict=True):
            np.testing.assert_array_equal(mine, theirs)
        sample = cloud.new_sample(alpha=1.0, num_timesteps=4)
        for t, spikes in enumerate(whole.spikes[:here]):
            cloud.step(sample, spikes)
            np.testing.assert_allclose(sample.early_exit._logit_sum / (t + 1),
                                       np.mean(logits_here[:t + 1], axis=0), rtol=1e-5,
                                       atol=1e-5)
    with pytest.raises(RuntimeError, match='goes on from the whole network'):
        split.step_split()
