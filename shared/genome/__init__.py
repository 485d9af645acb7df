"""Genome operations on creatures, shared by every service that breeds them (the evolver, a
future discovery service): NEAT-AI's mutation operators, crossover, innovation numbers."""
