"""The evolver: NEAT on NEAT-AI creatures (config, operators, crossover, distance, species, the
generation loop) and the service around it."""
