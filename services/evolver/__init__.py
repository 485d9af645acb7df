"""The evolver: NEAT on NEAT-AI creatures (config, distance, species, the generation loop, runs,
checkpoints, islands) and the service around it. The genome operators it breeds with are
`neatai.genome`; its evaluator pool client is `neatai.evaluator_pool`."""
