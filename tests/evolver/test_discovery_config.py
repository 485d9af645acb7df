"""RunConfig's discovery options by NEAT-AI's names: off by default (-1), a sample rate in (0, 1],
intervals of at least one generation, the same through JSON options and protobuf."""
from __future__ import annotations

import pytest

from neatai.evolver.config import ConfigError, EvolverConfig


def test_discovery_is_off_by_default_and_on_with_a_sample_rate():
    assert not EvolverConfig().discovery
    c = EvolverConfig.from_dict({"discoverySampleRate": 0.2, "discoveryInterval": 3, "discoveryPlateau": 4})
    assert c.discovery and (c.discovery_interval, c.discovery_plateau) == (3, 4)
    assert EvolverConfig.from_proto(c.to_proto()) == c == EvolverConfig.from_dict(c.to_dict())


@pytest.mark.parametrize("options, path", [
    ({"discoverySampleRate": 0}, "discoverySampleRate"),
    ({"discoverySampleRate": 1.5}, "discoverySampleRate"),
    ({"discoveryInterval": 0}, "discoveryInterval"),
    ({"discoveryPlateau": -2}, "discoveryPlateau"),
])
def test_bad_discovery_options_name_their_option(options, path):
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict(options)
    assert [p.path for p in e.value.problems] == [path]


def test_a_client_scored_run_cannot_ask_for_discovery():
    """Discovery records the creature on a dataset; a clientFitness run has none."""
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict({"discoverySampleRate": 0.2, "clientFitness": {"inputs": 2, "outputs": 1}})
    assert [p.path for p in e.value.problems] == ["discoverySampleRate"]
    assert EvolverConfig.from_dict({"clientFitness": {"inputs": 2, "outputs": 1}}).client_fitness
